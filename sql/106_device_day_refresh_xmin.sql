-- 106_device_day_refresh_xmin.sql: every report over stored days (report_distance,
-- report_summary through device_day_ensure) first looks for device-days made stale by
-- writes (sql/100's device_day_refresh). It probed the done days once per write note in
-- fleetarc.motion_dirty over the range (the notes stay 15 minutes, and after a backfill
-- or a late import there is one per device and statement): at 200 devices x 30 days
-- right after loading, 7,400 notes (6,000 of the load, 1,400 of writes made after the
-- days were stored) cost 48 to 109 ms a report (a 30-day distance took 150 to 330 ms),
-- and ten times that at 2,000 devices. Now 17 to 23 ms: only the 1,400 notes of writes
-- some done day did not see are probed. A note whose transaction ended before the oldest
-- snapshot of the range's done days began (its xid below that snapshot's xmin) is visible
-- to every one of them, so it makes no day stale: such notes are now skipped by one
-- comparison each, before the probe. Same days found stale.

CREATE OR REPLACE FUNCTION fleetarc.device_day_refresh(
    from_ts timestamptz, to_ts timestamptz, imeis text[], tz text, md float8,
    mdur interval, gp interval, mj float8)
RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
  d record;
  n integer := 0;
BEGIN
  FOR d IN
    SELECT s.day, s.day_start, s.day_end, array_agg(DISTINCT x.imei) AS devs
    FROM fleetarc.motion_dirty x
    CROSS JOIN LATERAL fleetarc.device_day_stale_for(x.imei, x.lo, x.hi, x.xid) s
    WHERE x.lo < to_ts AND x.hi >= from_ts
      AND (imeis IS NULL OR x.imei = ANY (imeis))
      -- a write that every done day of the range saw (finished before the oldest of their
      -- snapshots began) makes none stale: skipped without probing the days
      AND x.xid >= (SELECT min(pg_snapshot_xmin(o.snap)) FROM fleetarc.device_day_done o
                    WHERE o.tz = $4 AND o.max_jump_kmh = $8 AND o.min_distance_m = $5
                      AND o.min_duration = $6 AND o.gap = $7
                      AND o.day_start >= from_ts AND o.day_end <= to_ts)
      AND s.tz = $4 AND s.max_jump_kmh = $8 AND s.min_distance_m = $5
      AND s.min_duration = $6 AND s.gap = $7
      AND s.day_start >= from_ts AND s.day_end <= to_ts
    GROUP BY 1, 2, 3
  LOOP
    -- a device with no cleaned point left gets a row of 0 points: it records the snapshot
    INSERT INTO fleetarc.device_day
    SELECT coalesce(c.imei, v), $4, d.day, $5, $6, $7, $8, d.day_start, d.day_end,
           coalesce(c.km, 0), coalesce(c.points, 0), c.max_speed, c.first_t, c.last_t,
           coalesce(c.trips, 0), c.trip_km, c.moving, c.head_t, c.head_lon, c.head_lat,
           c.tail_t, c.tail_lon, c.tail_lat, pg_current_snapshot(), now()
    FROM unnest(d.devs) v
    LEFT JOIN fleetarc.device_day_compute(d.day_start, d.day_end, d.devs, $4, $5, $6, $7, $8) c
      ON c.imei = v
    ON CONFLICT ON CONSTRAINT device_day_pkey DO UPDATE
    SET km = excluded.km, points = excluded.points, max_speed = excluded.max_speed,
        first_t = excluded.first_t, last_t = excluded.last_t, trips = excluded.trips,
        trip_km = excluded.trip_km, moving = excluded.moving, head_t = excluded.head_t,
        head_lon = excluded.head_lon, head_lat = excluded.head_lat, tail_t = excluded.tail_t,
        tail_lon = excluded.tail_lon, tail_lat = excluded.tail_lat, snap = excluded.snap,
        computed_at = excluded.computed_at;
    n := n + cardinality(d.devs);
  END LOOP;
  RETURN n;
END
$$;
