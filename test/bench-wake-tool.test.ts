/**
 * The wake bench's tools (bench/native/wake.cc and wake-addon.cc, built with g++ by the bench):
 * every echo it compares answers every datagram (the client matches each echo to its round), the
 * client's figures are ordered and counted, a client with no echo reports none answered, and the
 * bench refuses options it does not know before it builds or starts anything. Loopback only; g++
 * (to build the tools).
 */

import { execFileSync } from 'node:child_process';
import { canRun } from '@capsule/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWakeAddon, buildWakeTool, startWakeEcho, type Tool, wakeClient } from '../bench/native-tools';
import { run } from '../bench/wake.bench';

describe.skipIf(!canRun({ tools: ['g++'] }))('the wake bench tools', () => {
  let tool = '';
  let addon = '';
  const running: Tool[] = [];
  beforeAll(() => {
    tool = buildWakeTool();
    const built = buildWakeAddon();
    if ('why' in built) throw new Error(`the wake addon cannot be built here: ${built.why}`);
    addon = built.addon;
  }, 120_000);
  afterAll(() => {
    for (const t of running) t.stop();
  });

  it('each echo answers every datagram, and the client reports ordered figures', async () => {
    for (const mode of ['c', 'loop', 'thread', 'epoll', 'uv'] as const) {
      const { echo, port } = await startWakeEcho(mode, tool, addon);
      running.push(echo);
      expect(port, mode).toBeGreaterThan(0);
      const trips = wakeClient(tool, port, 200, 0);
      expect(trips, mode).toMatchObject({ rounds: 200, answered: 200 });
      expect(trips.p50, mode).toBeGreaterThan(0);
      expect(trips.p50, mode).toBeLessThanOrEqual(trips.p90);
      expect(trips.mean, mode).toBeGreaterThan(0);
    }
  }, 60_000);

  it('a client with no echo to answer it reports none answered', () => {
    // A port just bound and closed by an echo that exited: nobody there (ICMP port unreachable).
    const probe = execFileSync(process.execPath, [
      '-e',
      `const s = require('node:dgram').createSocket('udp4');
       s.bind(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); });`,
    ]);
    expect(wakeClient(tool, Number(String(probe).trim()), 3, 0)).toEqual({ rounds: 3, answered: 0 });
  }, 20_000);

  it('the bench refuses an option it does not know, or a count out of range, before it starts', async () => {
    await expect(run(['--rounds', '0'])).rejects.toThrow('--rounds takes a whole number 1..10000');
    await expect(run(['--pings=x'])).rejects.toThrow('--pings takes a whole number');
    await expect(run(['--rate', '5'])).rejects.toThrow('unknown option --rate');
  });

  it('the tool refuses a command line it does not know', () => {
    expect(() => execFileSync(tool, ['send', '1'], { stdio: 'pipe' })).toThrow(/usage: wake echo PORT/);
  });
});
