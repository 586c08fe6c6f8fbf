import { AgentConfig } from '@capsule/agent';
import fc from 'fast-check';
import { Type } from 'typebox';
import { Value } from 'typebox/value';
import { describe, expect, it } from 'vitest';
import { ControllerConfigFile } from './commands/controller';
import { EngineConfigFile } from './commands/engine';
import {
  assertCheckableSchema,
  CONFIG_FILE_LIMIT_BYTES,
  ConfigFileError,
  checkConfigValue,
  closestWord,
  editDistance,
  parseConfigText,
  readConfigFile,
} from './config-file';

const seed = Number(process.env.CAPSULE_TEST_SEED ?? 20_260_601);

/** The problems of a text, or [] when it parses. */
function problemsOf(text: string, schema: unknown = AgentConfig) {
  try {
    parseConfigText(text, schema, { fileName: 'a.yaml' });
    return [];
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigFileError);
    return [...(error as ConfigFileError).problems];
  }
}

const agentBase = 'hostName: h.example\ncontroller: http://127.0.0.1:8701\nuser: u\npassword: p\ndomain: d\n';

describe('config files: every problem at once, with key path, line and "did you mean"', () => {
  it('reports a bad tun.mtu at tun.mtu (not "/tun must be string"), with its line and column', () => {
    const problems = problemsOf(`${agentBase}tun:\n  name: capsule0\n  mtu: big\n`);
    expect(problems).toEqual([
      { path: 'tun.mtu', message: "must be an integer in 1280..9000, got 'big'", line: 8, column: 8 },
    ]);
  });

  it('names an unknown key and the known key it is close to (not "schema is false")', () => {
    expect(problemsOf(`${agentBase}resolvr: off\n`)).toEqual([
      { path: 'resolvr', message: "unknown key (did you mean 'resolver'?)", line: 6, column: 1 },
    ]);
    // A transposition is one edit; case is ignored; nothing close → no guess.
    expect(problemsOf(`${agentBase}tun: {nmae: x}\n`)[0]?.message).toBe("unknown key (did you mean 'name'?)");
    expect(problemsOf(`${agentBase}colour: blue\n`)[0]?.message).toBe('unknown key');
  });

  it('names a removed key and what replaces it, at the key, among the other problems', () => {
    const removedKeys = { engines: 'ask the controller', neighbors: 'also the controller' };
    const problems = (text: string) => {
      try {
        parseConfigText(text, AgentConfig, { fileName: 'a.yaml', removedKeys });
        return [];
      } catch (error) {
        return [...(error as ConfigFileError).problems];
      }
    };
    expect(problems(`${agentBase}engines: [1.2.3.4:7447]\ncgaSec: 2\n`)).toEqual([
      { path: 'engines', message: 'was removed: ask the controller', line: 6, column: 1 },
      expect.objectContaining({ path: 'cgaSec', line: 7 }),
    ]);
    // Only at the top level, and only the names given: elsewhere an unknown key is still one.
    expect(problems(`${agentBase}tun: {engines: 1}\n`)[0]?.message).toBe('unknown key');
    expect(problems(`${agentBase}enginez: 1\n`)[0]?.message).toMatch(/^unknown key/);
    expect(problems(`${agentBase}constructor: 1\n`)[0]?.message).toMatch(/^unknown key/);
    // Without the option the key is an unknown key like any other.
    expect(problemsOf(`${agentBase}engines: []\n`)[0]?.message).toMatch(/^unknown key/);
  });

  it('lists every problem in file order, and a misspelt required key once', () => {
    const text = [
      'hostname: h.example', // misspelt hostName: one problem, not also "hostName is required"
      'controller: ftp://x',
      'user: u',
      'domain: d',
      'cgaSec: 2',
      'underlayTransport: natve',
      'locator: nowhere',
      'acl: {in: [3]}',
    ].join('\n');
    const problems = problemsOf(text);
    expect(problems.map((p) => `${p.line}:${p.column} ${p.path}: ${p.message}`)).toEqual([
      '1:1 password: is required',
      "1:1 hostname: unknown key (did you mean 'hostName'?)",
      "2:13 controller: must be the controller's southbound URL, http(s)://…, got 'ftp://x'",
      '5:9 cgaSec: must be 0 or 1 (Sec 2 needs about 2^32 SHA-1 hashes at first start: hours), got 2',
      "6:20 underlayTransport: must be 'native' or 'udp', got 'natve' (did you mean 'native'?)",
      '7:10 locator: must be "host:port", got \'nowhere\'',
      '8:12 acl.in[0]: must be a string, got 3',
    ]);
  });

  it('explains a union by the branch the value selects', () => {
    // tun is 'off' or a mapping: a string that is not 'off' is neither.
    expect(problemsOf(`${agentBase}tun: of\n`)[0]?.message).toBe(
      "must be 'off' or a mapping, got 'of' (did you mean 'off'?)",
    );
    // southboundTls is one of two mappings: the closer one explains.
    expect(problemsOf('southboundTls: {cert: a.pem}\n', ControllerConfigFile)).toEqual([
      { path: 'southboundTls.key', message: 'is required', line: 1, column: 16 },
    ]);
    expect(
      problemsOf('resolver: 127.0.0.1:99999\n'.replace('resolver', 'listen'), ControllerConfigFile)[0],
    ).toMatchObject({ path: 'listen', message: 'must be "host:port", got \'127.0.0.1:99999\'' });
  });

  it('reports YAML syntax errors with their line, and refuses hostile documents cleanly', () => {
    const syntax = problemsOf(`${agentBase}tun: [\n`);
    expect(syntax[0]?.message).toMatch(/^not valid YAML/);
    expect(syntax[0]?.line).toBeGreaterThanOrEqual(6);
    expect(problemsOf('hostName: a\nhostName: b\n')[0]?.message).toMatch(/unique/);
    // Billion laughs: aliases that would expand exponentially are refused, not expanded.
    const laughs = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 12; i += 1)
      laughs.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(', ')}]`,
      );
    const started = Date.now();
    expect(problemsOf(laughs.join('\n'))[0]?.message).toMatch(/alias/i);
    expect(Date.now() - started).toBeLessThan(2000);
    // Not a mapping at all.
    expect(problemsOf('- a list\n')).toEqual([
      { path: '', message: 'must be a mapping, got a list', line: 1, column: 1 },
    ]);
    expect(problemsOf('')[0]?.message).toBe('must be a mapping, got nothing');
    // Deep nesting is a value problem, not a stack overflow.
    expect(problemsOf(`${agentBase}acl: ${'['.repeat(500)}${']'.repeat(500)}\n`)[0]?.path).toBe('acl');
  });

  it('refuses a file larger than the limit before parsing it', async () => {
    const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'capsule-config-file-'));
    try {
      writeFileSync(join(dir, 'big.yaml'), `# ${'x'.repeat(CONFIG_FILE_LIMIT_BYTES)}\n`);
      expect(() => readConfigFile('big.yaml', AgentConfig, dir)).toThrow(/more than the 1048576/);
      expect(() => readConfigFile('missing.yaml', AgentConfig, dir)).toThrow(/cannot read/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('edit distance counts transpositions once and ignores case', () => {
    expect(editDistance('nmae', 'name')).toBe(1);
    expect(editDistance('hostname', 'hostName')).toBe(0);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(closestWord('listn', ['listen', 'locator'])).toBe('listen');
    expect(closestWord('zzz', ['listen'])).toBeUndefined();
  });

  it('the three schemas use only what the checker understands', () => {
    for (const schema of [AgentConfig, EngineConfigFile, ControllerConfigFile]) assertCheckableSchema(schema);
    expect(() =>
      assertCheckableSchema(Type.Object({ a: Type.String({ format: 'email', uniqueItems: true }) })),
    ).toThrow(/uniqueItems/);
  });

  it('agrees with TypeBox on which values are valid (generated configs, fixed seed)', () => {
    const valid = {
      agent: {
        hostName: 'h.example',
        controller: 'http://127.0.0.1:8701',
        user: 'u',
        password: 'p',
        domain: 'd',
        tun: { mtu: 1400, name: 'capsule0' },
        locator: '10.0.0.1:7447',
        cgaSec: 1,
        acl: { in: ['deny tcp port 22'] },
      },
      engine: {
        controller: { url: 'http://x:1', domain: 'd', username: 'u' },
        hostname: 'e1',
        tier: 'fast',
      },
      controller: {
        listen: '127.0.0.1:8700',
        southboundTls: { selfSigned: 'c.example' },
        bodyLimitBytes: 4096,
      },
    };
    const schemas = { agent: AgentConfig, engine: EngineConfigFile, controller: ControllerConfigFile };
    const leaf = fc.oneof(
      fc.constantFrom('off', 'native', 'fast', '127.0.0.1:1', 'h.example', '', 'x'.repeat(300), 'http://a:1'),
      fc.integer({ min: -5, max: 70_000 }),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.string(),
    );
    const value = fc.letrec<{ v: unknown }>((tie) => ({
      v: fc.oneof(
        { depthSize: 'small' },
        leaf,
        fc.array(tie('v'), { maxLength: 3 }),
        fc.dictionary(
          fc.constantFrom('mtu', 'name', 'peer', 'cost', 'tags', 'url', 'in', 'zzz', 'cert'),
          tie('v'),
          {
            maxKeys: 3,
          },
        ),
      ),
    })).v;
    for (const [name, schema] of Object.entries(schemas)) {
      const base = valid[name as keyof typeof valid] as Record<string, unknown>;
      expect(checkConfigValue(schema, base), name).toEqual([]);
      const keys = [...Object.keys((schema as { properties: object }).properties), 'bogus'];
      fc.assert(
        fc.property(fc.constantFrom(...keys), value, fc.boolean(), (key, replacement, drop) => {
          const candidate = { ...base };
          if (drop) delete candidate[key];
          else candidate[key] = replacement;
          const problems = checkConfigValue(schema, candidate);
          expect(
            problems.length === 0,
            `${name} ${JSON.stringify(candidate)}: ${JSON.stringify(problems)}`,
          ).toBe(Value.Check(schema, candidate));
        }),
        { seed, numRuns: 600 },
      );
    }
  });
});
