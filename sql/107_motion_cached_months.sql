-- 107_motion_cached_months.sql: trips, stops and the summary's live units (sql/102's
-- motion_cached) no longer read every month kept (issue 22: "no report's time grows with
-- months kept").
--
-- For all devices, motion_cached found the devices with a point in the range by skipping
-- through the primary key (imei, gpstime) of fleetarc.positions from one IMEI to the
-- next: a Merge Append over the key of every partition, so each step read every month
-- kept, and a year of monthly partitions made every trips or stops report of one day
-- read twelve keys. The skip now runs over the UTC months the range touches (as sql/101
-- did for report_latest): partition pruning keeps their partitions only, where each
-- device's first entry satisfies the bound, and each device found is still checked for
-- a point inside the range itself. Not fleetarc.devices: positions of a device not listed
-- there (a hand COPY) still count. Same devices, same results.

CREATE OR REPLACE FUNCTION fleetarc.motion_cached(
    from_ts timestamptz, to_ts timestamptz, imeis text[], tz text,
    min_distance_m float8, min_duration interval, gap interval, max_jump_kmh float8)
RETURNS TABLE (imei text, unit_start timestamptz, unit_end timestamptz, unit_day date,
               seg fleetarc.motion_seg)
LANGUAGE plpgsql VOLATILE SET jit = off AS $$
#variable_conflict use_column
DECLARE
  devs text[];
  miss text[];
  lo timestamptz; hi timestamptz;
  ready boolean;
  snap pg_snapshot;
  fresh fleetarc.motion_cache[];
  hit fleetarc.motion_cache[];
BEGIN
  ready := fleetarc.motion_cache_ready();
  IF imeis IS NULL THEN
    devs := ARRAY(
      WITH RECURSIVE dev(imei) AS (
        (SELECT p.imei FROM fleetarc.positions p
         WHERE p.gpstime >= date_trunc('month', from_ts, 'UTC')
           AND p.gpstime < date_trunc('month', to_ts - interval '1 microsecond', 'UTC') + interval '1 month'
         ORDER BY p.imei LIMIT 1)
        UNION ALL
        SELECT (SELECT p.imei FROM fleetarc.positions p
                WHERE p.imei > dev.imei
                  AND p.gpstime >= date_trunc('month', from_ts, 'UTC')
                  AND p.gpstime < date_trunc('month', to_ts - interval '1 microsecond', 'UTC') + interval '1 month'
                ORDER BY p.imei LIMIT 1)
        FROM dev WHERE dev.imei IS NOT NULL)
      SELECT dev.imei FROM dev
      WHERE dev.imei IS NOT NULL
        AND EXISTS (SELECT 1 FROM fleetarc.positions p WHERE p.imei = dev.imei
                    AND p.gpstime >= from_ts AND p.gpstime < to_ts));
  ELSE
    devs := ARRAY(SELECT DISTINCT u FROM unnest(imeis) u
                  WHERE EXISTS (SELECT 1 FROM fleetarc.positions p WHERE p.imei = u
                                AND p.gpstime >= from_ts AND p.gpstime < to_ts));
  END IF;
  IF ready THEN
    -- an entry is stale when a write over its unit was not seen by its computation
    hit := ARRAY(SELECT c FROM fleetarc.report_units(from_ts, to_ts, tz) u
                 JOIN fleetarc.motion_cache c ON c.unit_start = u.unit_start AND c.unit_end = u.unit_end
                 WHERE c.imei = ANY (devs) AND c.min_distance_m = $5 AND c.min_duration = $6
                   AND c.gap = $7 AND c.max_jump_kmh = $8
                   AND NOT EXISTS (SELECT 1 FROM fleetarc.motion_dirty x
                                   WHERE x.imei = c.imei AND x.lo < c.unit_end AND x.hi >= c.unit_start
                                     AND NOT pg_visible_in_snapshot(x.xid, c.snap)));
    SELECT array_agg(DISTINCT d), min(u.unit_start), max(u.unit_end) INTO miss, lo, hi
    FROM unnest(devs) d CROSS JOIN fleetarc.report_units(from_ts, to_ts, tz) u
    LEFT JOIN unnest(hit) h ON h.imei = d AND h.unit_start = u.unit_start
    WHERE h.imei IS NULL;
  ELSE
    miss := devs; lo := from_ts; hi := to_ts;
  END IF;
  IF miss IS NOT NULL AND cardinality(miss) > 0 THEN
    -- one statement: the snapshot of the computation
    SELECT pg_current_snapshot(), (
      SELECT array_agg(ROW(d, u.unit_start, u.unit_end, $5, $6, $7, $8,
                           coalesce(s.segs, '{}'), now(), pg_current_snapshot())::fleetarc.motion_cache)
      FROM unnest(miss) d
      CROSS JOIN fleetarc.report_units(from_ts, to_ts, tz) u
      LEFT JOIN (
        SELECT m.imei, m.unit,
               array_agg(ROW(m.kind, m.start_time, m.end_time, m.start_lon, m.start_lat,
                             m.end_lon, m.end_lat, m.km, m.max_speed, m.points)::fleetarc.motion_seg
                         ORDER BY m.start_time, CASE m.kind WHEN 'first' THEN 0 WHEN 'trip' THEN 1 ELSE 2 END) AS segs
        -- one pass: a query of PL/pgSQL run this way gets no parallel workers, and two
        -- halves one after the other would read every row twice
        FROM fleetarc.motion_units_part(lo, hi,
               CASE WHEN imeis IS NULL AND cardinality(miss) = cardinality(devs) THEN NULL ELSE miss END,
               tz, $5, $6, $7, $8, 0, 1) m
        GROUP BY 1, 2) s ON s.imei = d AND s.unit = u.unit_start
      WHERE u.unit_start >= lo AND u.unit_end <= hi)
    INTO snap, fresh;
    IF ready THEN
      -- writers still in flight are not waited for: their entries, once committed, are
      -- not visible in this snapshot, and the next read drops what they touched
      INSERT INTO fleetarc.motion_cache
      SELECT f.* FROM unnest(fresh) f
      WHERE NOT EXISTS (SELECT 1 FROM fleetarc.motion_dirty x
                        WHERE x.imei = f.imei AND x.lo < f.unit_end AND x.hi >= f.unit_start
                          AND NOT pg_visible_in_snapshot(x.xid, snap))
      ON CONFLICT DO NOTHING;
    END IF;
  END IF;
  RETURN QUERY
    SELECT f.imei, f.unit_start, f.unit_end, u.unit_day, s
    FROM unnest(fresh) f
    JOIN fleetarc.report_units(from_ts, to_ts, tz) u ON u.unit_start = f.unit_start
    CROSS JOIN LATERAL unnest(f.segs) s;
  RETURN QUERY
    SELECT c.imei, c.unit_start, c.unit_end, u.unit_day, s
    FROM fleetarc.report_units(from_ts, to_ts, tz) u
    JOIN unnest(hit) c ON c.unit_start = u.unit_start
    CROSS JOIN LATERAL unnest(c.segs) s
    WHERE NOT (c.imei = ANY (coalesce(miss, '{}')) AND u.unit_start >= lo AND u.unit_end <= hi);
END
$$;
