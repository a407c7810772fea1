-- 108_summary_days_by_key.sql: report_summary's stored days (sql/100's summary_units)
-- read by a range of fleetarc.device_day's key (tz, knobs, day, imei) instead of a scan
-- of every stored day (issue 22: no report's time grows with months kept). device_day
-- keeps a row per device and day for as long as the partitions are kept, and the rows of
-- the range were found by filtering all of them on day_start and day_end, which are not
-- in any index leading with the knobs: a one-day summary at a year kept read 365 days of
-- rows. The range [h, cut) is whole local days of tz, and a row's day_start is the
-- local midnight of its day, so the same rows are those with h's local date <= day <
-- cut's local date. sql/105 does the same for report_distance. Same results.

CREATE OR REPLACE FUNCTION fleetarc.summary_units(
    from_ts timestamptz, to_ts timestamptz, imeis text[], tz text, md float8,
    mdur interval, gp interval, mj float8)
RETURNS TABLE (imei text, unit_start timestamptz, unit_end timestamptz, unit_day date,
               km float8, vmax float8, points integer, first_t timestamptz,
               last_t timestamptz, trips bigint, trip_km float8, moving interval)
LANGUAGE plpgsql VOLATILE SET jit = off AS $$
#variable_conflict use_column
DECLARE
  h timestamptz;
  cut timestamptz;
BEGIN
  SELECT s.h, s.cut INTO h, cut FROM fleetarc.device_day_span(from_ts, to_ts, tz) s;
  IF cut IS NULL OR NOT fleetarc.device_day_ensure(h, cut, imeis, tz, md, mdur, gp, mj) THEN
    RETURN QUERY
      SELECT m.imei, m.unit_start, m.unit_end, m.unit_day,
             max((m.seg).km) FILTER (WHERE (m.seg).kind = 'last'),
             max((m.seg).max_speed) FILTER (WHERE (m.seg).kind = 'last'),
             max((m.seg).points) FILTER (WHERE (m.seg).kind = 'last'),
             min((m.seg).start_time) FILTER (WHERE (m.seg).kind = 'first'),
             max((m.seg).end_time) FILTER (WHERE (m.seg).kind = 'last'),
             count(*) FILTER (WHERE (m.seg).kind = 'trip'),
             sum((m.seg).km) FILTER (WHERE (m.seg).kind = 'trip'),
             sum((m.seg).end_time - (m.seg).start_time) FILTER (WHERE (m.seg).kind = 'trip')
      FROM fleetarc.motion_cached(from_ts, to_ts, imeis, tz, md, mdur, gp, mj) m
      GROUP BY 1, 2, 3, 4;
    RETURN;
  END IF;
  RETURN QUERY
    SELECT r.imei, r.day_start, r.day_end, r.day, r.km, r.max_speed, r.points, r.first_t,
           r.last_t, r.trips::bigint, r.trip_km, r.moving
    FROM fleetarc.device_day r
    WHERE r.tz = $4 AND r.max_jump_kmh = $8 AND r.min_distance_m = $5
      AND r.min_duration = $6 AND r.gap = $7
      AND r.day_start >= h AND r.day_end <= cut AND r.points > 0
      -- the same days, as a range of the key: the days stored outside the range (every
      -- month kept) are not read
      AND r.day >= (h AT TIME ZONE $4)::date AND r.day < (cut AT TIME ZONE $4)::date
      AND (imeis IS NULL OR r.imei = ANY (imeis))
    UNION ALL
    SELECT c.imei, c.day_start, c.day_end, c.day, c.km, c.max_speed, c.points, c.first_t,
           c.last_t, c.trips::bigint, c.trip_km, c.moving
    FROM fleetarc.device_day_compute(from_ts, h, imeis, tz, md, mdur, gp, mj) c
    WHERE from_ts < h
    UNION ALL
    SELECT c.imei, c.day_start, c.day_end, c.day, c.km, c.max_speed, c.points, c.first_t,
           c.last_t, c.trips::bigint, c.trip_km, c.moving
    FROM fleetarc.device_day_compute(cut, to_ts, imeis, tz, md, mdur, gp, mj) c
    WHERE cut < to_ts;
END
$$;
