/**
 * The relay's tables and functions in PostgreSQL, as numbered migrations applied on start under an
 * advisory lock, so instances starting at the same instant apply each one exactly once.
 */
import type { Sql } from "./engine.ts";

/**
 * Advisory locks (two-int form), per database: (1, hash of mailbox) serialises a mailbox's deposits,
 * (2, 1) the migrations, (3, hash of the schema name) the sweep, (4, hash of a batch id) a deposit
 * batch and its retry, (5, hash of the schema name) a copy's start and a relay's (database-users.ts).
 */
const SCHEMA_LOCK = [2, 1] as const;

/**
 * The start of `rendezvous_sweep` from migration 2 on: one sweep at a time, expired messages deleted a
 * batch at a time, and their bytes and count taken off the usage. `alongside`: more columns of the
 * deleted rows, and statements that use them (from `), name AS (`). Each migration that redefines it
 * ends it its own way.
 */
function sweepExpiredMessages(alongside = { columns: "", statements: "" }): string {
  return `  CREATE OR REPLACE FUNCTION rendezvous_sweep(now_s bigint, batch_size integer, usage_slot integer)
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
      RETURNING m.bytes${alongside.columns}
    ${alongside.statements})
    SELECT count(*), coalesce(sum(d.bytes), 0) INTO gone, freed FROM doomed d;
    IF gone > 0 THEN
      UPDATE rendezvous_usage SET bytes = bytes - freed, messages = messages - gone WHERE slot = usage_slot;
    END IF;
`;
}

/**
 * `rendezvous_remove` from migration 2 on: deletes messages of one mailbox (all unexpired ones, ids null,
 * or the named ones) and returns them, oldest first, their bytes and count taken off the usage, and off
 * the mailbox's count by `shrink` (an UPDATE of rendezvous_mailbox_sizes).
 */
function removeMessages(shrink: string): string {
  return `  CREATE OR REPLACE FUNCTION rendezvous_remove(box text, ids uuid[], now_s bigint, usage_slot integer)
  RETURNS TABLE (id uuid, payload text, expires_at bigint) LANGUAGE sql AS $$
    WITH gone AS (
      DELETE FROM rendezvous_messages m
      WHERE m.mailbox = box AND m.expires_at > now_s AND (ids IS NULL OR m.id = ANY (ids))
      RETURNING m.id, m.payload, m.expires_at, m.seq, m.bytes
    ), freed AS (
      UPDATE rendezvous_usage SET bytes = bytes - (SELECT sum(g.bytes) FROM gone g), messages = messages - (SELECT count(*) FROM gone g)
      WHERE slot = usage_slot AND EXISTS (SELECT 1 FROM gone)
    ), shrunk AS (
      ${shrink}
    )
    SELECT g.id, g.payload, g.expires_at FROM gone g ORDER BY g.seq;
  $$;
`;
}

/**
 * `rendezvous_deposit_batch` from migration 2 on (`create`: `CREATE FUNCTION` or `CREATE OR REPLACE
 * FUNCTION`): stores a batch of deposits; verdict i is 'ok', 'mailbox_full' or 'store_full' for deposit
 * i. The store caps see what other batches have committed (not what they are committing). A mailbox's
 * messages are counted again (up to `recountLimit`, when given) where its count leaves too little room;
 * `counts` selects each mailbox's new count (mailbox, held) from `held` and `stored`.
 */
