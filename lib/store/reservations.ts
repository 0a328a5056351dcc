/** Deposits on their way to disk, counted per mailbox and in bytes, so concurrent ones cannot overshoot the caps. */
export class Reservations {
  readonly #perMailbox = new Map<string, number>();
  #bytes = 0;
  #count = 0;

  /** Bytes of all deposits in flight. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Deposits in flight. */
  get count(): number {
    return this.#count;
  }

  /** Deposits in flight to `mailbox`. */
  of(mailbox: string): number {
    return this.#perMailbox.get(mailbox) ?? 0;
  }

  /** Counts one deposit of `bytes` to `mailbox` until the returned release is called. */
  hold(mailbox: string, bytes: number): () => void {
    this.#perMailbox.set(mailbox, this.of(mailbox) + 1);
    this.#bytes += bytes;
    this.#count++;
    return () => {
      const left = this.of(mailbox) - 1;
      if (left) this.#perMailbox.set(mailbox, left);
      else this.#perMailbox.delete(mailbox);
      this.#bytes -= bytes;
      this.#count--;
    };
  }
}
