import type { LinkLayerDeps } from './link-layer';

/** The wall clock and Node's timers, as the link layer's Clock port (tests inject a manual one). */
export const systemClock: LinkLayerDeps['clock'] = {
  nowMs: () => Date.now(),
  setInterval(callback, ms) {
    const timer = setInterval(callback, ms);
    // Timers of a link layer must not keep a process alive on their own (the daemon's server does).
    timer.unref();
    return () => clearInterval(timer);
  },
};
