/** Request counters, their Prometheus text rendering, and deposits/deliveries per hour for the status page. */
import { getOrAdd } from "./collections.ts";
import type { PostgresStoreStats } from "./postgres/message-store.ts";
import type { StoreStats } from "./store/message-store.ts";

const HOUR = 3600;
/** How many hours the hourly history keeps, the current one included. */
export const HISTORY_HOURS = 24;

/** Deposits and deliveries in one clock hour. */
export interface HourlyActivity {
  /** Unix seconds at which the hour began. */
  hourStart: number;
  deposits: number;
  delivered: number;
}

/** An empty Map, made once a label is first counted (one function for every call, not a closure per call). */
const newMap = <K, V>() => new Map<K, V>();

/** Counts what the relay did since it started. */
export class Metrics {
  /** Requests answered: endpoint → status → reason → count, so counting one builds no label text. */
  readonly #requests = new Map<string, Map<number, Map<string, number>>>();
  readonly #hours = new Map<number, HourlyActivity>();
  #deposits = 0;
  #delivered = 0;
  rateLimited = 0;
  /** Proofs refused for a timestamp more than 60 s from the relay's clock (answered replay_detected, or invalid_depositor_signature). */
  staleProofs = 0;

  /** `clock`: Unix seconds, fractional; it files deposits and deliveries under their hour. */
  constructor(readonly clock: () => number) {}

  /** Messages stored since start. */
  get deposits(): number {
    return this.#deposits;
  }

  /** Messages handed to their recipients since start. */
  get delivered(): number {
    return this.#delivered;
  }

  /** Counts one stored message, in the total and in its hour. */
  countDeposit(): void {
    this.#deposits++;
    this.#thisHour().deposits++;
  }

  /** Counts `messages` handed to their recipient, in the total and in their hour. */
  countDelivered(messages: number): void {
    this.#delivered += messages;
    this.#thisHour().delivered += messages;
  }

