/**
 * Child process of fast-path.test.ts ("process.exit while the verifier thread works"): the engine
 * lab with its fast path, a burst of new flows (one type I packet each, so one signature each for
 * the verifier thread), and `process.exit(0)` from inside the pipeline's third request for a
 * result, while the thread still has the rest of the batch. Prints the thread's counters first.
 * Run: `node --import tsx test/engine/exit-while-verifying.ts`.
 */
import { PacketType } from '@capsule/wire';
import { buildPacket } from '../../packages/engine/test/harness';
import { route } from '../../packages/engine/test/programs';
import { authorize, identities, setUp } from './fast-path-lab';

const flows = 64;
const setup = await setUp(true);
const signatures = setup.fastPath!.signatures!;
const result = signatures.result.bind(signatures);
let asked = 0;
signatures.result = (key, message, signature) => {
  if (++asked === 3) {
    process.stdout.write(`${JSON.stringify(signatures.stats())}\n`);
    process.exit(0);
  }
  return result(key, message, signature);
};
const path = {
  creationTime: 0,
  hopIndex: 0,
  defaultEntry: 0,
  hops: [{ engineId: setup.engineId, entryIndex: 0, flags: 0 }],
};
for (let label = 1; label <= flows; label++) {
  const packet = buildPacket({
    source: identities.a.hostId,
    destination: identities.b.hostId,
    flowLabel: label,
    header: {
      nextHeader: 59,
      flags: 0,
      path,
      data: new Uint8Array(8),
      packetType: PacketType.I,
      auth: authorize(route),
      code: route,
    },
    payload: new Uint8Array(64),
  });
  setup.a.send(setup.linkA, packet, 0, packet.length);
}
// Not reached unless the pipeline never asked (a failure the parent reports).
setTimeout(() => {
  process.stdout.write('no result was asked for\n');
  process.exit(3);
}, 10_000).unref();
