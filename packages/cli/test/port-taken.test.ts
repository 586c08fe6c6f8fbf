/**
 * A daemon whose port is taken stops with a non-zero exit code and says EADDRINUSE, so that a
 * supervisor sees the failure (it used to print the error and keep running). Real occupied ports:
 * a TCP server of this test holds them.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { isCI } from '@capsule/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = resolve(import.meta.dirname, '../../..');
const bundle = join(repo, 'packages/cli/bin/capsule.js');
const built = existsSync(join(repo, 'packages/cli/dist/capsule.js'));
if (!built && isCI) throw new Error('CI must build the CLI bundle before this test');

describe.skipIf(!built)('a daemon whose port is taken', () => {
  let root: string;
  let holder: Server;
  let taken: number;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'capsule-port-taken-'));
    holder = createServer();
    await new Promise<void>((done) => holder.listen(0, '127.0.0.1', done));
    taken = (holder.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise((done) => holder.close(done));
    rmSync(root, { recursive: true, force: true });
  });

  const controller = (dataDir: string, listen: string, southbound: string) =>
    spawnSync(
      process.execPath,
      [
        bundle,
        'controller',
        'start',
        '--data-dir',
        join(root, dataDir),
        '--listen',
        listen,
        '--southbound-listen',
        southbound,
      ],
      // The daemon must end on its own: the timeout is the failure this test catches.
      { encoding: 'utf8', timeout: 40_000, env: { ...process.env, CAPSULE_ADMIN_PASSWORD: 'port-taken-1' } },
    );

  it('controller, northbound port taken: EADDRINUSE and exit code 1', () => {
    const run = controller('north', `127.0.0.1:${taken}`, '127.0.0.1:0');
    expect(run.signal, 'the controller kept running').toBeNull();
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('CONTROLLER_LISTEN_FAILED');
    expect(run.stderr).toContain('EADDRINUSE');
    expect(run.stderr).toContain(`northbound listener cannot listen on 127.0.0.1:${taken}`);
  }, 60_000);

  it('controller, southbound port taken: EADDRINUSE and exit code 1', () => {
    const run = controller('south', '127.0.0.1:0', `127.0.0.1:${taken}`);
    expect(run.signal, 'the controller kept running').toBeNull();
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('EADDRINUSE');
    expect(run.stderr).toContain(`southbound listener cannot listen on 127.0.0.1:${taken}`);
  }, 60_000);
});
