-- 075_rejected.sql: rows PostgreSQL refused, kept for the operator instead of failing
-- their whole batch. When a batch fails for its data (SQLSTATE class 22 data exception,
-- 23 integrity constraint, 54 program limit), the writer rolls it back and retries it
-- with the failing kind of rows merged one row at a time by fleetarc.isolate_rows: each
-- row the database still refuses lands here, the rest of the batch (other rows, cursor
-- moves) commits as usual. Nothing here is retried automatically.

CREATE TABLE fleetarc.rejected (
  id       bigserial PRIMARY KEY,
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
-- table pg_temp.<staging>) once per staged row, each in its own subtransaction. A row
-- refused with a data error goes to fleetarc.rejected; any other error propagates.
-- Returns one row (NULL, imei, error) per refused row, then (merged, NULL, NULL) with the
-- sum of the merge's row counts. Rows are merged in staging order (seq order of the
-- upserts), so the last upsert of a key still wins.
CREATE FUNCTION fleetarc.isolate_rows(p_staging text, p_merge text, p_source text)
RETURNS TABLE (merged bigint, imei text, error text)
LANGUAGE plpgsql
AS $fn$
DECLARE
  total   bigint;
  k       bigint;
  n_done  bigint := 0;
  msg     text;
  state   text;
  row_imei text;
  row_payload jsonb;
BEGIN
  IF p_staging !~ '^pgw_[a-z_]+$' THEN
    RAISE EXCEPTION 'isolate_rows: bad staging table %', p_staging;
  END IF;
  DROP TABLE IF EXISTS pg_temp.pgw_isolate_hold;
  EXECUTE format('CREATE TEMP TABLE pgw_isolate_hold ON COMMIT DROP AS'
                 ' SELECT row_number() OVER (ORDER BY ctid) AS n, s AS r FROM pg_temp.%I s',
                 p_staging);
  SELECT count(*) INTO total FROM pg_temp.pgw_isolate_hold;
  EXECUTE format('DELETE FROM pg_temp.%I', p_staging);
  FOR i IN 1..total LOOP
    EXECUTE format('INSERT INTO pg_temp.%I SELECT (r).* FROM pg_temp.pgw_isolate_hold'
                   ' WHERE n = $1', p_staging) USING i;
    BEGIN
      EXECUTE rtrim(p_merge, '; ');
      GET DIAGNOSTICS k = ROW_COUNT;
      n_done := n_done + k;
    EXCEPTION WHEN data_exception OR integrity_constraint_violation
                   OR program_limit_exceeded THEN
      GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, state = RETURNED_SQLSTATE;
      SELECT to_jsonb(h.r), to_jsonb(h.r)->>'imei' INTO row_payload, row_imei
        FROM pg_temp.pgw_isolate_hold h WHERE h.n = i;
      merged := NULL;
      imei := row_imei;
      error := msg || ' (SQLSTATE ' || state || ')';
      INSERT INTO fleetarc.rejected AS x (source, imei, payload, error)
        VALUES (p_source, row_imei, row_payload, error)
        ON CONFLICT (source, md5(payload::text))
        DO UPDATE SET error = excluded.error, last_at = now(), times = x.times + 1;
      RETURN NEXT;
    END;
    EXECUTE format('DELETE FROM pg_temp.%I', p_staging);
  END LOOP;
  DROP TABLE pg_temp.pgw_isolate_hold;
  merged := n_done;
  imei := NULL;
  error := NULL;
  RETURN NEXT;
END
$fn$;

COMMENT ON FUNCTION fleetarc.isolate_rows(text, text, text) IS
  'Used by the writer: merges a staged batch row by row, keeping refused rows in fleetarc.rejected.';
