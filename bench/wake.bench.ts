/**
 * Waking a daemon: what one process crossing's wake-up costs when the datagram is read from a
 * callback on Node's loop (a uv_poll, as the engine's and the agent's fast paths read their socket
 * and TUN) against a thread of the same Node process blocked in recvfrom, a thread blocked in
 * epoll_wait (the readiness step libuv adds), a thread running a libuv loop of its own (libuv
 * without Node) and a C process blocked in recvfrom (bench/native/wake.cc, wake-addon.cc).
 *
 * A C client sends one 84-byte datagram to 127.0.0.1 and waits for its echo, `--pings` times 20 ms
 * apart (cold: the echo sleeps in between, as each daemon on a ping's path sleeps between pings
 * 20 ms apart) and 3,000 times back to back (warm); each round trip is the echo's wake-up and
 * work plus the client's, which is the same in every case, so the differences are the echo's.
 * `--rounds` rounds, the cases in a rotated order each round; per case the median (min–max) over
 * the rounds of each round's figure.
 */
import { loadavg } from 'node:os';
import {
  buildWakeAddon,
  buildWakeTool,
  startWakeEcho,
  type WakeMode,
  type WakeTrips,
  wakeClient,
} from './native-tools';
import { markdownTable, writePerformanceSection } from './report';

/** The ways the echo is woken, in the table's order. `mode`: wake-addon.cc's, or the C process. */
const cases = [
  { mode: 'c', title: 'C process, blocked in recvfrom (no Node)' },
  { mode: 'thread', title: 'Node process, a thread of its own blocked in recvfrom' },
  { mode: 'epoll', title: 'Node process, a thread of its own in epoll_wait, then recvfrom' },
  { mode: 'uv', title: 'Node process, a thread running a libuv loop of its own (uv_poll)' },
  { mode: 'loop', title: "Node process, a uv_poll on Node's loop (as the fast paths read)" },
] as const;

function options(argv: readonly string[]): { rounds: number; pings: number } {
  const parsed = { rounds: 3, pings: 300 };
  for (let i = 0; i < argv.length; i += 1) {
    const [name, inline] = argv[i]!.split('=', 2) as [string, string | undefined];
    const value = Number(inline ?? argv[++i]);
    if (name !== '--rounds' && name !== '--pings') throw new Error(`bench wake: unknown option ${name}`);
    if (!Number.isInteger(value) || value < 1 || value > 10_000)
      throw new Error(`bench wake: ${name} takes a whole number 1..10000`);
    parsed[name === '--rounds' ? 'rounds' : 'pings'] = value;
  }
  return parsed;
}

const median = (values: readonly number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const spread = (values: readonly number[], digits = 0) =>
  `${median(values).toFixed(digits)} (${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)})`;

export async function run(argv: readonly string[] = []): Promise<void> {
  const { rounds, pings } = options(argv);
  const built = buildWakeAddon();
  if ('why' in built) {
    process.stdout.write(`skipping bench wake: ${built.why}\n`);
    return;
  }
  const tool = buildWakeTool();
  const load = loadavg()[0]!.toFixed(2);
  const cold = new Map<WakeMode, WakeTrips[]>(cases.map(({ mode }) => [mode, []]));
  const warm = new Map<WakeMode, WakeTrips[]>(cases.map(({ mode }) => [mode, []]));
  for (let round = 0; round < rounds; round += 1) {
    const order = cases.map((_, i) => cases[(i + round) % cases.length]!);
    for (const { mode } of order) {
      const { echo, port } = await startWakeEcho(mode, tool, built.addon);
      try {
        const coldTrips = wakeClient(tool, port, pings, 20_000);
        const warmTrips = wakeClient(tool, port, 3000, 0);
        if (coldTrips.answered < pings * 0.99 || warmTrips.answered < 3000 * 0.99)
          throw new Error(
            `bench wake: the ${mode} echo answered ${coldTrips.answered}/${pings} and ${warmTrips.answered}/3000`,
          );
        cold.get(mode)!.push(coldTrips);
        warm.get(mode)!.push(warmTrips);
        process.stdout.write(
          `round ${round + 1} ${mode}: cold p50 ${coldTrips.p50.toFixed(1)} µs (mean ${coldTrips.mean.toFixed(1)}), warm p50 ${warmTrips.p50.toFixed(1)} µs\n`,
        );
      } finally {
        echo.stop();
      }
    }
  }
  // Per round, the cold p50 beside the thread blocked in recvfrom's of the same round.
  const overThread = (mode: WakeMode) =>
    cold.get(mode)!.map((trips: WakeTrips, i: number) => trips.p50 - cold.get('thread')![i]!.p50);
  const rows = cases.map(({ mode, title }) => [
    title,
    spread(
      cold.get(mode)!.map((t) => t.p50),
      1,
    ),
    spread(
      cold.get(mode)!.map((t) => t.mean),
      1,
    ),
    spread(
      cold.get(mode)!.map((t) => t.p90),
      1,
    ),
    mode === 'thread' ? '—' : spread(overThread(mode), 1),
    spread(
      warm.get(mode)!.map((t) => t.p50),
      1,
    ),
  ]);
  writePerformanceSection(
    'wake',
    "Waking a daemon: Node's loop against a thread of its own",
    'npm run bench -- wake',
    `Load average (1 min) at the start: ${load}. A C client sends one 84-byte datagram to an echo on
127.0.0.1 and waits for it to come back: ${pings} times 20 ms apart (cold: the echo sleeps between
them, as each daemon on a ping's path sleeps between pings 20 ms apart), then 3,000 times back to
back (warm). A round trip is the echo's wake-up and work and the client's; the client is the same
in every case, so the differences are the echo's: how its process is woken
(bench/native/wake.cc, wake-addon.cc). ${rounds} rounds, the cases in a rotated order each
round; median (min–max) over the rounds of each round's figure, µs.

${markdownTable(
  [
    'the echo',
    'cold round trip p50',
    'cold mean',
    'cold p90',
    'cold p50 over the thread in recvfrom (same round)',
    'warm round trip p50',
  ],
  rows,
)}`,
  );
}
