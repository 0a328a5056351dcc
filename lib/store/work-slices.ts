/** Long synchronous work cut into short slices, so that deposits and reads get the event loop between them. */

/** Resolves after other ready work (I/O callbacks, timers) has had its turn, and at least `milliseconds`. */
export const pause = (milliseconds = 0) => new Promise<void>((resolve) => setTimeout(resolve, milliseconds));

/** Longest run of synchronous work before yielding to deposits and reads: each step of a request can wait this long. */
const SLICE_MS = 2;

/** The clock of one run of slices: {@link yieldIfDue} pauses once the current slice has lasted `milliseconds`. */
export class WorkSlices {
  #began = performance.now();

  constructor(readonly milliseconds = SLICE_MS) {}

  /** Pauses for other work when the current slice has lasted its time; the next slice starts after it. */
  async yieldIfDue(): Promise<void> {
    if (performance.now() - this.#began < this.milliseconds) return;
    await pause();
    this.#began = performance.now();
  }
}
