/**
 * The engine's ports: a clock with timers and a logger. The pipeline, the southbound side and the
 * engine node all take them injected (tests pass a manual clock and a silent or recording logger).
 */

/** A clock with timers (tests inject a manual one). */
export interface EngineClock {
  nowMs(): number;
  setInterval(callback: () => void, ms: number): () => void;
}

/** A pino-compatible logger. */
export interface EngineLogger {
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
}

/** The logger of an engine given none. */
export const silentLogger: EngineLogger = { debug() {}, info() {}, warn() {}, error() {} };
