-- 104_refresh_device_days.sql: the stored results of finished days computed ahead, by a
-- maintenance call, instead of by the first report that asks for them (issue 22).
--
-- fleetarc.refresh_device_days(from_ts, to_ts, tz, knobs) walks the finished local days
-- of tz in [from_ts, to_ts) (whole days ending before now()), one day at a time, and for
-- every device with a point that day makes sure of
--   - fleetarc.device_day (sql/100): what report_summary (with these knobs) and
--     report_distance (its fixed knobs 200 m, 180 s, 3600 s) read for finished days;
--   - fleetarc.motion_cache (sql/080): the day as one unit [local midnight, next local
--     midnight) with these knobs, which is what report_trips and report_stops over that
--     one day (e.g. `fleetarc report trips --from DATE --to DATE+1`) read.
-- What is already stored and still right is kept; what a write made stale since (a late
-- row for a finished day, a DELETE, a restore: sql/100's motion_dirty) is computed again.
-- So a nightly call over the last days (`fleetarc report refresh --from DATE --to DATE`)
-- keeps the reports of finished days lookups whatever wrote the rows. Nothing of the
-- results changes: a report reads a stored day only when it is what computing it would
-- give, and computes (and stores) what is missing as before.
--
-- One row per day walked: the day, the devices stored for it (device_day rows with a
-- point), and whether the results could be stored at all (false where sql/100's
-- motion_cache_ready says no: a read-only or not READ COMMITTED transaction, a standby, a
-- role that may only read). Last, the notes of writes (motion_dirty) that nothing stored
-- needs any more and older than 15 minutes are purged, as each write does. Each day is its own pass over that day's rows: memory stays
-- that of one day, and a call over a month costs what the first reports over it did.
CREATE OR REPLACE FUNCTION fleetarc.refresh_device_days(
    from_ts timestamptz, to_ts timestamptz DEFAULT now(), tz text DEFAULT 'UTC',
    min_distance_m float8 DEFAULT 200, min_duration interval DEFAULT '180 s',
    gap interval DEFAULT '3600 s', max_jump_kmh float8 DEFAULT 250)
RETURNS TABLE (day date, devices integer, stored boolean)
LANGUAGE plpgsql VOLATILE SET jit = off AS $$
#variable_conflict use_column
DECLARE
  h timestamptz;
  cut timestamptz;
  u record;
  ok boolean;
  z text := coalesce(tz, 'UTC');
BEGIN
  SELECT s.h, s.cut INTO h, cut FROM fleetarc.device_day_span(from_ts, to_ts, z) s;
  IF cut IS NULL THEN
    RETURN;
  END IF;
  FOR u IN SELECT r.unit_start, r.unit_end, r.unit_day FROM fleetarc.report_units(h, cut, z) r
  LOOP
    ok := fleetarc.device_day_ensure(u.unit_start, u.unit_end, NULL, z, $4, $5, $6, $7);
    IF ok AND ($4, $5, $6) IS DISTINCT FROM (200::float8, interval '180 s', interval '3600 s') THEN
      -- report_distance's own knobs
      ok := fleetarc.device_day_ensure(u.unit_start, u.unit_end, NULL, z, 200, '180 s',
                                       '3600 s', $7);
    END IF;
    IF ok THEN
      -- trips and stops of the day: stored by motion_cached (computed when missing or stale)
      PERFORM count(*) FROM fleetarc.motion_cached(u.unit_start, u.unit_end, NULL, NULL,
                                                    $4, $5, $6, $7);
    END IF;
    RETURN QUERY
      SELECT u.unit_day,
             (SELECT count(*)::integer FROM fleetarc.device_day r
              WHERE r.tz = z AND r.max_jump_kmh = $7 AND r.min_distance_m = $4
                AND r.min_duration = $5 AND r.gap = $6 AND r.day = u.unit_day
                AND r.points > 0),
             ok;
  END LOOP;
  -- the write notes no stored day or cache entry still needs, older than 15 minutes (what
  -- sql/102's trigger purges at each write): every report reads motion_dirty, and after a
  -- backfill or a quiet night nothing else purges it
  IF ok AND has_table_privilege('fleetarc.motion_dirty', 'DELETE') THEN
    DELETE FROM fleetarc.motion_dirty x
    WHERE x.at < now() - interval '15 minutes'
      AND NOT EXISTS (SELECT 1 FROM fleetarc.device_day_stale_for(x.imei, x.lo, x.hi, x.xid))
      AND NOT EXISTS (SELECT 1 FROM fleetarc.motion_cache c
                      WHERE c.imei = x.imei AND c.unit_start <= x.hi AND c.unit_end > x.lo
                        AND NOT pg_visible_in_snapshot(x.xid, c.snap));
  END IF;
END
$$;
COMMENT ON FUNCTION fleetarc.refresh_device_days(timestamptz, timestamptz, text, float8, interval, interval, float8) IS
  'Computes and stores ahead (sql/104) the device-day summaries and the one-day trips/stops '
  'of the finished local days of tz in [from_ts, to_ts): new days and days made stale by '
  'writes. One row per day: devices stored, and whether anything could be stored.';
