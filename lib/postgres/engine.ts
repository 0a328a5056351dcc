/**
 * The connection to PostgreSQL every shared-state module goes through: one pool, one deadline per
 * request (or per operation outside a request), whether the engine answers, and its latency. The
 * `postgres` client reconnects by itself.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import postgres from "postgres";
import { arrayTypes } from "./array-types.ts";
import { Batcher, type BatcherOptions } from "./batcher.ts";
import { guardRoleChecks } from "./role-check.ts";
import { StoreError } from "../store/message-store.ts";

/** A query runner: the pool itself, as `postgres` hands it out. */
export type Sql = postgres.Sql;

/** Options for `connectEngine`. */
export interface EngineOptions {
  /** postgres://user@host[,host2]/db?… (a multi-host URL follows a failover). */
  url: string;
  /** Connections this instance may hold; instances × this must stay under the server's max_connections. */
  poolSize: number;
  /**
   * Longest a request may spend on the engine, from its first operation, before its operations fail
   * as `unavailable` (retries included); an operation outside any request gets as long on its own.
   */
  operationTimeoutMs: number;
  log(event: string, fields: Record<string, unknown>): void;
}

/** What /healthz and /metrics show of the engine. */
export interface EngineStats {
  state: "up" | "down";
  poolSize: number;
  /** Operations waiting for or holding a connection now. */
  inFlight: number;
  failures: number;
  /** How long operations that succeeded took: cumulative counts per upper bound (seconds), their sum and count. */
  latency: { buckets: [number, number][]; seconds: number; count: number };
}

