/**
 * The message store on PostgreSQL: the same promises as the embedded log, across every relay
 * instance sharing the database. Deposits that arrive together go in one statement and one commit
 * (the embedded log's group commit, here a group insert); the server answers only after the commit
 * is flushed (`synchronous_commit`, on by default).
 */
import { Buffer } from "node:buffer";
import type postgres from "postgres";
import { TOLERANCE_SECONDS } from "../protocol-limits.ts";
import { isMessageId } from "../store/records.ts";
import { StoreError, type StoredMessage } from "../store/message-store.ts";
import { ARRAY_OF } from "./array-types.ts";
import { laneOfKey } from "./batcher.ts";
import { Engine, type EngineOptions, type EngineStats, isUnavailable, mayHaveRun, type Sql } from "./engine.ts";
import { migrate } from "./schema.ts";

/** Options for `openPostgresStore`. */
export interface PostgresStoreOptions extends EngineOptions {
  /**
   * Payload bytes the store may hold, across instances. Approximate: deposits committing at the
   * same moment each see the others' bytes only once committed, so the store can exceed this by at
   * most the payload bytes of the batches in flight (instances × batches per instance × batch bytes).
   */
  maxStoreBytes: number;
  /** Messages the store may hold, across instances: approximate as `maxStoreBytes` is (by at most the deposits in flight). */
  maxMessages: number;
  /** Messages one mailbox may hold: exact, across instances. */
  mailboxMaxMessages: number;
  /** Unix seconds; the one clock of the app and the store (the server's clock is never used). */
  clock(): number;
  /** Seconds between sweeps for expired messages; 0 = none. Only one instance sweeps at a time. */
  sweepIntervalSeconds: number;
}

/** Counters for health and metrics. */
export interface PostgresStoreStats {
  /** What the store held at the last refresh (every 5 s; expired messages count until swept). */
  messages: number;
  bytes: number;
  /** Deposit batches committed, and the time they took. */
  commits: number;
  commitMilliseconds: number;
  engine: EngineStats;
}

interface PendingDeposit {
  id: string;
  mailbox: string;
  payload: string;
  expiresAt: number;
  bytes: number;
}

type Verdict = "ok" | "mailbox_full" | "store_full";

/** Deposits one statement carries at most, by count and by payload bytes. */
const BATCH_DEPOSITS = 256;
const BATCH_BYTES = 4 << 20;
/**
 * Batches one instance commits at the same time, one per lane of mailboxes: two batches of one
 * instance never hold the same mailbox's lock, so they do not wait on each other's commit.
 */
const DEPOSIT_LANES = 4;
/** Expired messages one sweep statement deletes; a sweep repeats it until fewer go. */
const SWEEP_BATCH = 10_000;
/** Mailboxes one statement checks for emptiness, each under an advisory lock: as many as a deposit batch locks at most. */
const SIZES_BATCH = BATCH_DEPOSITS;
/** Seconds between sweeps of spent proofs, rate windows, old batches and empty mailboxes' counts. */
const SPENT_SWEEP_SECONDS = 60;
const STATS_REFRESH_MS = 5_000;
/** Rows of rendezvous_usage (see schema.ts). */
const USAGE_SLOTS = 16;

const usageSlot = () => Math.floor(Math.random() * USAGE_SLOTS);

/** Mailboxes in a PostgreSQL database shared by every relay instance. Create with `openPostgresStore`. */
export class PostgresMessageStore {
  readonly #engine: Engine;
  /** Queues a deposit for the next batch of its lane; resolves with its verdict. */
  readonly #submit: (deposit: PendingDeposit) => Promise<Verdict>;
  /** Deposits not answered yet (queued, in a batch, or waiting for a sweep to go again). */
  #depositing = 0;
  #commits = 0;
  #commitMilliseconds = 0;
  #held = { messages: 0, bytes: 0 };
  #sweeping: Promise<number> | null = null;
  #sweepingSpent: Promise<void> | null = null;
  #closing = false;
  readonly #timers: ReturnType<typeof setInterval>[] = [];