function depositBatch(create: string, recountLimit: string, counts: string): string {
  return `  ${create} rendezvous_deposit_batch(batch uuid, ids uuid[], mailboxes text[], payloads text[], expiries bigint[],
                                           now_s bigint, mailbox_max integer, store_max_bytes bigint, store_max_messages bigint, usage_slot integer)
  RETURNS text[] LANGUAGE plpgsql AS $$
  DECLARE
    outcome text[];
    used_bytes bigint;
    used_messages bigint;
    added_bytes bigint;
    added_messages bigint;
  BEGIN
    -- A batch sent again after a lost answer waits here for the first attempt to end, then finds its outcome.
    PERFORM pg_advisory_xact_lock(4, hashtext(batch::text));
    SELECT b.verdicts INTO outcome FROM rendezvous_batches b WHERE b.id = batch;
    IF FOUND THEN
      RETURN outcome;
    END IF;
    -- One depositor at a time per mailbox makes its cap exact; in key order, so batches cannot deadlock.
    PERFORM pg_advisory_xact_lock(1, k.key) FROM (SELECT DISTINCT hashtext(m) AS key FROM unnest(mailboxes) AS m ORDER BY 1) AS k;
    SELECT coalesce(sum(u.bytes), 0), coalesce(sum(u.messages), 0) INTO used_bytes, used_messages FROM rendezvous_usage u;
    WITH deposits AS (
      SELECT d.*, octet_length(d.payload) AS size
      FROM unnest(ids, mailboxes, payloads, expiries) WITH ORDINALITY AS d (id, mailbox, payload, expires_at, n)
    ), held AS (
      SELECT b.mailbox, CASE WHEN coalesce(z.held, 0) + b.arriving <= mailbox_max THEN coalesce(z.held, 0)
        ELSE (SELECT count(*) FROM (SELECT FROM rendezvous_messages m WHERE m.mailbox = b.mailbox AND m.expires_at > now_s${recountLimit}) AS c) END AS held
      FROM (SELECT d.mailbox, count(*) AS arriving FROM deposits d GROUP BY d.mailbox) AS b
      LEFT JOIN rendezvous_mailbox_sizes z ON z.mailbox = b.mailbox
    ), ranked AS (
      SELECT d.*, h.held + row_number() OVER (PARTITION BY d.mailbox ORDER BY d.n) <= mailbox_max AS room
      FROM deposits d JOIN held h USING (mailbox)
    ), judged AS (
      -- A deposit refused for a full store still counts toward the ones after it: the batch errs toward refusing.
      SELECT r.*, CASE
        WHEN used_bytes + sum(r.size) FILTER (WHERE r.room) OVER (ORDER BY r.n) > store_max_bytes
          OR used_messages + count(*) FILTER (WHERE r.room) OVER (ORDER BY r.n) > store_max_messages THEN 'store_full'
        WHEN NOT r.room THEN 'mailbox_full'
        ELSE 'ok' END AS verdict
      FROM ranked r
    ), stored AS (
      INSERT INTO rendezvous_messages (id, mailbox, payload, expires_at, bytes)
      SELECT j.id, j.mailbox, j.payload, j.expires_at, j.size FROM judged j WHERE j.verdict = 'ok' ORDER BY j.n
      RETURNING rendezvous_messages.bytes, rendezvous_messages.mailbox
    ), sized AS (
      INSERT INTO rendezvous_mailbox_sizes AS z (mailbox, held)
      ${counts}
      ON CONFLICT (mailbox) DO UPDATE SET held = EXCLUDED.held
    )
    SELECT (SELECT array_agg(j.verdict ORDER BY j.n) FROM judged j), coalesce(sum(s.bytes), 0), count(*)
    INTO outcome, added_bytes, added_messages FROM stored s;
    IF added_messages > 0 THEN
      -- Counted in a usage row no other batch holds (waiting only when all are held), so that
      -- concurrent batches do not queue behind one another's commits.
      UPDATE rendezvous_usage SET bytes = bytes + added_bytes, messages = messages + added_messages
      WHERE slot = coalesce((SELECT u.slot FROM rendezvous_usage u ORDER BY (u.slot - usage_slot + 16) % 16 LIMIT 1 FOR UPDATE SKIP LOCKED), usage_slot);
    END IF;
    INSERT INTO rendezvous_batches (id, created_at, verdicts) VALUES (batch, now_s, coalesce(outcome, '{}'));
    RETURN coalesce(outcome, '{}');
  END $$;
`;
}

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
  /* 2: a message count beside the bytes (the --max-messages cap); deposits, rate limits judged set-wise per batch. */ `
  ALTER TABLE rendezvous_usage ADD COLUMN messages bigint NOT NULL DEFAULT 0;
  UPDATE rendezvous_usage SET messages = (SELECT count(*) FROM rendezvous_messages) WHERE slot = 0;

  -- Per mailbox, at least as many as its unexpired messages (deliveries subtract, expiry does not): a
  -- deposit batch counts a mailbox's messages only when this bound leaves too little room, and then
  -- sets it to what it counted.
  CREATE TABLE rendezvous_mailbox_sizes (mailbox text PRIMARY KEY, held integer NOT NULL);
  INSERT INTO rendezvous_mailbox_sizes SELECT mailbox, count(*) FROM rendezvous_messages GROUP BY mailbox;

  -- Stores a batch of deposits: verdict i is 'ok', 'mailbox_full' or 'store_full' for deposit i.
  -- The store caps see what other batches have committed (not what they are committing).
${depositBatch("CREATE FUNCTION", " LIMIT mailbox_max", "SELECT h.mailbox, h.held + (SELECT count(*) FROM stored s WHERE s.mailbox = h.mailbox) FROM held h ORDER BY h.mailbox")}
  -- Version 1's entry point, for relays of that version still running during an upgrade.
  CREATE OR REPLACE FUNCTION rendezvous_deposit(batch uuid, ids uuid[], mailboxes text[], payloads text[], expiries bigint[],
                                                now_s bigint, mailbox_max integer, store_max bigint, usage_slot integer)
  RETURNS text[] LANGUAGE sql AS $$
    SELECT rendezvous_deposit_batch(batch, ids, mailboxes, payloads, expiries, now_s, mailbox_max, store_max, 9223372036854775807, usage_slot);
  $$;

${removeMessages("UPDATE rendezvous_mailbox_sizes SET held = held - (SELECT count(*) FROM gone g) WHERE mailbox = box AND EXISTS (SELECT 1 FROM gone)")}
${sweepExpiredMessages()}    DELETE FROM rendezvous_batches WHERE created_at < now_s - 3600;
    DELETE FROM rendezvous_mailbox_sizes WHERE held <= 0;
    DELETE FROM rendezvous_proofs WHERE expires_at < now_s;
    DELETE FROM rendezvous_rate_windows WHERE expires_at < now_s;
    RETURN gone;
  END $$;

  -- Counts a batch of requests (client i at time i) as rendezvous_rate_take would one by one, with
  -- one read and one write of each client's window: clients in key order, so batches on several
  -- instances cannot deadlock on their windows.
  CREATE FUNCTION rendezvous_rate_take_batch(clients text[], nows double precision[], window_s integer, max_requests integer)
  RETURNS TABLE (allowed boolean[], retry_after integer[], first_refusal boolean[]) LANGUAGE plpgsql AS $$
  DECLARE
    bucket record;
    i integer;
    elapsed double precision;
    previous integer;
    current integer;
    is_refusing boolean;
    room integer;
    faded double precision;
  BEGIN
    allowed := array_fill(NULL::boolean, ARRAY[cardinality(clients)]);
    retry_after := array_fill(NULL::integer, ARRAY[cardinality(clients)]);
    first_refusal := array_fill(NULL::boolean, ARRAY[cardinality(clients)]);
    FOR bucket IN
      SELECT c.client, floor(c.now_s / window_s)::bigint * window_s AS start, array_agg(c.n::integer ORDER BY c.n) AS requests
      FROM unnest(clients, nows) WITH ORDINALITY AS c (client, now_s, n) GROUP BY 1, 2 ORDER BY 1, 2
    LOOP
      INSERT INTO rendezvous_rate_windows (key, window_start, count, refusing, expires_at)
      SELECT bucket.client, bucket.start, 0,
             coalesce((SELECT w.refusing FROM rendezvous_rate_windows w WHERE w.key = bucket.client AND w.window_start = bucket.start - window_s), false),
             bucket.start + 2 * window_s
      ON CONFLICT DO NOTHING;
      SELECT w.count, w.refusing INTO current, is_refusing FROM rendezvous_rate_windows w
      WHERE w.key = bucket.client AND w.window_start = bucket.start FOR UPDATE;
      previous := coalesce((SELECT w.count FROM rendezvous_rate_windows w WHERE w.key = bucket.client AND w.window_start = bucket.start - window_s), 0);
      FOREACH i IN ARRAY bucket.requests LOOP
        elapsed := (nows[i] - bucket.start) / window_s;
        IF previous * (1 - elapsed) + current + 1 > max_requests THEN
          -- Wait until the previous window has faded enough to leave room for one more.
          room := max_requests - 1 - current;
          faded := CASE WHEN room >= 0 AND previous > 0 THEN 1 - room::double precision / previous ELSE 1 END;
          allowed[i] := false;
          retry_after[i] := greatest(1, ceil((faded - elapsed) * window_s))::integer;
          first_refusal[i] := NOT is_refusing;
          is_refusing := true;
        ELSE
          allowed[i] := true;
          retry_after[i] := 0;
          first_refusal[i] := false;
          current := current + 1;
          is_refusing := false;
        END IF;
      END LOOP;
      UPDATE rendezvous_rate_windows w SET count = current, refusing = is_refusing
      WHERE w.key = bucket.client AND w.window_start = bucket.start;
    END LOOP;
    RETURN NEXT;
  END $$;
  `,
  /* 3: spent proofs, rate windows and old batches swept apart from messages, a bounded batch at a time along indexes. */ `
  CREATE INDEX rendezvous_proofs_expiry ON rendezvous_proofs (expires_at);
  CREATE INDEX rendezvous_rate_windows_expiry ON rendezvous_rate_windows (expires_at);
  CREATE INDEX rendezvous_batches_created ON rendezvous_batches (created_at);

  -- Expired messages (and the sizes of mailboxes left empty) only: rendezvous_sweep_spent does the rest.
${sweepExpiredMessages()}    DELETE FROM rendezvous_mailbox_sizes WHERE held <= 0;
    RETURN gone;
  END $$;

  -- At most batch_size rows of each table: spent proofs tolerance_s past their expiry (a relay whose
  -- clock is behind the sweeper's takes a proof as fresh until its own clock passes the expiry), rate
  -- windows past theirs, batches an hour old. Returns the most rows one table gave up: batch_size
  -- means there may be more.
  CREATE FUNCTION rendezvous_sweep_spent(now_s bigint, batch_size integer, tolerance_s integer)
  RETURNS bigint LANGUAGE plpgsql AS $$
  DECLARE
    most bigint;
    n bigint;
  BEGIN
    DELETE FROM rendezvous_proofs WHERE digest IN
      (SELECT p.digest FROM rendezvous_proofs p WHERE p.expires_at < now_s - tolerance_s LIMIT batch_size);
    GET DIAGNOSTICS most = ROW_COUNT;
    DELETE FROM rendezvous_rate_windows WHERE (key, window_start) IN
      (SELECT w.key, w.window_start FROM rendezvous_rate_windows w WHERE w.expires_at < now_s LIMIT batch_size);
    GET DIAGNOSTICS n = ROW_COUNT;
    most := greatest(most, n);
    DELETE FROM rendezvous_batches WHERE id IN
      (SELECT b.id FROM rendezvous_batches b WHERE b.created_at < now_s - 3600 LIMIT batch_size);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN greatest(most, n);
  END $$;
  `,
  /* 4: the size rows of mailboxes left empty by expiry or by removals dropped (expiry left them for good). */ `
  -- Set when the mailbox lost messages (to the sweep or to a removal): rendezvous_sweep_sizes then drops
  -- the row if the mailbox holds none. A column, not a table: a role granted the tables there were can
  -- use it. Every row there is now is marked, without rewriting the table (a constant default).
  ALTER TABLE rendezvous_mailbox_sizes ADD COLUMN emptied boolean NOT NULL DEFAULT true;
  ALTER TABLE rendezvous_mailbox_sizes ALTER COLUMN emptied SET DEFAULT false;
  -- On emptied alone: an index on a column the counts' updates change would cost each of them an index write.
  CREATE INDEX rendezvous_mailbox_sizes_emptied ON rendezvous_mailbox_sizes (mailbox) WHERE emptied;

${removeMessages(`UPDATE rendezvous_mailbox_sizes SET held = held - (SELECT count(*) FROM gone g), emptied = true
      WHERE mailbox = box AND EXISTS (SELECT 1 FROM gone)`)}
  -- A mailbox's messages counted whole, not up to the cap: one holding more (the cap lowered since, or
  -- messages copied in past it) was counted as full, and each removal then took its count below what
  -- it holds, letting a deposit in past the cap. And no count of 0 written: a missing row counts as 0
  -- (a batch whose deposits to a new mailbox were all refused left one for good), and a row's count
  -- kept higher than what its mailbox holds is safe (its next deposit counts the mailbox again).
${depositBatch("CREATE OR REPLACE FUNCTION", "", `SELECT n.mailbox, n.held
      FROM (SELECT h.mailbox, h.held + (SELECT count(*) FROM stored s WHERE s.mailbox = h.mailbox) AS held FROM held h) AS n
      WHERE n.held > 0 ORDER BY n.mailbox`)}
${sweepExpiredMessages({
    columns: ", m.mailbox",
    statements: `), marked AS (
      -- Rows a deposit holds now are passed over, never waited for: that deposit writes the mailbox's
      -- count, and the sweep or removal of what it stored marks it again. (A batch that stored nothing
      -- there at that moment leaves the row unmarked until the mailbox is next used.)
      UPDATE rendezvous_mailbox_sizes SET emptied = true WHERE mailbox IN
        (SELECT z.mailbox FROM rendezvous_mailbox_sizes z WHERE z.mailbox IN (SELECT d.mailbox FROM doomed d) AND NOT z.emptied FOR UPDATE SKIP LOCKED)
    `,
  })}    RETURN gone;
  END $$;

  -- Takes up to batch_size marked rows and drops those whose mailbox holds no unexpired message, each
  -- under its deposit lock, so that no deposit finds its mailbox's row gone between reading and writing
  -- it; the others are unmarked (a sweep or a removal marks them again once their messages go), their
  -- count raised to what the mailbox holds if below it (as a count capped before version 4 could be).
  -- A mailbox whose deposit holds the lock now stays marked for the next call. Returns how many rows
  -- were taken up: batch_size means there may be more.
  CREATE FUNCTION rendezvous_sweep_sizes(now_s bigint, batch_size integer)
  RETURNS bigint LANGUAGE plpgsql AS $$
  DECLARE
    locked text[];
  BEGIN
    SELECT coalesce(array_agg(c.mailbox), '{}') INTO locked
    FROM (SELECT z.mailbox FROM rendezvous_mailbox_sizes z WHERE z.emptied LIMIT batch_size FOR UPDATE SKIP LOCKED) AS c
    WHERE pg_try_advisory_xact_lock(1, hashtext(c.mailbox));
    -- A statement of its own, after the locks: it sees every deposit committed before them.
    DELETE FROM rendezvous_mailbox_sizes z WHERE z.mailbox = ANY (locked)
      AND NOT EXISTS (SELECT 1 FROM rendezvous_messages m WHERE m.mailbox = z.mailbox AND m.expires_at > now_s);
    UPDATE rendezvous_mailbox_sizes z SET emptied = false,
      held = greatest(z.held, (SELECT count(*) FROM rendezvous_messages m WHERE m.mailbox = z.mailbox AND m.expires_at > now_s))
    WHERE z.mailbox = ANY (locked);
    RETURN cardinality(locked);
  END $$;
  `,
];

