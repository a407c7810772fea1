-- 060_retention.sql: retention by whole monthly partitions. Old history leaves the
-- database by DETACH + DROP of partitions whose every possible row is older than the
-- cutoff: no DELETE, no bloat, no vacuum debt, and never a row newer than the cutoff.

-- drop_partitions_before(table, cutoff, dry_run): for 'positions' or 'alarms', the
-- partitions whose upper bound is at or before `cutoff` (so all their rows are older),
-- oldest first (by name: <table>_YYYYMM). dry_run (default true, the safe side) only lists them; otherwise each is
-- detached and dropped. A partition straddling the cutoff is kept whole. The DEFAULT
-- partition (if someone made one) and unbounded ones are never touched.
-- Locks: DETACH needs ACCESS EXCLUSIVE on the parent; when the session has no
-- lock_timeout of its own, one of 5 s applies for this transaction, so that a long
-- writer transaction fails this call (retry later) instead of queueing every writer
-- behind it.
CREATE FUNCTION fleetarc.drop_partitions_before(p_table text, p_cutoff timestamptz,
                                                p_dry_run boolean DEFAULT true)
RETURNS TABLE (partition_name text, range_start timestamptz, range_end timestamptz,
               dropped boolean)
LANGUAGE plpgsql
AS $fn$
DECLARE
  r       record;
  bounds  text[];
BEGIN
  IF p_table IS NULL OR p_table NOT IN ('positions', 'alarms') THEN
    RAISE EXCEPTION 'drop_partitions_before: table must be positions or alarms, not %', p_table;
  END IF;
  IF p_cutoff IS NULL OR NOT isfinite(p_cutoff) THEN
    RAISE EXCEPTION 'drop_partitions_before: bad cutoff %', p_cutoff;
  END IF;
  IF current_setting('lock_timeout') = '0' THEN
    PERFORM set_config('lock_timeout', '5s', true);
  END IF;
  FOR r IN
    SELECT c.relname::text AS relname, pg_get_expr(c.relpartbound, c.oid) AS bound
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = format('fleetarc.%I', p_table)::regclass
    ORDER BY c.relname   -- <table>_YYYYMM: oldest first
  LOOP
    -- FOR VALUES FROM ('2026-01-01 00:00:00+00') TO ('2026-02-01 00:00:00+00'); the
    -- session's TimeZone prints the offset, so the text reads back exactly.
    bounds := regexp_match(r.bound, $re$^FOR VALUES FROM \('([^']+)'\) TO \('([^']+)'\)$$re$);
    CONTINUE WHEN bounds IS NULL;
    partition_name := r.relname;
    range_start := bounds[1]::timestamptz;
    range_end := bounds[2]::timestamptz;
    CONTINUE WHEN range_end > p_cutoff;
    dropped := NOT p_dry_run;
    IF NOT p_dry_run THEN
      EXECUTE format('ALTER TABLE fleetarc.%I DETACH PARTITION fleetarc.%I', p_table, r.relname);
      EXECUTE format('DROP TABLE fleetarc.%I', r.relname);
    END IF;
    RETURN NEXT;
  END LOOP;
END
$fn$;

COMMENT ON FUNCTION fleetarc.drop_partitions_before(text, timestamptz, boolean) IS
  'Detaches and drops (or, dry run, lists) the monthly partitions of positions or alarms entirely older than the cutoff; never deletes rows.';
