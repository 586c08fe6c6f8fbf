/**
 * The engine bench's native UDP tool (bench/native/udp-bench.cc, built with g++ by the bench):
 * what its sink counts is what was sent, per datagram and batched (UDP GSO runs, UDP_GRO
 * receives), directly and through its forwarder. Loopback only, 2,000 datagrams of 60–560 bytes:
 * well within the tool's 8 MiB socket buffers, so nothing may be lost. Root (for SO_RCVBUFFORCE:
 * the kernel's default limit holds a few hundred such datagrams) and g++ (to build the tool).
 */
import { unlinkSync } from 'node:fs';
import { canRun } from '@capsule/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildUdpBench, startProcess, type Tool, writeDatagramFile } from '../bench/native-tools';

/**
 * 2,000 datagrams whose lengths change in runs (some longer than 64, the tool's run limit, some
 * of one datagram, the last of a run shorter), so the batched sender makes runs of every shape.
 */
function datagrams(): Uint8Array[] {
  const out: Uint8Array[] = [];
  const runs = [1, 64, 65, 7, 200, 1, 1, 130, 3];
  let length = 60;
  while (out.length < 2000) {
    for (const run of runs) {
      for (let i = 0; i < run && out.length < 2000; i++)
        out.push(new Uint8Array(length).fill(out.length & 0xff));
      length = 60 + ((length * 7) % 500);
    }
  }
  return out;
}

describe.skipIf(!canRun({ root: true, tools: ['g++'] }))('the engine bench UDP tool', () => {
  let tool = '';
  let file = '';
  const running: Tool[] = [];
  beforeAll(() => {
    tool = buildUdpBench();
    file = writeDatagramFile('udp-tool-test', datagrams());
  });
  afterAll(() => {
    for (const t of running) t.stop();
    if (file) unlinkSync(file);
  });
  const start = async (args: string[]) => {
    const t = startProcess(tool, args);
    running.push(t);
    return { tool: t, port: (await t.next()).port! };
  };

  for (const mode of [[], ['batched']])
    it(`counts every datagram sent, ${mode.length ? 'batched' : 'one by one'}, directly and forwarded`, async () => {
      const sink = await start(['sink', '0', ...mode]);
      const forwarder = await start(['forward', String(sink.port), ...mode]);
      for (const to of [sink.port, forwarder.port]) {
        const blaster = startProcess(tool, ['blast', String(to), file, '1', ...mode]);
        expect((await blaster.next()).sent).toBe(2000);
        expect((await sink.tool.next()).count).toBe(2000);
      }
    });
});
