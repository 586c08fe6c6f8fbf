/**
 * `capsule engine start` and `capsule engine flows`: the config (examples/engine.yaml and bad
 * ones), a whole engine run against a real controller (registration, UDP overlay, HTTP port), and
 * the flows table of an engine carrying a real flow.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApiClient } from '@capsule/api';
import { createController, createPinnedFetch } from '@capsule/controller';
import { createEngineHttpServer } from '@capsule/engine';
import { createTlsCertificate, formatCertificateSha256 } from '@capsule/identity';
import { PacketType } from '@capsule/wire';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { startCluster, waitFor } from '../../../test/engine/cluster';
import { buildPacket } from '../../engine/test/harness';
import { route } from '../../engine/test/programs';
import { loadEngineConfig, runEngine } from '../src/commands/engine';
import { createRecordingIo, runCli } from '../src/main';

const dir = mkdtempSync(join(tmpdir(), 'capsule-cli-engine-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const examples = join(import.meta.dirname, '../../../examples');

describe('engine config', () => {
  it('examples/engine.yaml documents a valid config', () => {
    const io = createRecordingIo({ cwd: examples });
    const config = loadEngineConfig('engine.yaml', io);
    expect(config).toMatchObject({
      hostname: 'engine-1',
      controller: { url: 'https://127.0.0.1:8701', domain: 'net', username: 'engines' },
      listen: { host: '0.0.0.0', port: 7447 },
      metrics: { host: '127.0.0.1', port: 9447 },
      tier: 'fast',
    });
    expect(config.dataDir).toBe(join(examples, '..', '.capsule', 'engine-1'));
    expect(config.controller.caSha256).toHaveLength(32);
  });

  it('refuses unknown keys, a missing password and bad values with CLI_BAD_CONFIG', async () => {
    const cases: [string, RegExp][] = [
      [
        'hostname: e\ncontroller: {url: "http://x:1", domain: d, username: u, password: p}\nspeed: 3\n',
        /bad.yaml:3:1: speed: unknown key \(did you mean 'tags'\?\)|bad.yaml:3:1: speed: unknown key$/m,
      ],
      ['hostname: e\ncontroller: {url: "http://x:1", domain: d, username: u}\n', /CAPSULE_ENGINE_PASSWORD/],
      // controller.caSha256: https only, 32 bytes of hex, nothing else.
      [
        `hostname: e\ncontroller: {url: "http://x:1", domain: d, username: u, password: p, caSha256: ${'ab'.repeat(32)}}\n`,
        /must be https/,
      ],
      [
        `hostname: e\ncontroller: {url: "https://x:1", domain: d, username: u, password: p, caSha256: ${'ab'.repeat(31)}}\n`,
        /caSha256/,
      ],
      [
        `hostname: e\ncontroller: {url: "https://x:1", domain: d, username: u, password: p, caSha256: ${'zz'.repeat(32)}}\n`,
        /caSha256/,
      ],
      [
        `hostname: e\ncontroller: {url: "https://x:1", domain: d, username: u, password: p, caSha256: ${'a'.repeat(5000)}}\n`,
        /caSha256/,
      ],
      [
        'hostname: e\ncontroller: {url: "https://x:1", domain: d, username: u, password: p, caSha256: [1]}\n',
        /caSha256/,
      ],
      [
        'hostname: e\ncontroller: {url: "http://x:1", domain: d, username: u, password: p}\ntags: [1]\n',
        /bad.yaml:3:1: tags: was removed: an engine's tag bits are the controller's.*capsule label node/,
      ],
      [
        'hostname: e\ncontroller: {url: "http://x:1", domain: d, username: u, password: p}\nlinks: [{peer: e2, tags: [3]}]\n',
        /bad.yaml:3:1: links: was removed: an engine's links, their costs and labels are the controller's/,
      ],
      [
        'hostname: e\ncontroller: {url: "http://x:1", domain: d, username: u, password: p}\nlisten: nowhere\n',
        /listen/,
      ],
      ['- just a list\n', /mapping/],
    ];
    for (const [text, message] of cases) {
      writeFileSync(join(dir, 'bad.yaml'), text);
      const io = createRecordingIo({ cwd: dir });
      expect(await runCli(['engine', 'start', '--config', 'bad.yaml'], io)).toBe(1);
      expect(io.stderr()).toMatch(/error \[CLI_BAD_CONFIG\]/);
      expect(io.stderr()).toMatch(message);
    }
  });
});

describe('engine config: controller.caSha256', () => {
  it('pins the controller certificate: the pin in any text form becomes its 32 bytes', () => {
    for (const text of [
      'cd'.repeat(32),
      `sha256:${'CD'.repeat(32)}`,
      'cd'.repeat(32).match(/../g)!.join(':'),
    ]) {
      writeFileSync(
        join(dir, 'pinned.yaml'),
        `hostname: e\ncontroller: {url: "https://10.0.0.1:8701", domain: d, username: u, password: p, caSha256: "${text}"}\n`,
      );
      const config = loadEngineConfig('pinned.yaml', createRecordingIo({ cwd: dir }));
      expect(config.controller.caSha256).toEqual(new Uint8Array(32).fill(0xcd));
    }
  });
});

describe('engine config: removed keys', () => {
  it("refuses neighbors: with the key, its line and where an engine's links come from now", () => {
    writeFileSync(
      join(dir, 'neighbors.yaml'),
      'hostname: e\ncontroller: {url: "https://10.0.0.1:8701", domain: d, username: u, password: p}\nneighbors: [10.0.0.2:7447]\n',
    );
    expect(() => loadEngineConfig('neighbors.yaml', createRecordingIo({ cwd: dir }))).toThrow(
      /neighbors.yaml:3:1: neighbors: was removed: an engine's links are the controller's: declare them there \(capsule create link --between e1 e2/,
    );
  });
});

describe('engine config: controller.urls (replicas)', () => {
  const head = 'hostname: e\ncontroller:\n  domain: d\n  username: u\n  password: p\n';

  it('takes a list of https URLs (one pin for all), and url as a list of one', () => {
    writeFileSync(
      join(dir, 'replicas.yaml'),
      `${head}  caSha256: "${'cd'.repeat(32)}"\n  urls:\n    - https://10.0.0.1:8701\n    - https://10.0.0.2:8701\n`,
    );
    const config = loadEngineConfig('replicas.yaml', createRecordingIo({ cwd: dir }));
    expect(config.controller).toMatchObject({
      url: 'https://10.0.0.1:8701',
      urls: ['https://10.0.0.1:8701', 'https://10.0.0.2:8701'],
    });
    writeFileSync(join(dir, 'one.yaml'), `${head}  url: http://10.0.0.1:8701\n`);
    expect(loadEngineConfig('one.yaml', createRecordingIo({ cwd: dir })).controller.urls).toEqual([
      'http://10.0.0.1:8701',
    ]);
  });

  it('refuses bad lists with the key path and line of the offending URL', async () => {
    const cases: [string, RegExp][] = [
      [`${head}  urls: []\n`, /bad\.yaml:6:\d+: controller\.urls: must name at least one controller/],
      [
        `${head}  urls:\n    - https://a:8701\n    - https://a:8701/\n`,
        /bad\.yaml:8:\d+: controller\.urls\[1\]: repeats controller URL \[0\] \(https:\/\/a:8701\)/,
      ],
      [
        `${head}  urls:\n    - https://a:8701\n    - http://b:8701\n`,
        /bad\.yaml:8:\d+: controller\.urls\[1\]: must be https/,
      ],
      [
        `${head}  insecureHttp: true\n  urls: [http://a:8701, "ftp://b"]\n`,
        /controller\.urls\[1\]: must be https:\/\/host:port, not ftp:/,
      ],
      [
        `${head}  urls: [${Array.from({ length: 17 }, (_, i) => `"https://c${i}:1"`).join(', ')}]\n`,
        /names 17 controllers; at most 16/,
      ],
      [
        `${head}  url: https://a:8701\n  urls: [https://b:8701]\n`,
        /controller\.urls: give url .* or urls .*, not both/,
      ],
      [`${head}`, /controller\.url: is required/],
    ];
    for (const [text, message] of cases) {
      writeFileSync(join(dir, 'bad.yaml'), text);
      const io = createRecordingIo({ cwd: dir });
      expect(await runCli(['engine', 'start', '--config', 'bad.yaml'], io), text).toBe(1);
      expect(io.stderr()).toMatch(/error \[CLI_BAD_CONFIG\]/);
      expect(io.stderr(), text).toMatch(message);
    }
  });
});

describe('engine start and flows', () => {
  it('runs an engine against a real controller: registers, listens, serves /metrics and flows', async () => {
    const cluster = await startCluster('udp');
    try {
      const config = `
controller:
  url: ${cluster.urls.southboundUrl}
  domain: net
  username: engines
hostname: cli-engine
dataDir: data
listen: 127.0.0.1:0
metrics: 127.0.0.1:0
`;
      writeFileSync(join(dir, 'engine.yaml'), config);
      const io = createRecordingIo({ cwd: dir, env: { CAPSULE_ENGINE_PASSWORD: 'node-password-1' } });
      let stop: () => void = () => {};
      const stopped = new Promise<void>((resolve) => {
        stop = resolve;
      });
      const running = runEngine(loadEngineConfig('engine.yaml', io), io, stopped);
      await waitFor(() => io.stdout().includes('engine id'), 'the engine to start', 30_000);
      const url = /http (http:\/\/[0-9.]+:\d+)/.exec(io.stdout())![1]!;
      const nodes = await cluster.admin.nodes.list();
      expect(nodes.items.find((n) => n.hostname === 'cli-engine')).toMatchObject({
        type: 'engine',
        status: 'registered',
      });
      const flows = createRecordingIo();
      expect(await runCli(['engine', 'flows', '--url', url], flows)).toBe(0);
      expect(flows.stdout()).toBe('no live flows\n');
      expect(await (await fetch(`${url}/metrics`)).text()).toContain('capsule_engine_live_flows 0');
      stop();
      await running;
      expect(io.stdout()).toContain('engine stopped');
    } finally {
      await cluster.stop();
    }
  });

  it('lists the live flows of an engine carrying a flow, as a table and as JSON', async () => {
    const cluster = await startCluster('memory');
    try {
      const a = await cluster.addNode('a', 'host');
      const b = await cluster.addNode('b', 'host');
      const e1 = await cluster.addNode('e1', 'engine');
      await cluster.connect(a, e1);
      await cluster.connect(e1, b);
      const admin = cluster.admin;
      const template = await admin.templates.create({
        name: 'route',
        domain: 'shop',
        image: {
          code: Buffer.from(route.machineCode).toString('base64'),
          entries: { route: 0 },
          dataSize: 8,
        },
        roles: [
          { name: 'client', entry: 'route' },
          { name: 'server', entry: 'route' },
        ],
      });
      const contract = await admin.contracts.create({
        name: 'web',
        domain: 'shop',
        templateId: template.id,
        roles: [
          { name: 'client', peer: 'server' },
          { name: 'server', peer: 'client' },
        ],
      });
      const service = await admin.services.create({
        name: 'app',
        domain: 'shop',
        grants: [{ contractId: contract.id, role: 'client' }],
      });
      const token = (await admin.serviceTokens.create({ serviceId: service.id })).token!;
      const client = await a.sb.registerEndpoint({ serviceToken: token, contract: 'web', role: 'client' });
      const auth = new Uint8Array(Buffer.from(client.authorization.signed, 'base64'));
      const packet = buildPacket({
        source: a.hostId,
        destination: b.hostId,
        flowLabel: 0xbeef,
        header: {
          nextHeader: 59,
          packetType: PacketType.I,
          flags: 0,
          auth,
          path: {
            creationTime: 0,
            hopIndex: 0,
            defaultEntry: 0,
            hops: [{ engineId: e1.engine!.engineId, entryIndex: 0, flags: 0 }],
          },
          code: route,
          data: new Uint8Array(8),
        },
      });
      a.linkLayer.send(a.linkIdTo(e1)!, packet, 0, packet.length);
      await waitFor(() => b.received.length === 1, 'the packet at b');
      const http = createEngineHttpServer({ host: '127.0.0.1', port: 0 }, { engine: e1.engine! });
      const url = await http.start();
      try {
        const table = createRecordingIo();
        expect(await runCli(['engine', 'flows', '--url', url], table)).toBe(0);
        expect(table.stdout()).toContain(a.hostIdText);
        expect(table.stdout()).toContain(String(0xbeef));
        expect(table.stdout()).toContain('DELIVER');
        expect(table.stdout()).toContain('1 flow');
        const json = createRecordingIo();
        expect(await runCli(['engine', 'flows', '--url', url, '--json'], json)).toBe(0);
        expect(JSON.parse(json.stdout())).toMatchObject([
          { flowLabel: 0xbeef, serial: client.authorization.serial, packets: 1 },
        ]);
      } finally {
        await http.stop();
      }
      const unreachable = createRecordingIo();
      expect(await runCli(['engine', 'flows', '--url', 'http://127.0.0.1:1'], unreachable)).toBe(1);
      expect(unreachable.stderr()).toMatch(/CLI_ENGINE_UNREACHABLE/);
    } finally {
      await cluster.stop();
    }
  });
});

describe('engine start against a controller on TLS, its certificate pinned', () => {
  it('registers with the right pin; with another it stops before logging in, naming both fingerprints', async () => {
    const certificate = await createTlsCertificate({ names: ['127.0.0.1'] });
    const tls = { cert: certificate.certificatePem, key: certificate.privateKeyPem };
    const controller = await createController(
      {
        store: join(dir, 'tls-controller.db'),
        listen: { host: '127.0.0.1', port: 0 },
        southboundListen: { host: '127.0.0.1', port: 0 },
        adminPassword: 'engine-tls-admin-1',
        sqliteSynchronous: 'NORMAL',
        northboundTls: tls,
        southboundTls: tls,
      },
      { logger: pino({ level: 'silent' }) },
    );
    const urls = await controller.start();
    try {
      const admin = createApiClient({
        baseUrl: urls.northboundUrl,
        fetch: createPinnedFetch(certificate.sha256),
      });
      await admin.login({ domain: 'default', username: 'admin', password: 'engine-tls-admin-1' });
      await admin.domains.create({ name: 'net', kind: 'infrastructure' });
      const zone = await admin.zones.create({ name: 'tls', netprefix: 'fd00:7:1::/64' });
      await admin.users.create({
        login: 'engines',
        domain: 'net',
        password: 'engine-tls-node-1',
        roles: ['engineOwner'],
        zoneId: zone.id,
      });
      const pin = formatCertificateSha256(certificate.sha256);
      const wrong = `${pin.slice(0, 63)}${pin.endsWith('0') ? '1' : '0'}`;
      const start = async (name: string, caSha256: string) => {
        writeFileSync(
          join(dir, `${name}.yaml`),
          `controller: {url: "${urls.southboundUrl}", domain: net, username: engines, caSha256: "${caSha256}"}\nhostname: ${name}\ndataDir: ${name}\nlisten: 127.0.0.1:0\nmetrics: 127.0.0.1:0\n`,
        );
        const io = createRecordingIo({ cwd: dir, env: { CAPSULE_ENGINE_PASSWORD: 'engine-tls-node-1' } });
        let stop: () => void = () => {};
        const stopped = new Promise<void>((resolve) => {
          stop = resolve;
        });
        return { io, stop, running: runEngine(loadEngineConfig(`${name}.yaml`, io), io, stopped) };
      };
      const refused = await start('tls-wrong', wrong);
      await expect(refused.running).rejects.toThrow(
        new RegExp(`presented certificate sha256 ${pin}, not the pinned ${wrong}`),
      );
      const pinned = await start('tls-right', pin);
      await waitFor(() => pinned.io.stdout().includes('engine id'), 'the pinned engine to start', 30_000);
      const nodes = await admin.nodes.list();
      expect(nodes.items.map((n) => [n.hostname, n.status])).toEqual([['tls-right', 'registered']]);
      pinned.stop();
      await pinned.running;
    } finally {
      await controller.stop();
    }
  }, 60_000);
});
