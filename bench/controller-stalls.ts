/**
 * Preloaded (`--import`) into the controller process by bench/controller.bench.ts: records every
 * event-loop stall (a 5 ms timer that fires more than 10 ms late) and every garbage collection
 * longer than 2 ms, each with its wall-clock time, and writes them as JSON to the file named by
 * CAPSULE_BENCH_STALLS_FILE when the process exits. Each stall carries the CPU the process used
 * meanwhile, the kernel's preemptions of it, and how long the main thread waited for a core. The bench counts those inside its read window.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { PerformanceObserver, performance } from 'node:perf_hooks';

const file = process.env.CAPSULE_BENCH_STALLS_FILE;
if (file) {
  const stalls: {
    atMs: number;
    ms: number;
    cpuMs: number;
    involuntarySwitches: number;
    runQueueMs: number;
  }[] = [];
  /** The main thread's time waiting for a core, from /proc/self/schedstat (ns; 0 elsewhere). */
  const runQueueNs = () => {
    try {
      return Number(readFileSync('/proc/self/schedstat', 'utf8').split(' ')[1]);
    } catch {
      return 0;
    }
  };
  let lastQueue = runQueueNs();
  const gcs: { atMs: number; ms: number; kind: number }[] = [];
  const periodMs = 5;
  let last = performance.now();
  let lastUsage = process.resourceUsage();
  const timer = setInterval(() => {
    const now = performance.now();
    const usage = process.resourceUsage();
    const queue = runQueueNs();
    const late = now - last - periodMs;
    // CPU the whole process (all threads) used meanwhile, and how often the kernel preempted it:
    // a stall with little CPU and preemptions is the machine, not the controller.
    if (late > 10)
      stalls.push({
        atMs: Date.now() - late,
        ms: late,
        cpuMs:
          (usage.userCPUTime + usage.systemCPUTime - lastUsage.userCPUTime - lastUsage.systemCPUTime) / 1000,
        involuntarySwitches: usage.involuntaryContextSwitches - lastUsage.involuntaryContextSwitches,
        runQueueMs: (queue - lastQueue) / 1e6,
      });
    last = now;
    lastUsage = usage;
    lastQueue = queue;
  }, periodMs);
  timer.unref();
  const origin = Date.now() - performance.now();
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries())
      if (entry.duration > 2)
        gcs.push({
          atMs: origin + entry.startTime,
          ms: entry.duration,
          kind: (entry as unknown as { detail?: { kind?: number } }).detail?.kind ?? 0,
        });
  });
  observer.observe({ entryTypes: ['gc'] });
  process.on('exit', () => writeFileSync(file, JSON.stringify({ stalls, gcs })));
}
