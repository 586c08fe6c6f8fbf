/**
 * Preloaded (`--import`) into the controller process by bench/controller.bench.ts: records every
 * event-loop stall (a 5 ms timer that fires more than 10 ms late) and every garbage collection
 * longer than 2 ms, each with its wall-clock time, and writes them as JSON to the file named by
 * CAPSULE_BENCH_STALLS_FILE when the process exits. The bench counts those inside its read window.
 */
import { writeFileSync } from 'node:fs';
import { PerformanceObserver, performance } from 'node:perf_hooks';

const file = process.env.CAPSULE_BENCH_STALLS_FILE;
if (file) {
  const stalls: { atMs: number; ms: number; cpuMs: number; involuntarySwitches: number }[] = [];
  const gcs: { atMs: number; ms: number; kind: number }[] = [];
  const periodMs = 5;
  let last = performance.now();
  let lastUsage = process.resourceUsage();
  const timer = setInterval(() => {
    const now = performance.now();
    const usage = process.resourceUsage();
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
      });
    last = now;
    lastUsage = usage;
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