/** Upper bounds (seconds) of the latency histogram. */
const LATENCY_BOUNDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * Errors that say the engine is unreachable or going away (not that the statement was wrong), or cannot
 * write now: 25006, a read-only transaction, is a standby answering during a failover (a connection the
 * client took for the primary's) or a server an operator set read-only; 57014, a statement cancelled, is a
 * statement_timeout passed (or a cancel of ours landing on the connection's next statement).
 */
export function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (error instanceof postgres.PostgresError) return /^(08|57|53300|25006)/.test(String(code));
  return typeof code === "string"; // CONNECTION_CLOSED, CONNECT_TIMEOUT, ECONNREFUSED, …
}

/**
 * Errors that say the engine refused this relay's login: a password changed, pg_hba.conf or the role
 * changed (class 28), the database dropped (3D000). Nothing works until an operator acts: the engine
 * counts as down, and an operation is not tried again at once.
 */
export function isLoginRefused(error: unknown): boolean {
  const cause = error instanceof NotSentError ? error.cause : error;
  return cause instanceof postgres.PostgresError && /^(28|3D000)/.test(String(cause.code));
}

/** How many hosts a postgres:// URL names (`host1:port,host2:port`). */
function hostCount(url: string): number {
  const hosts = /^[a-z]+:\/\/(?:[^@/]*@)?([^/?#]*)/i.exec(url)?.[1] ?? "";
  return Math.max(1, hosts.split(",").length);
}

/** Pause between retries of an idempotent operation while the engine is unreachable. */
const RETRY_PAUSE_MS = 100;
/**
 * While the engine is down it is asked every second whether it answers again. While it refuses the login,
 * 1, 2, 4, … seconds apart, up to this; at once when the refusal took it down (a probe may find a
 * connection still logged in, and end the refusal).
 */
const PROBE_MS = 1000;
const REFUSED_PROBE_MAX_MS = 32_000;

/** The request being served: when its time on the engine runs out (set by its first operation). */
const currentRequest = new AsyncLocalStorage<{ deadline?: number }>();

/** One pool to PostgreSQL with deadlines, an up/down state and latency counters. */
export class Engine {
  readonly sql: Sql;
  #state: "up" | "down" = "up";
  #inFlight = 0;
  #failures = 0;
  readonly #latencyCounts = LATENCY_BOUNDS.map(() => 0);
  #latencySeconds = 0;
  #latencyCount = 0;
  #probing: ReturnType<typeof setTimeout> | undefined;
  /**
   * The engine's refusal of this relay's login, until an operation succeeds or finds the engine gone:
   * meanwhile operations fail at once, without a login attempt, and only the probes try one. Each failed
   * login is a line in the server's log, and may count towards locking the role out (LDAP) or banning
   * this host (fail2ban).
   */
  #loginRefusal: unknown;
  /** Probes refused in a row. */
  #refusedProbes = 0;

  constructor(readonly options: EngineOptions) {
    this.sql = postgres(options.url, {
      max: options.poolSize,
      // Per host: within one operation's deadline a connection can pass over every host that does not
      // answer and still reach the last (scripts/patch-dependencies.mjs makes the client pass them over).
      connect_timeout: Math.max(1, options.operationTimeoutMs / 1000 / hostCount(options.url)),
      idle_timeout: 60,
      // The client's own backoff grows to 20 s between attempts; a relay should be back within a second of the engine.
      backoff: (retries: number) => Math.min(0.05 * retries, 1) * (0.5 + Math.random() / 2),
      onnotice: () => {},
      // The client would look up every array type on each new connection, by a query whose promise it
      // drops: a connection lost meanwhile rejected unhandled, which ends a relay under Deno. The relay
      // sends and reads a few array types only; array-types.ts writes and reads their literals instead.
      fetch_types: false,
      types: arrayTypes(),
      // The statements count on READ COMMITTED (each sees rows committed before it, after its advisory
      // locks): a database or role whose default is stricter would fail retried batches and upserts.
      connection: { application_name: "hivemind-rendezvous", default_transaction_isolation: "read committed" },
    });
    // On a multi-host URL the client checks each new connection's role, by a query it drops (see role-check.ts).
    guardRoleChecks(this.sql);
  }

  /**
   * Runs `operation` within the deadline. Where the engine cannot be reached, an `idempotent`
   * operation is tried again until the deadline; then (or at once, for others, and for a login refused)
   * it fails with StoreError "unavailable". Any other database error is StoreError "io".
   */
  async run<T>(name: string, operation: (sql: Sql) => Promise<T>, idempotent = false): Promise<T> {
    if (this.#loginRefusal !== undefined) throw this.#failed(new NotSentError(this.#loginRefusal), true);
    return await this.#run(name, operation, idempotent);
  }

  async #run<T>(name: string, operation: (sql: Sql) => Promise<T>, idempotent: boolean): Promise<T> {
    const started = performance.now();
    const deadline = this.#deadline();
    this.#inFlight++;
    try {
      for (;;) {
        let query: Promise<T> | undefined;
        try {
          if (performance.now() >= deadline) throw TIMED_OUT;
          query = operation(this.sql);
          const result = await withDeadline(query, deadline);
          this.#succeeded(performance.now() - started);
          return result;
        } catch (error) {
          const refused = isLoginRefused(error);
          const unavailable = refused || error === TIMED_OUT || isUnavailable(error);
          // A refusal lasts until an operation succeeds or the engine goes away (then it is back within a second of answering).
          if (refused) this.#loginRefusal = error;
          else if (unavailable) this.#loginRefusal = undefined;
          if (unavailable && !refused && idempotent && performance.now() + RETRY_PAUSE_MS < deadline) {
            this.#setState("down", error);
            await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
            continue;
          }
          if (!unavailable) this.options.log("engine_error", { operation: name, error: String(error) });
          throw this.#failed(wasSent(query) ? error : new NotSentError(error), unavailable);
        }
      }
    } finally {
      this.#inFlight--;
    }
  }

  /**
   * Serves one request: every operation `handle` makes shares one deadline, operationTimeoutMs from
   * the first, so a request waits on a slow engine that long at most, whatever it does.
   */
  oneRequest<T>(handle: () => T): T {
    return currentRequest.run({}, handle);
  }

  /** Runs `task` apart from the request at hand: work for several requests (a deposit batch) gets its own deadlines. */
  #apart<T>(task: () => T): T {
    return currentRequest.exit(task);
  }

  /**
   * `work` (done apart from the request, e.g. its deposit's batch), or StoreError "unavailable" once
   * the request's deadline passes; `abandon` is called then, so the work can be dropped if not begun.
   */
  async #withinRequest<T>(work: Promise<T>, abandon: () => void): Promise<T> {
    if (!currentRequest.getStore()) return await work;
    try {
      return await withDeadline(work, this.#deadline());
    } catch (error) {
      if (error !== TIMED_OUT) throw error;
      abandon();
      throw this.#failed(error, true);
    }
  }

  /**
   * Batches calls into shared statements (see Batcher): each batch runs apart from any request, with
   * its own deadline, and a request waits for its item until its own deadline, withdrawing the item
   * if its batch has not been sent by then.
   */
  batched<Item, Result>(options: BatcherOptions<Item, Result>): (item: Item) => Promise<Result> {
    const batcher = new Batcher({ ...options, send: (items) => this.#apart(() => options.send(items)) });
    return (item) => this.#withinRequest(batcher.submit(item), () => batcher.withdraw(item));
  }

  /** Asks the engine whether it answers (within a deadline of its own), logging in if need be; updates the state. */
  async probe(): Promise<boolean> {
    return await this.#apart(() => this.#run("probe", (sql) => sql`SELECT 1`, false)).then(() => true, () => false);
  }

  stats(): EngineStats {
    return {
      state: this.#state,
      poolSize: this.options.poolSize,
      inFlight: this.#inFlight,
      failures: this.#failures,
      latency: {
        buckets: LATENCY_BOUNDS.map((bound, i) => [bound, this.#latencyCounts[i]]),
        seconds: this.#latencySeconds,
        count: this.#latencyCount,
      },
    };
  }

  /** Closes the pool, letting running queries finish for up to `timeoutSeconds`. */
  async close(timeoutSeconds = 5): Promise<void> {
    clearTimeout(this.#probing);
    this.#probing = undefined;
    await this.sql.end({ timeout: timeoutSeconds });
  }

  /** When the operation starting now must be done: the request's deadline, set by its first operation, or one of its own. */
  #deadline(): number {
    const ownDeadline = performance.now() + this.options.operationTimeoutMs;
    const request = currentRequest.getStore();
    return request ? (request.deadline ??= ownDeadline) : ownDeadline;
  }

  /** Counts a failed operation; the StoreError it fails with. */
  #failed(error: unknown, unavailable: boolean): StoreError {
    this.#failures++;
    if (unavailable) this.#setState("down", error);
    return new StoreError(unavailable ? "unavailable" : "io", { cause: error });
  }

  #succeeded(milliseconds: number): void {
    const seconds = milliseconds / 1000;
    LATENCY_BOUNDS.forEach((bound, i) => seconds <= bound && this.#latencyCounts[i]++);
    this.#latencySeconds += seconds;
    this.#latencyCount++;
    this.#loginRefusal = undefined;
    this.#refusedProbes = 0;
    this.#setState("up");
  }

  /** Logs each change; while down, probes (see PROBE_MS) so that the state turns up again without traffic. */
  #setState(state: "up" | "down", error?: unknown): void {
    if (state === this.#state) return;
    this.#state = state;
    this.options.log(state === "up" ? "engine_up" : "engine_down", state === "down" ? { error: String(error) } : {});
    clearTimeout(this.#probing);
    this.#probing = undefined;
    if (state === "down") this.#probeLater(true);
  }

  /** The next probe, one after another while the engine is down (see PROBE_MS); `first` since it went down. */
  #probeLater(first: boolean): void {
    const refused = this.#loginRefusal !== undefined;
    const delay = !refused ? PROBE_MS : first ? 0 : Math.min(PROBE_MS * 2 ** this.#refusedProbes++, REFUSED_PROBE_MAX_MS);
    const timer = setTimeout(async () => {
      await this.probe();
      // Not when the state has changed meanwhile (its change started probes anew, or stopped them) or the pool is closed.
      if (this.#probing === timer) this.#probeLater(false);
    }, delay);
    (timer as { unref?(): void }).unref?.();
    this.#probing = timer;
  }
}

const TIMED_OUT = new Error("operation deadline passed");

/** An operation's failure (`cause`) before it was handed to a connection: the engine never saw it. */
class NotSentError extends Error {
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
  }
}

/**
 * Whether `query` may have reached the engine: a `postgres` query notes the connection it is handed to
 * (until then it waits for one, and a cancelled one never goes); any other promise may have.
 */
function wasSent(query: Promise<unknown> | undefined): boolean {
  return query !== undefined && (query as { state?: unknown }).state !== null;
}

/**
 * Whether an operation that failed (a StoreError from Engine.run) may still have taken effect on the
 * engine: it went unanswered (its deadline passed, or its connection was lost) after it was sent. Not
 * when the engine answered with an error (the transaction was rolled back) or it was never sent.
 */
export function mayHaveRun(error: unknown): boolean {
  const cause = error instanceof StoreError ? error.cause : error;
  return !(cause instanceof NotSentError) && !(cause instanceof postgres.PostgresError);
}

/** `promise`, or TIMED_OUT once `deadline` (a performance.now() value) passes; a timed-out query is cancelled. */
function withDeadline<T>(promise: Promise<T>, deadline: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      cancelQuery(promise);
      reject(TIMED_OUT);
    }, Math.max(0, deadline - performance.now()));
  });
  promise.catch(() => {}); // a query that fails after its deadline must not surface as unhandled
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Asks the engine to cancel `query` (a `postgres` query; other promises are left alone). The client's
 * own `cancel()` drops the promise of its cancel request, which rejects where the engine cannot be
 * reached, and an unhandled rejection ends a relay under Deno: its canceller is called here instead.
 */
function cancelQuery(query: unknown): void {
  const pending = query as { canceller?: ((query: unknown) => Promise<void>) | null };
  const canceller = pending.canceller;
  if (typeof canceller !== "function") return;
  pending.canceller = null;
  canceller(query).catch(() => {});
}
