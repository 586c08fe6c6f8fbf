import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultTopologyYaml, engineLinks, parseTopology } from './topology';

describe('topology', () => {
  it('parses the default: one controller, three engines, two paths of different cost, four hosts', () => {
    const topology = parseTopology(defaultTopologyYaml);
    expect(topology.nodes.map((n) => `${n.kind}:${n.name}:${n.address}`)).toEqual([
      'controller:ctl:10.77.0.2',
      'engine:e1:10.77.0.3',
      'engine:e2:10.77.0.4',
      'engine:e3:10.77.0.5',
      'host:h1:10.77.0.6',
      'host:h2:10.77.0.7',
      'host:h3:10.77.0.8',
      'host:h4:10.77.0.9',
      'host:h5:10.77.0.10',
    ]);
    expect(topology.links.map((l) => `${l.a}-${l.z}:${l.cost}`)).toEqual(['e1-e2:10', 'e1-e3:1', 'e3-e2:1']);
    expect(topology.nodes.find((n) => n.name === 'h3')?.engines).toEqual(['e2']);
    expect(topology.nodes.find((n) => n.name === 'h3')?.overlayIpv4).toBe('100.100.0.3');
  });

  it('embeds exactly examples/lab/default.yaml (labels of the use cases included, no tags)', () => {
    const file = readFileSync(join(import.meta.dirname, '../../../examples/lab/default.yaml'), 'utf8');
    expect(parseTopology(defaultTopologyYaml)).toEqual(parseTopology(file));
    const settings = file
      .split('\n')
      .map((line) => line.replace(/#.*/, ''))
      .join('\n');
    expect(settings).not.toMatch(/\b(tags|linkTags):/);
    const topology = parseTopology(defaultTopologyYaml);
    expect(topology.nodes.find((n) => n.name === 'e3')?.labels).toEqual(['waypoint']);
    expect(topology.links.map((l) => l.labels)).toEqual([[], ['preferred'], ['preferred']]);
  });

  it('refuses malformed labels', () => {
    const bad = (labels: string) => () =>
      parseTopology(defaultTopologyYaml.replace('labels: [waypoint]', `labels: ${labels}`));
    for (const labels of ['waypoint', '[has space]', '[a, a]', `[${'x'.repeat(41)}]`, '[1]'])
      expect(bad(labels), labels).toThrow(/LAB_BAD_TOPOLOGY|labels|label/);
  });

  it('lists each engine’s declared links with their costs (the lab declares them at the controller)', () => {
    const topology = parseTopology(defaultTopologyYaml);
    expect(engineLinks(topology, 'e1')).toEqual([
      { peer: 'e2', cost: 10 },
      { peer: 'e3', cost: 1 },
      { peer: 'h1', cost: 1 },
      { peer: 'h2', cost: 1 },
    ]);
  });

  it('refuses tag bits (engines’ tags and linkTags, links’ tags), naming the key and what replaces them', () => {
    for (const [from, to, where] of [
      ['- { name: e1 }', '- { name: e1, tags: [3] }', 'engines[0].tags'],
      ['- { name: e1 }', '- { name: e1, linkTags: { h2: [5] } }', 'engines[0].linkTags'],
      ['between: [e1, e2], cost: 10', 'between: [e1, e2], cost: 10, tags: [3]', 'links[0].tags'],
      ['- { name: h1, engines: [e1] }', '- { name: h1, engines: [e1], tags: [1] }', 'hosts[0].tags'],
    ] as const) {
      const text = defaultTopologyYaml.replace(from, to);
      expect(text, to).not.toBe(defaultTopologyYaml);
      expect(() => parseTopology(text), to).toThrow(
        new RegExp(`${where.replace(/[[\].]/g, '\\$&')}: tag bits are no longer configured.*labels`),
      );
    }
  });

  it('keeps given addresses and assigns the rest around them', () => {
    const topology = parseTopology(
      'name: t\nunderlay: 10.9.8.0/28\ncontroller: { name: c }\nengines: [{ name: e, address: 10.9.8.2 }]\nhosts: [{ name: h, engines: [e] }]',
    );
    expect(topology.nodes.map((n) => n.address)).toEqual(['10.9.8.3', '10.9.8.2', '10.9.8.4']);
  });

  it('takes an engine flow capacity into the engine config', () => {
    const topology = parseTopology(
      'name: t\ncontroller: { name: c }\nengines: [{ name: e, flowCapacity: 16384 }, { name: f }]\nhosts: []',
    );
    expect(topology.nodes.map((n) => n.flowCapacity)).toEqual([undefined, 16384, undefined]);
  });

  const bad: [string, string, RegExp][] = [
    [
      'bad flow capacity',
      'controller: {name: c}\nengines: [{name: e, flowCapacity: 0}]\nhosts: []',
      /flow capacity/,
    ],
    ['not yaml', 'name: [', /not valid YAML/],
    [
      'unknown key',
      'name: t\ncontroller: {name: c}\nengines: [{name: e}]\nhosts: []\nextra: 1',
      /unknown key 'extra'/,
    ],
    ['no controller', 'engines: [{name: e}]\nhosts: []', /one controller/],
    [
      'long name',
      'name: abcdefghijklmnop\ncontroller: {name: c}\nengines: [{name: e}]\nhosts: []',
      /at most 12/,
    ],
    ['duplicate', 'controller: {name: c}\nengines: [{name: c}]\nhosts: []', /used twice/],
    [
      'unknown engine',
      'controller: {name: c}\nengines: [{name: e}]\nhosts: [{name: h, engines: [x]}]',
      /no engine named 'x'/,
    ],
    [
      'self link',
      'controller: {name: c}\nengines: [{name: e}]\nlinks: [{between: [e, e]}]\nhosts: []',
      /two different/,
    ],
    [
      'bad cost',
      'controller: {name: c}\nengines: [{name: e}, {name: f}]\nlinks: [{between: [e, f], cost: 0}]\nhosts: []',
      /cost/,
    ],
    [
      'outside',
      'underlay: 10.0.0.0/24\ncontroller: {name: c, address: 10.0.1.2}\nengines: [{name: e}]\nhosts: []',
      /inside/,
    ],
    [
      'full',
      'underlay: 10.0.0.0/28\ncontroller: {name: c}\nengines: [{name: a},{name: b},{name: d},{name: e},{name: f},{name: g},{name: i},{name: j},{name: k},{name: l},{name: m},{name: n},{name: o},{name: p}]\nhosts: []',
      /no room/,
    ],
  ];
  for (const [what, text, message] of bad)
    it(`rejects ${what} with LAB_BAD_TOPOLOGY`, () => {
      expect(() => parseTopology(text)).toThrow(message);
      try {
        parseTopology(text);
      } catch (error) {
        expect((error as { code: string }).code).toBe('LAB_BAD_TOPOLOGY');
      }
    });
});
