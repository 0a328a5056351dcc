/** Structured logging: one JSON line per notable event. */

/** Logs `event` with its fields. */
export type Logger = (event: string, fields?: Record<string, unknown>) => void;

/** A logger writing JSON lines through `write` (stdout by default). */
export function jsonLogger(write: (line: string) => void = console.log): Logger {
  return (event, fields = {}) => write(JSON.stringify({ time: new Date().toISOString(), event, ...fields }));
}