  /** The last {@link HISTORY_HOURS} clock hours, oldest first, the current (partial) one last; hours without activity count 0. */
  hourlyActivity(): HourlyActivity[] {
    const current = Math.floor(this.clock() / HOUR);
    return Array.from({ length: HISTORY_HOURS }, (_, index) => {
      const hour = current - HISTORY_HOURS + 1 + index;
      return { ...(this.#hours.get(hour) ?? { deposits: 0, delivered: 0 }), hourStart: hour * HOUR };
    });
  }

  #thisHour(): HourlyActivity {
    const hour = Math.floor(this.clock() / HOUR);
    let activity = this.#hours.get(hour);
    if (!activity) {
      activity = { hourStart: hour * HOUR, deposits: 0, delivered: 0 };
      this.#hours.set(hour, activity);
      for (const old of this.#hours.keys()) if (old <= hour - HISTORY_HOURS) this.#hours.delete(old);
    }
    return activity;
  }

  /** Counts one answered request. */
  countRequest(endpoint: string, status: number, reason: string): void {
    const byStatus = getOrAdd(this.#requests, endpoint, newMap<number, Map<string, number>>);
    const byReason = getOrAdd(byStatus, status, newMap<string, number>);
    byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
  }

  /** The Prometheus text exposition of every counter, of the store's gauges and of the process's. */
  render(
    store: StoreStats | PostgresStoreStats,
    caps: { maxMessages: number; maxStoreBytes: number },
    facts: { version: string; runtime: string; uptimeSeconds: number; residentBytes: number },
  ): string {
    const lines: string[] = [];
    const metric = (name: string, type: string, help: string, samples: [string, number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) lines.push(`${name}${labels ? `{${labels}}` : ""} ${value}`);
    };
    const requests: [string, number][] = [];
    for (const [endpoint, byStatus] of this.#requests) {
      for (const [status, byReason] of byStatus) {
        for (const [reason, count] of byReason) requests.push([`endpoint="${endpoint}",status="${status}",reason="${reason}"`, count]);
      }
    }
    metric("rendezvous_requests_total", "counter", "Requests answered, by endpoint, status and reason.", requests);
    metric("rendezvous_deposits_total", "counter", "Messages stored.", [["", this.deposits]]);
    metric("rendezvous_delivered_total", "counter", "Messages handed to their recipients.", [["", this.delivered]]);
    metric("rendezvous_rate_limited_total", "counter", "Requests refused by a rate limit.", [["", this.rateLimited]]);
    metric("rendezvous_proofs_stale_total", "counter", "Proofs refused for a timestamp more than 60 s from the relay's clock (for every client at once: the relay's clock is off).", [["", this.staleProofs]]);
    metric("rendezvous_stored_messages", "gauge", "Messages waiting in mailboxes.", [["", store.messages]]);
    metric("rendezvous_stored_bytes", "gauge", "Bytes of the records of waiting messages.", [["", store.bytes]]);
    metric("rendezvous_max_messages", "gauge", "Messages the store may hold (--max-messages).", [["", caps.maxMessages]]);
    metric("rendezvous_max_store_bytes", "gauge", "Bytes of records the store may hold (--max-store-bytes).", [["", caps.maxStoreBytes]]);
    metric("rendezvous_commits_total", "counter", "Group commits: one synced log write of deposits and removals, or one PostgreSQL statement and commit of deposits.", [["", store.commits]]);
    metric("rendezvous_commit_seconds_total", "counter", "Time spent in those commits.", [["", store.commitMilliseconds / 1000]]);
    if ("engine" in store) {
      const { engine } = store;
      metric("rendezvous_engine_up", "gauge", "1 while PostgreSQL answers, 0 while it does not.", [["", engine.state === "up" ? 1 : 0]]);
      metric("rendezvous_engine_pool_size", "gauge", "Connections this instance may open to PostgreSQL.", [["", engine.poolSize]]);
      metric("rendezvous_engine_in_flight", "gauge", "Operations waiting for or holding a connection.", [["", engine.inFlight]]);
      metric("rendezvous_engine_failures_total", "counter", "Operations that failed (unreachable engine or database error).", [["", engine.failures]]);
      lines.push(
        "# HELP rendezvous_engine_seconds Time PostgreSQL operations took, retries included.",
        "# TYPE rendezvous_engine_seconds histogram",
        ...engine.latency.buckets.map(([bound, count]) => `rendezvous_engine_seconds_bucket{le="${bound}"} ${count}`),
        `rendezvous_engine_seconds_bucket{le="+Inf"} ${engine.latency.count}`,
        `rendezvous_engine_seconds_sum ${engine.latency.seconds}`,
        `rendezvous_engine_seconds_count ${engine.latency.count}`,
      );
    } else {
      metric("rendezvous_log_bytes", "gauge", "Size of the store's log file.", [["", store.logBytes]]);
      metric("rendezvous_damaged_records", "gauge", "Damaged log records, found at start-up or since (when read, or by a compaction).", [["", store.damagedRecords]]);
      metric("rendezvous_compactions_total", "counter", "Compactions of the log.", [["", store.compactions]]);
      metric("rendezvous_compaction_failures_total", "counter", "Compactions of the log that failed (the next waits a minute).", [["", store.compactionFailures]]);
      metric("rendezvous_store_write_failures_total", "counter", "Deposits and removals refused because their log write failed, by kind: full (no room on the disk) or io.", [
        ['kind="full"', store.writeFailures.full],
        ['kind="io"', store.writeFailures.io],
      ]);
      metric("rendezvous_last_compaction_seconds", "gauge", "Duration of the last compaction.", [["", (store.lastCompaction?.milliseconds ?? 0) / 1000]]);
    }
    metric("rendezvous_uptime_seconds", "gauge", "Seconds since the relay started.", [["", facts.uptimeSeconds]]);
    metric("rendezvous_build_info", "gauge", "Always 1; the relay's version and the runtime serving it as labels.", [[`version="${facts.version}",runtime="${facts.runtime}"`, 1]]);
    metric("process_resident_memory_bytes", "gauge", "Resident memory of the relay's process.", [["", facts.residentBytes]]);
    return lines.join("\n") + "\n";
  }
}