/** The schema version this build creates and understands. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * The tables and sequences the migrations create (rendezvous_schema apart: a relay only reads it), which a
 * relay's role must be able to use as scale-out.md lists: SELECT, INSERT, UPDATE and DELETE, or USAGE.
 */
export const RELAY_TABLES = ["rendezvous_batches", "rendezvous_facts", "rendezvous_mailbox_sizes", "rendezvous_messages", "rendezvous_proofs", "rendezvous_rate_windows", "rendezvous_usage"];
export const RELAY_SEQUENCES = ["rendezvous_messages_seq_seq"];

/**
 * Brings the database to {@link SCHEMA_VERSION}, one transaction under the schema lock; throws when
 * the database is at a newer version than this relay knows. A database already at it is only read:
 * the relay's role then needs no right to create anything.
 */
export async function migrate(sql: Sql): Promise<{ from: number; to: number }> {
  return await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${SCHEMA_LOCK[0]}, ${SCHEMA_LOCK[1]})`;
    // Not CREATE TABLE IF NOT EXISTS: PostgreSQL checks the right to create even when the table is there.
    const [{ created }] = await tx`SELECT to_regclass('rendezvous_schema') IS NOT NULL AS created`;
    if (!created) await tx`CREATE TABLE rendezvous_schema (version integer NOT NULL)`;
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
