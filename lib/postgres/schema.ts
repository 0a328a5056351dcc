/**
 * The relay's tables and functions in PostgreSQL, as numbered migrations applied on start under an
 * advisory lock, so instances starting at the same instant apply each one exactly once.
 */
import type { Sql } from "./engine.ts";

/**
 * Advisory locks (two-int form), per database: (1, hash of mailbox) serialises a mailbox's deposits,
 * (2, 1) the migrations, (3, hash of the schema name) the sweep.
 */
const SCHEMA_LOCK = [2, 1] as const;

/**
 * Migration n (1-based) brings the schema from version n-1 to n. Append only: a released migration
 * never changes. Times are Unix seconds from the relay's clock, never the server's `now()`.
 */
const MIGRATIONS: string[] = [
  /* 1: messages, per-batch idempotency, byte usage, proofs, rate windows, shared facts. */ `
  CREATE TABLE rendezvous_messages (
    seq bigserial PRIMARY KEY,
    id uuid NOT NULL UNIQUE,
    mailbox text NOT NULL,
    payload text NOT NULL,
    expires_at bigint NOT NULL,
    bytes integer NOT NULL
  );
  CREATE INDEX rendezvous_messages_mailbox ON rendezvous_messages (mailbox, seq) INCLUDE (expires_at);
  CREATE INDEX rendezvous_messages_expiry ON rendezvous_messages (expires_at);

  -- A deposit batch's verdicts, kept an hour: a batch retried after a lost connection finds its
  -- first outcome here instead of storing its messages twice.
  CREATE TABLE rendezvous_batches (
    id uuid PRIMARY KEY,
    created_at bigint NOT NULL,
    verdicts text[] NOT NULL DEFAULT '{}'
  );

  -- Payload bytes held, spread over 16 rows so concurrent commits rarely wait on one another.
  CREATE TABLE rendezvous_usage (slot integer PRIMARY KEY, bytes bigint NOT NULL);
  INSERT INTO rendezvous_usage SELECT slot, 0 FROM generate_series(0, 15) AS slot;

  -- Spent proofs by the SHA-256 of their id.
  CREATE TABLE rendezvous_proofs (digest bytea PRIMARY KEY, expires_at bigint NOT NULL);

  -- Counters that only throttle: losing them in a crash is harmless, so no WAL.
  CREATE UNLOGGED TABLE rendezvous_rate_windows (
    key text NOT NULL,
    window_start bigint NOT NULL,
    count integer NOT NULL,
    refusing boolean NOT NULL DEFAULT false,
    expires_at bigint NOT NULL,
    PRIMARY KEY (key, window_start)
  );

  CREATE TABLE rendezvous_facts (name text PRIMARY KEY, value text NOT NULL);

  -- Stores a batch of deposits: verdict i is 'ok', 'mailbox_full' or 'store_full' for deposit i.
  CREATE FUNCTION rendezvous_deposit(batch uuid, ids uuid[], mailboxes text[], payloads text[], expiries bigint[],
                                     now_s bigint, mailbox_max integer, store_max bigint, usage_slot integer)
  RETURNS text[] LANGUAGE plpgsql AS $$
  DECLARE
    outcome text[] := '{}';
    used bigint;
    added bigint := 0;
    size integer;
    mb text;
  BEGIN
    INSERT INTO rendezvous_batches (id, created_at) VALUES (batch, now_s) ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
      RETURN (SELECT b.verdicts FROM rendezvous_batches b WHERE b.id = batch);
    END IF;
    -- One depositor at a time per mailbox makes its cap exact; sorted, so batches cannot deadlock.
    FOR mb IN SELECT DISTINCT m FROM unnest(mailboxes) AS m ORDER BY 1 LOOP
      PERFORM pg_advisory_xact_lock(1, hashtext(mb));
    END LOOP;
    used := (SELECT coalesce(sum(u.bytes), 0) FROM rendezvous_usage u);
    FOR i IN 1 .. coalesce(array_length(ids, 1), 0) LOOP
      size := octet_length(payloads[i]);
      IF used + added + size > store_max THEN
        outcome := outcome || 'store_full'::text;
      ELSIF (SELECT count(*) FROM (SELECT FROM rendezvous_messages m WHERE m.mailbox = mailboxes[i] AND m.expires_at > now_s LIMIT mailbox_max) AS held)
            >= mailbox_max THEN
        outcome := outcome || 'mailbox_full'::text;
      ELSE
        INSERT INTO rendezvous_messages (id, mailbox, payload, expires_at, bytes) VALUES (ids[i], mailboxes[i], payloads[i], expiries[i], size);
        added := added + size;
        outcome := outcome || 'ok'::text;
      END IF;
    END LOOP;
    IF added > 0 THEN
      UPDATE rendezvous_usage SET bytes = bytes + added WHERE slot = usage_slot;
    END IF;
    UPDATE rendezvous_batches SET verdicts = outcome WHERE id = batch;
    RETURN outcome;
  END $$;

  -- Deletes messages of one mailbox: all unexpired ones (ids null) or the named ones; returns them, oldest first.
  CREATE FUNCTION rendezvous_remove(box text, ids uuid[], now_s bigint, usage_slot integer)
  RETURNS TABLE (id uuid, payload text, expires_at bigint) LANGUAGE sql AS $$
    WITH gone AS (
      DELETE FROM rendezvous_messages m
      WHERE m.mailbox = box AND m.expires_at > now_s AND (ids IS NULL OR m.id = ANY (ids))
      RETURNING m.id, m.payload, m.expires_at, m.seq, m.bytes
    ), freed AS (
      UPDATE rendezvous_usage SET bytes = bytes - (SELECT sum(g.bytes) FROM gone g)
      WHERE slot = usage_slot AND EXISTS (SELECT 1 FROM gone)
    )
    SELECT g.id, g.payload, g.expires_at FROM gone g ORDER BY g.seq;
  $$;

  -- Counts one request of the client against max_requests per window_s, as the in-memory limiter
  -- does (a sliding window estimated from two fixed ones; refused requests are not counted).
  CREATE FUNCTION rendezvous_rate_take(client text, now_s double precision, window_s integer, max_requests integer)
  RETURNS TABLE (allowed boolean, retry_after integer, first_refusal boolean) LANGUAGE plpgsql AS $$
  DECLARE
    start bigint := floor(now_s / window_s)::bigint * window_s;
    elapsed double precision := (now_s - start) / window_s;
    previous integer;
    current integer;
    was_refusing boolean;
    room integer;
    faded double precision;
  BEGIN
    INSERT INTO rendezvous_rate_windows (key, window_start, count, refusing, expires_at)
    SELECT client, start, 0, coalesce((SELECT w.refusing FROM rendezvous_rate_windows w WHERE w.key = client AND w.window_start = start - window_s), false),
           start + 2 * window_s
    ON CONFLICT DO NOTHING;
    SELECT w.count, w.refusing INTO current, was_refusing FROM rendezvous_rate_windows w
    WHERE w.key = client AND w.window_start = start FOR UPDATE;
    previous := coalesce((SELECT w.count FROM rendezvous_rate_windows w WHERE w.key = client AND w.window_start = start - window_s), 0);
    IF previous * (1 - elapsed) + current + 1 > max_requests THEN
      -- Wait until the previous window has faded enough to leave room for one more.
      room := max_requests - 1 - current;
      faded := CASE WHEN room >= 0 AND previous > 0 THEN 1 - room::double precision / previous ELSE 1 END;
      UPDATE rendezvous_rate_windows SET refusing = true WHERE key = client AND window_start = start;
      RETURN QUERY SELECT false, greatest(1, ceil((faded - elapsed) * window_s))::integer, NOT was_refusing;
    ELSE
      UPDATE rendezvous_rate_windows SET count = count + 1, refusing = false WHERE key = client AND window_start = start;
      RETURN QUERY SELECT true, 0, false;
    END IF;
  END $$;

  -- Drops up to batch_size expired messages (and stale batches, proofs and rate windows) unless
  -- another instance is sweeping; returns how many messages went, or -1 when another one holds the sweep.
  CREATE FUNCTION rendezvous_sweep(now_s bigint, batch_size integer, usage_slot integer)
  RETURNS bigint LANGUAGE plpgsql AS $$
  DECLARE
    gone bigint;
    freed bigint;
  BEGIN
    IF NOT pg_try_advisory_xact_lock(3, hashtext(current_schema())) THEN
      RETURN -1;
    END IF;
    WITH doomed AS (
      DELETE FROM rendezvous_messages m
      WHERE m.seq IN (SELECT e.seq FROM rendezvous_messages e WHERE e.expires_at <= now_s LIMIT batch_size)
      RETURNING m.bytes
    )
    SELECT count(*), coalesce(sum(d.bytes), 0) INTO gone, freed FROM doomed d;
    IF freed > 0 THEN
      UPDATE rendezvous_usage SET bytes = bytes - freed WHERE slot = usage_slot;
    END IF;
    DELETE FROM rendezvous_batches WHERE created_at < now_s - 3600;
    DELETE FROM rendezvous_proofs WHERE expires_at < now_s;
    DELETE FROM rendezvous_rate_windows WHERE expires_at < now_s;
    RETURN gone;
  END $$;
  `,
];

/** The schema version this build creates and understands. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the database to {@link SCHEMA_VERSION}, one transaction under the schema lock; throws when
 * the database is at a newer version than this relay knows.
 */
export async function migrate(sql: Sql): Promise<{ from: number; to: number }> {
  return await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${SCHEMA_LOCK[0]}, ${SCHEMA_LOCK[1]})`;
    await tx`CREATE TABLE IF NOT EXISTS rendezvous_schema (version integer NOT NULL)`;
    const [row] = await tx`SELECT version FROM rendezvous_schema`;
    const from: number = row?.version ?? 0;
    if (from > SCHEMA_VERSION) {
      throw new Error(`the database's schema is version ${from}, newer than this relay's ${SCHEMA_VERSION}: upgrade the relay`);
    }
    for (const migration of MIGRATIONS.slice(from)) await tx.unsafe(migration);
    if (!row) await tx`INSERT INTO rendezvous_schema VALUES (${SCHEMA_VERSION})`;
    else if (from < SCHEMA_VERSION) await tx`UPDATE rendezvous_schema SET version = ${SCHEMA_VERSION}`;
    return { from, to: SCHEMA_VERSION };
  });
}