  constructor(engine: Engine, readonly options: PostgresStoreOptions) {
    this.#engine = engine;
    this.#submit = engine.batched({
      lanes: DEPOSIT_LANES,
      maxItems: BATCH_DEPOSITS,
      maxWeight: BATCH_BYTES,
      weigh: (deposit) => deposit.bytes,
      laneOf: (deposit) => laneOfKey(deposit.mailbox, DEPOSIT_LANES),
      send: (batch) => this.#commit(batch),
    });
    const every = (seconds: number, task: () => Promise<unknown>) => {
      const timer = setInterval(() => void task().catch(() => {}), seconds * 1000);
      (timer as { unref?(): void }).unref?.();
      this.#timers.push(timer);
    };
    if (options.sweepIntervalSeconds > 0) every(options.sweepIntervalSeconds, () => this.sweep());
    // Whatever --sweep-interval says (0 included): spent rows pile up with every request otherwise.
    every(SPENT_SWEEP_SECONDS, () => this.sweepSpent());
    every(STATS_REFRESH_MS / 1000, () => this.refreshStats());
  }

  /** The engine this store runs on (for the replay guard and rate limiter sharing its pool). */
  get engine(): Engine {
    return this.#engine;
  }

  /**
   * Stores `payload` in `mailbox` until `expiresAt`; resolves with its id once committed. Refused for
   * a full store, it goes again once after expired messages are swept (as the embedded store does).
   */
  async deposit(mailbox: string, payload: string, expiresAt: number): Promise<string> {
    const deposit = { id: crypto.randomUUID(), mailbox, payload, expiresAt, bytes: Buffer.byteLength(payload, "utf8") };
    this.#depositing++;
    try {
      let verdict = await this.#submit(deposit);
      if (verdict === "store_full") {
        await this.sweep().catch(() => {});
        verdict = await this.#submit(deposit);
      }
      if (verdict !== "ok") throw new StoreError(verdict);
      return deposit.id;
    } finally {
      this.#depositing--;
    }
  }

  /** Unexpired messages of `mailbox`, oldest first, left in place: at most `limit` and about `maxBytes` of payload. */
  async peek(mailbox: string, limit = Infinity, maxBytes = Infinity): Promise<{ messages: StoredMessage[]; more: boolean }> {
    const now = this.options.clock();
    const rows = await this.#engine.run("peek", (sql) => sql`SELECT id, payload, expires_at, bytes FROM rendezvous_messages
      WHERE mailbox = ${mailbox} AND expires_at > ${now} ORDER BY seq LIMIT ${Number.isFinite(limit) ? limit + 1 : null}`, true);
    const messages: StoredMessage[] = [];
    let bytes = 0;
    for (const row of rows) {
      if (messages.length >= limit || (messages.length > 0 && bytes + row.bytes > maxBytes)) return { messages, more: true };
      bytes += row.bytes;
      messages.push(asMessage(row));
    }
    return { messages, more: false };
  }

  /**
   * Every unexpired message of `mailbox`, oldest first, removed: read first, then removed by id, and
   * only those this call removed are handed back, so no two callers on any instance get the same one.
   * Unless the removal goes unanswered (the deadline passed, the connection was lost after it was sent):
   * it may have happened, so the messages read are handed back all the same rather than lost, and may
   * be delivered again.
   */
  async take(mailbox: string): Promise<StoredMessage[]> {
    const { messages } = await this.peek(mailbox);
    if (messages.length === 0) return [];
    const now = this.options.clock();
    try {
      // Not retried: a removal whose answer was lost may have happened, and then a retry would remove nothing.
      const rows = await this.#engine.run("take", (sql) =>
        sql`SELECT id FROM rendezvous_remove(${mailbox}, ${sql.array(messages.map((m) => m.depositId), ARRAY_OF.uuid)}, ${now}, ${usageSlot()})`);
      const removed = new Set(rows.map((row) => row.id));
      return messages.filter((message) => removed.has(message.depositId));
    } catch (error) {
      if (error instanceof StoreError && error.kind === "unavailable" && mayHaveRun(error)) {
        this.options.log("store_take_unanswered", { messages: messages.length });
        return messages;
      }
      throw error;
    }
  }

  /** Removes the named messages of `mailbox`; unknown ids are ignored. Resolves with how many went. */
  async remove(mailbox: string, ids: readonly string[]): Promise<number> {
    const known = [...new Set(ids.filter(isMessageId))];
    if (known.length === 0) return 0;
    const now = this.options.clock();
    const [row] = await this.#engine.run("remove", (sql) =>
      sql`SELECT count(*)::int AS removed FROM rendezvous_remove(${mailbox}, ${sql.array(known, ARRAY_OF.uuid)}, ${now}, ${usageSlot()})`);
    return row.removed;
  }

  /** The mailboxes that hold unexpired messages. */
  async mailboxes(): Promise<string[]> {
    const now = this.options.clock();
    const rows = await this.#engine.run("mailboxes", (sql) => sql`SELECT DISTINCT mailbox FROM rendezvous_messages WHERE expires_at > ${now}`, true);
    return rows.map((row) => row.mailbox);
  }

  /**
   * Adds copies of `messages` (ids and expiry kept, oldest first) to `mailbox`, caps aside; a message
   * whose id is already stored is skipped, so a copy can be run again. Resolves with how many were added.
   */
  async restore(mailbox: string, messages: readonly StoredMessage[]): Promise<number> {
    const [row] = await this.#engine.run("restore", (sql) => sql`
      WITH added AS (
        INSERT INTO rendezvous_messages (id, mailbox, payload, expires_at, bytes)
        SELECT id, ${mailbox}, payload, expires_at, octet_length(payload)
        FROM unnest(${sql.array(messages.map((m) => m.depositId), ARRAY_OF.uuid)}::uuid[], ${sql.array(messages.map((m) => m.payload), ARRAY_OF.text)}::text[],
                    ${sql.array(messages.map((m) => m.expiresAt), ARRAY_OF.int8)}::bigint[]) WITH ORDINALITY AS copied (id, payload, expires_at, n)
        ORDER BY n
        ON CONFLICT (id) DO NOTHING
        RETURNING bytes
      ), counted AS (
        UPDATE rendezvous_usage SET bytes = bytes + (SELECT sum(a.bytes) FROM added a), messages = messages + (SELECT count(*) FROM added)
        WHERE slot = ${usageSlot()} AND EXISTS (SELECT 1 FROM added)
      ), locked AS MATERIALIZED (
        -- The mailbox's deposit lock, taken before its count is added to (the count below waits for it): a
        -- deposit reading the count before and writing it after would lose what is added here.
        SELECT pg_advisory_xact_lock(1, hashtext(${mailbox}))
      ), sized AS (
        INSERT INTO rendezvous_mailbox_sizes AS z (mailbox, held) SELECT ${mailbox}, count(*) FROM added CROSS JOIN locked HAVING count(*) > 0
        ON CONFLICT (mailbox) DO UPDATE SET held = z.held + EXCLUDED.held
      )
      SELECT count(*)::int AS added FROM added`, true);
    return row.added;
  }

  /** Drops expired messages unless another instance is sweeping; resolves with how many went. */
  sweep(): Promise<number> {
    this.#sweeping ??= (async () => {
      let total = 0;
      try {
        for (;;) {
          const now = this.options.clock();
          const [row] = await this.#engine.run("sweep", (sql) => sql`SELECT rendezvous_sweep(${now}, ${SWEEP_BATCH}, ${usageSlot()}) AS gone`);
          const gone = Number(row.gone);
          if (gone > 0) total += gone;
          if (gone < SWEEP_BATCH) break;
        }
        if (total > 0) this.options.log("store_swept", { expired: total });
        return total;
      } finally {
        this.#sweeping = null;
      }
    })();
    return this.#sweeping;
  }

  /**
   * Drops spent proofs (a tolerance past their expiry: the relays' clocks differ), rate windows and
   * deposit batches no longer needed, {@link SWEEP_BATCH} rows of each table per statement until fewer go;
   * then the size rows of mailboxes left empty, {@link SIZES_BATCH} mailboxes per statement. One run at a
   * time: a call while one is going waits for that one. A store closing stops it between statements (the
   * first run after the upgrade to schema 4 checks every mailbox's row).
   */
  sweepSpent(): Promise<void> {
    this.#sweepingSpent ??= (async () => {
      /** Runs `statement` (a count of rows it dealt with, as `n`) until it deals with fewer than `batch`, or the store closes. */
      const untilFewer = async (batch: number, statement: (sql: Sql, now: number) => Promise<postgres.Row[]>) => {
        while (!this.#closing) {
          const [row] = await this.#engine.run("sweep", (sql) => statement(sql, this.options.clock()));
          if (Number(row.n) < batch) return;
        }
      };
      try {
        await untilFewer(SWEEP_BATCH, (sql, now) => sql`SELECT rendezvous_sweep_spent(${now}, ${SWEEP_BATCH}, ${TOLERANCE_SECONDS}) AS n`);
        await untilFewer(SIZES_BATCH, (sql, now) => sql`SELECT rendezvous_sweep_sizes(${now}, ${SIZES_BATCH}) AS n`);
      } finally {
        this.#sweepingSpent = null;
      }
    })();
    return this.#sweepingSpent;
  }

  /** Reads what the store holds now (all instances), for `stats`: the counts the caps are judged by. */
  async refreshStats(): Promise<void> {
    const [row] = await this.#engine.run("stats", (sql) => sql`SELECT coalesce(sum(bytes), 0) AS bytes, coalesce(sum(messages), 0) AS messages FROM rendezvous_usage`);
    this.#held = { messages: Number(row.messages), bytes: Number(row.bytes) };
  }

  stats(): PostgresStoreStats {
    return { ...this.#held, commits: this.#commits, commitMilliseconds: this.#commitMilliseconds, engine: this.#engine.stats() };
  }

  /** Waits for queued deposits, then closes the pool. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#timers.forEach(clearInterval);
    while (this.#depositing) await new Promise((resolve) => setTimeout(resolve, 5));
    await this.#sweeping?.catch(() => {});
    await this.#sweepingSpent?.catch(() => {});
    await this.#engine.close();
  }

  /** One statement, one commit, for the whole batch; retried with the same batch id while the engine is unreachable. */
  async #commit(batch: PendingDeposit[]): Promise<Verdict[]> {
    const started = performance.now();
    const batchId = crypto.randomUUID();
    const now = this.options.clock();
    const [row] = await this.#engine.run("deposit", (sql: Sql) => sql`SELECT rendezvous_deposit_batch(
        ${batchId}::uuid,
        ${sql.array(batch.map((d) => d.id), ARRAY_OF.uuid)},
        ${sql.array(batch.map((d) => d.mailbox), ARRAY_OF.text)},
        ${sql.array(batch.map((d) => d.payload), ARRAY_OF.text)},
        ${sql.array(batch.map((d) => d.expiresAt), ARRAY_OF.int8)},
        ${now}, ${this.options.mailboxMaxMessages}, ${this.options.maxStoreBytes}, ${this.options.maxMessages}, ${usageSlot()}
      ) AS verdicts`, true);
    this.#commits++;
    this.#commitMilliseconds += performance.now() - started;
    return row.verdicts;
  }
}

function asMessage(row: postgres.Row): StoredMessage {
  return { depositId: row.id, payload: row.payload, expiresAt: Number(row.expires_at) };
}

/** Connects, creates or migrates the schema, and hands out the store. */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<PostgresMessageStore> {
  const engine = new Engine(options);
  try {
    const { from, to } = await migrate(engine.sql).catch((error) => {
      throw isUnavailable(error) ? new StoreError("unavailable", { cause: error }) : error;
    });
    if (from !== to) options.log("schema_migrated", { from, to });
    const store = new PostgresMessageStore(engine, options);
    await store.refreshStats();
    return store;
  } catch (error) {
    await engine.close(0);
    throw error;
  }
}
