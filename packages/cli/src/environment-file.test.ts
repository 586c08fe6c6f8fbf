import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigFileError, parseEnvironmentText } from './config-file';
import { createRecordingIo } from './io';
import { runCli } from './main';

const seed = Number(process.env.CAPSULE_TEST_SEED ?? 20_261_205);
const dir = mkdtempSync(join(tmpdir(), 'capsule-env-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('environment files (the units’ EnvironmentFile, read by check-config --env-file)', () => {
  it('reads KEY=VALUE lines, comments, blanks, export and quotes', () => {
    const text = [
      '# the engine password',
      '; also a comment',
      '',
      'CAPSULE_ENGINE_PASSWORD=s3cret=with=equals',
      'export A="double quoted"',
      "B='single'",
      '  C=  ',
    ].join('\n');
    expect(parseEnvironmentText('e.env', text)).toEqual({
      CAPSULE_ENGINE_PASSWORD: 's3cret=with=equals',
      A: 'double quoted',
      B: 'single',
      C: '',
    });
  });

  it('reports every line that is not KEY=VALUE, with its line, and guesses nothing', () => {
    let error: unknown;
    try {
      parseEnvironmentText('e.env', 'OK=1\nno equals sign\n1BAD=2\nGOOD=3\n');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigFileError);
    expect((error as ConfigFileError).problems.map((p) => p.line)).toEqual([2, 3]);
    expect((error as ConfigFileError).message).toContain('e.env:2:1: is not KEY=VALUE');
  });

  it('never throws anything but ConfigFileError on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        try {
          const variables = parseEnvironmentText('f.env', text);
          for (const key of Object.keys(variables)) expect(key).toMatch(/^[A-Za-z_][A-Za-z0-9_]*$/);
        } catch (error) {
          expect(error).toBeInstanceOf(ConfigFileError);
        }
      }),
      { seed, numRuns: 500 },
    );
  });

  it('lets check-config see a password that lives only in the unit’s EnvironmentFile', async () => {
    const engineYaml = join(dir, 'engine.yaml');
    writeFileSync(
      engineYaml,
      'controller: {url: "http://127.0.0.1:8701", domain: net, username: engines}\nhostname: e1\nlisten: 0.0.0.0:7447\nlocator: 127.0.0.1:7447\n',
    );
    writeFileSync(join(dir, 'engine.env'), 'CAPSULE_ENGINE_PASSWORD=from-the-file\n');
    writeFileSync(join(dir, 'broken.env'), 'CAPSULE_ENGINE_PASSWORD from-the-file\n');

    const without = createRecordingIo({ cwd: dir });
    expect(await runCli(['engine', 'check-config', 'engine.yaml'], without)).toBe(1);
    expect(without.stderr()).toContain(
      'controller.password: is required here or in the CAPSULE_ENGINE_PASSWORD',
    );

    const withFile = createRecordingIo({ cwd: dir });
    expect(
      await runCli(['engine', 'check-config', 'engine.yaml', '--env-file', 'engine.env'], withFile),
      withFile.stderr(),
    ).toBe(0);
    expect(JSON.parse(withFile.stdout()).controller.password).toBe('***');
    expect(withFile.stdout()).not.toContain('from-the-file');

    const broken = createRecordingIo({ cwd: dir });
    expect(await runCli(['engine', 'check-config', 'engine.yaml', '--env-file', 'broken.env'], broken)).toBe(
      1,
    );
    expect(broken.stderr()).toContain('broken.env:1:1: is not KEY=VALUE');

    const missing = createRecordingIo({ cwd: dir });
    expect(await runCli(['engine', 'check-config', 'engine.yaml', '--env-file', 'nope.env'], missing)).toBe(
      1,
    );
    expect(missing.stderr()).toMatch(/cannot read .*nope\.env/);
  });

  it('does the same for the agent', async () => {
    writeFileSync(
      join(dir, 'agent.yaml'),
      'hostName: h1\ncontroller: http://127.0.0.1:8701\nuser: hosts\ndomain: acme\n',
    );
    writeFileSync(join(dir, 'agent.env'), 'CAPSULE_AGENT_PASSWORD=host-secret\n');
    const without = createRecordingIo({ cwd: dir });
    expect(await runCli(['agent', 'check-config', 'agent.yaml'], without)).toBe(1);
    const withFile = createRecordingIo({ cwd: dir });
    expect(
      await runCli(['agent', 'check-config', 'agent.yaml', '--env-file', 'agent.env'], withFile),
      withFile.stderr(),
    ).toBe(0);
    expect(withFile.stdout()).not.toContain('host-secret');
  });
});
