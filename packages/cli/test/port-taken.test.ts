/**
 * A daemon (controller, engine, agent) whose port is taken stops with a non-zero exit code and says EADDRINUSE, so that a
 * supervisor sees the failure (it used to print the error and keep running). Real occupied ports:
 * a TCP server of this test holds them.
 */
import { spawnSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
  let udpHolder: Socket;
  let udpTaken: number;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'capsule-port-taken-'));
    holder = createServer();
    await new Promise<void>((done) => holder.listen(0, '127.0.0.1', done));
    taken = (holder.address() as { port: number }).port;
    udpHolder = createSocket('udp4');
    await new Promise<void>((done) => udpHolder.bind(0, '127.0.0.1', done));
    udpTaken = udpHolder.address().port;
  });
  afterAll(async () => {
    await new Promise((done) => holder.close(done));
    await new Promise<void>((done) => udpHolder.close(() => done()));
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

  const daemon = (kind: 'engine' | 'agent', config: string) => {
    const file = join(root, `${kind}.yaml`);
    writeFileSync(file, config);
    return spawnSync(process.execPath, [bundle, kind, 'start', '--config', file], {
      encoding: 'utf8',
      timeout: 40_000,
      cwd: root,
    });
  };

  it('engine, overlay UDP port taken: EADDRINUSE and exit code 1', () => {
    const run = daemon(
      'engine',
      `controller: {url: "http://127.0.0.1:1", domain: d, username: u, password: p}\nhostname: e\ndataDir: engine-data\nlisten: 127.0.0.1:${udpTaken}\nlogLevel: warn\n`,
    );
    expect(run.signal, 'the engine kept running').toBeNull();
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('UNDERLAY_BIND_FAILED');
    expect(run.stderr).toContain('EADDRINUSE');
  }, 60_000);

  it('agent, REST port taken: EADDRINUSE and exit code 1', () => {
    const run = daemon(
      'agent',
      `hostName: a\ncontroller: http://127.0.0.1:1\nuser: u\npassword: p\ndomain: d\ndataDir: agent-data\nlisten: 127.0.0.1:0\nrest: {socket: "off", tcp: "127.0.0.1:${taken}", tokenFile: "${join(root, 'agent.token')}"}\ncgaSec: 0\nlogLevel: warn\n`,
    );
    expect(run.signal, 'the agent kept running').toBeNull();
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('EADDRINUSE');
  }, 60_000);
});
