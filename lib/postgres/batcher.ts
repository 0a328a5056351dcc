/**
 * Grouping calls that arrive together into one database round trip (and one commit): the way the
 * embedded log groups fsyncs. Items go to lanes; each lane sends one batch at a time, made of what
 * queued in it meanwhile, so a batch forms while the one before it is on the wire.
 */

/** How a Batcher forms and sends its batches. */
export interface BatcherOptions<Item, Result> {
  /** Batches in flight at most, one per lane. */
  lanes: number;
  /** Items one batch carries at most. */
  maxItems: number;
  /** Sum of `weigh` one batch carries at most (a single heavier item still goes alone). */
  maxWeight?: number;
  weigh?(item: Item): number;
  /** The lane of an item (0 ≤ lane < lanes): items that contend in the database share a lane and so never race each other. */
  laneOf?(item: Item): number;
  /** Sends one batch; resolves with one result per item, in order. A rejection rejects every item of the batch. */
  send(items: Item[]): Promise<Result[]>;
}

interface Queued<Item, Result> {
  item: Item;
  resolve(result: Result): void;
  reject(error: unknown): void;
}

/** Batches items per lane; see the module comment. */
export class Batcher<Item, Result> {
  readonly #queues: Queued<Item, Result>[][];
  readonly #sending: boolean[];

  constructor(readonly options: BatcherOptions<Item, Result>) {
    this.#queues = Array.from({ length: options.lanes }, () => []);
    this.#sending = new Array(options.lanes).fill(false);
  }

  /** Queues `item`; resolves with its result once its batch is answered. */
  submit(item: Item): Promise<Result> {
    const lane = this.options.laneOf?.(item) ?? 0;
    return new Promise((resolve, reject) => {
      this.#queues[lane].push({ item, resolve, reject });
      this.#send(lane);
    });
  }

  /** Takes `item` out of its queue if its batch has not been sent; its promise then never settles. */
  withdraw(item: Item): void {
    const queue = this.#queues[this.options.laneOf?.(item) ?? 0];
    const at = queue.findIndex((queued) => queued.item === item);
    if (at >= 0) queue.splice(at, 1);
  }

  #send(lane: number): void {
    const queue = this.#queues[lane];
    if (this.#sending[lane] || queue.length === 0) return;
    const { maxItems, maxWeight = Infinity, weigh } = this.options;
    let count = 0;
    let weight = 0;
    while (count < queue.length && count < maxItems) {
      const next = weigh ? weigh(queue[count].item) : 0;
      if (count > 0 && weight + next > maxWeight) break;
      weight += next;
      count++;
    }
    const batch = queue.splice(0, count);
    this.#sending[lane] = true;
    const settle = () => {
      this.#sending[lane] = false;
      this.#send(lane);
    };
    this.options.send(batch.map((queued) => queued.item)).then((results) => {
      settle();
      batch.forEach((queued, i) => queued.resolve(results[i]));
    }, (error) => {
      settle();
      batch.forEach((queued) => queued.reject(error));
    });
  }
}

/** A lane for `key` out of `lanes` (FNV-1a of its characters): the same key, the same lane, on every instance. */
export function laneOfKey(key: string, lanes: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % lanes;
}
