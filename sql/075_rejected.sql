-- 075_rejected.sql: rows PostgreSQL refused, kept for the operator instead of failing
-- their whole batch. When a batch fails for its data (SQLSTATE class 22 data exception,
-- 23 integrity constraint, 54 program limit), the writer rolls it back and retries it
-- with the failing kind of rows merged by fleetarc.isolate_rows, which bisects down to
-- the refused rows: each row the database still refuses lands here, the rest of the batch (other rows, cursor
-- moves) commits as usual. Nothing here is retried automatically.

-- No serial id: deploy/roles.sql hands every table and sequence to the writer role, and
-- a table's own sequence cannot change owner apart; (source, payload) is the key.
CREATE TABLE fleetarc.rejected (
  source   text NOT NULL,        -- the target table: positions, alarms, device_state, ...
  imei     text,
  payload  jsonb NOT NULL,       -- the staged row as the writer sent it (times of
                                 -- upserts as UNIX seconds)
  error    text NOT NULL,        -- the server's message and its SQLSTATE
  at       timestamptz NOT NULL DEFAULT now(),  -- first refusal
  last_at  timestamptz NOT NULL DEFAULT now(),  -- latest refusal of the same row
  times    integer NOT NULL DEFAULT 1           -- how often the same row was refused
);
-- The same row refused again (a re-polled answer, a retried batch) is one entry.
CREATE UNIQUE INDEX rejected_row ON fleetarc.rejected (source, md5(payload::text));
CREATE INDEX rejected_at ON fleetarc.rejected (at);

COMMENT ON TABLE fleetarc.rejected IS
  'Rows the database refused (one per distinct row), isolated from their batch by the writer; see README "Operating it".';

-- isolate_rows(staging, merge, source): runs `merge` (one INSERT ... SELECT from the temp
-- table pg_temp.<staging>) over the staged rows, bisecting: a range of rows is merged in
-- a subtransaction; when the server refuses it with a data error, its halves are tried,
-- down to single rows. A single row refused goes to fleetarc.rejected; any other error
-- propagates. One refused row in 10000 costs about 2 x 14 merges of shrinking ranges.
-- Returns one row (NULL, imei, error) per refused row, then (merged, NULL, NULL) with the
-- sum of the merge's row counts. Ranges are merged in staging order (seq order of the
-- upserts), so the last upsert of a key still wins.
CREATE FUNCTION fleetarc.isolate_rows(p_staging text, p_merge text, p_source text)
RETURNS TABLE (merged bigint, imei text, error text)
LANGUAGE plpgsql
AS $fn$
DECLARE
  total   bigint;
  k       bigint;
  lo      bigint;
  hi      bigint;
  mid     bigint;
  los     bigint[];
  his     bigint[];
  n_done  bigint := 0;
  msg     text;
  state   text;
  row_imei text;
  row_payload jsonb;
  merge_sql text := rtrim(p_merge, '; ');
  fill_sql  text;
  empty_sql text;
BEGIN
  IF p_staging !~ '^pgw_[a-z_]+$' THEN
    RAISE EXCEPTION 'isolate_rows: bad staging table %', p_staging;
  END IF;
  fill_sql := format('INSERT INTO pg_temp.%I SELECT (r).* FROM pg_temp.pgw_isolate_hold'
                     ' WHERE n BETWEEN $1 AND $2 ORDER BY n', p_staging);
  empty_sql := format('DELETE FROM pg_temp.%I', p_staging);
  DROP TABLE IF EXISTS pg_temp.pgw_isolate_hold;
  EXECUTE format('CREATE TEMP TABLE pgw_isolate_hold ON COMMIT DROP AS'
                 ' SELECT row_number() OVER (ORDER BY ctid) AS n, s AS r FROM pg_temp.%I s',
                 p_staging);
  SELECT count(*) INTO total FROM pg_temp.pgw_isolate_hold;
  EXECUTE empty_sql;
  -- A stack of ranges, the next one last: lower halves first keeps the staging order.
  los := ARRAY[1];
  his := ARRAY[total];
  WHILE total > 0 AND cardinality(los) > 0 LOOP
    lo := los[cardinality(los)];
    hi := his[cardinality(his)];
    los := los[1:cardinality(los) - 1];
    his := his[1:cardinality(his) - 1];
    EXECUTE fill_sql USING lo, hi;
    BEGIN
      EXECUTE merge_sql;
      GET DIAGNOSTICS k = ROW_COUNT;
      n_done := n_done + k;
    EXCEPTION WHEN data_exception OR integrity_constraint_violation
                   OR program_limit_exceeded THEN
      IF lo < hi THEN
        mid := lo + (hi - lo) / 2;
        los := los || ARRAY[mid + 1, lo];
        his := his || ARRAY[hi, mid];
      ELSE
        GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, state = RETURNED_SQLSTATE;
        SELECT to_jsonb(h.r), to_jsonb(h.r)->>'imei' INTO row_payload, row_imei
          FROM pg_temp.pgw_isolate_hold h WHERE h.n = lo;
        merged := NULL;
        imei := row_imei;
        error := msg || ' (SQLSTATE ' || state || ')';
        INSERT INTO fleetarc.rejected AS x (source, imei, payload, error)
          VALUES (p_source, row_imei, row_payload, error)
          ON CONFLICT (source, md5(payload::text))
          DO UPDATE SET error = excluded.error, last_at = now(), times = x.times + 1;
        RETURN NEXT;
      END IF;
    END;
    EXECUTE empty_sql;
  END LOOP;
  DROP TABLE pg_temp.pgw_isolate_hold;
  merged := n_done;
  imei := NULL;
  error := NULL;
  RETURN NEXT;
END
$fn$;

COMMENT ON FUNCTION fleetarc.isolate_rows(text, text, text) IS
  'Used by the writer: merges a staged kind of rows by bisection, keeping refused rows in fleetarc.rejected.';
