/** Structured logging: one JSON line per notable event. */

/** Logs `event` with its fields. */
export type Logger = (event: string, fields?: Record<string, unknown>) => void;

/** A logger writing JSON lines through `write` (stdout by default). */
export function jsonLogger(write: (line: string) => void = console.log): Logger {
  return (event, fields = {}) => write(JSON.stringify({ time: new Date().toISOString(), event, ...fields }));
}

/** Logs `event` unless a line with the same `key` went out less than an interval ago. */
export type ThrottledLogger = (key: string, event: string, fields?: Record<string, unknown>) => void;

/**
 * At most one line per `key` per `intervalSeconds` of `clock` (Unix seconds), so that a flood repeating
 * one event is not a flood of lines; the next line that goes out carries `suppressed`, the count left out.
 * Keys must come from a small fixed set (e.g. endpoints): one is remembered per key.
 */
export function throttledLogger(log: Logger, intervalSeconds: number, clock: () => number): ThrottledLogger {
  const lastLogged = new Map<string, { at: number; suppressed: number }>();
  return (key, event, fields = {}) => {
    const now = clock();
    const last = lastLogged.get(key);
    if (last && now - last.at < intervalSeconds) {
      last.suppressed++;
      return;
    }
    log(event, last?.suppressed ? { ...fields, suppressed: last.suppressed } : fields);
    lastLogged.set(key, { at: now, suppressed: 0 });
  };
}
