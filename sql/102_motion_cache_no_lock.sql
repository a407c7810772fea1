-- 102_motion_cache_no_lock.sql: the motion cache (sql/080) without its advisory lock.
-- Before, a report storing cache entries took pg_advisory_xact_lock(1718379877, 2) for
-- the rest of its transaction and every writing statement took it shared: a report left
-- open in psql held the archiver's writes until it ended. Now each entry keeps the
-- snapshot it was computed under (like fleetarc.device_day, sql/100), and a read treats
-- an entry as missing when a motion_dirty entry over its unit was not visible in that
-- snapshot; writers neither take nor wait for any lock of the reports.

TRUNCATE fleetarc.motion_cache;   -- entries without a snapshot: computed again on demand
ALTER TABLE fleetarc.motion_cache ADD COLUMN IF NOT EXISTS snap pg_snapshot NOT NULL;

-- sql/080's trigger function again. Writers take no advisory lock any more; a dirty entry
-- still owed to a cache entry or a done day (computed under a snapshot that did not see
-- it) is not purged after 15 minutes; TRUNCATE empties the day summaries too.
CREATE OR REPLACE FUNCTION fleetarc.motion_invalidate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    DELETE FROM fleetarc.motion_cache;
    DELETE FROM fleetarc.device_day;
    DELETE FROM fleetarc.device_day_done;
    RETURN NULL;
  ELSIF TG_OP = 'INSERT' THEN
    WITH m AS (SELECT n.imei, min(n.gpstime) AS lo, max(n.gpstime) AS hi FROM new_rows n GROUP BY 1),
         gone AS (DELETE FROM fleetarc.motion_cache c USING m
                  WHERE c.imei = m.imei AND c.unit_start <= m.hi AND c.unit_end > m.lo)
    INSERT INTO fleetarc.motion_dirty (imei, lo, hi) SELECT m.imei, m.lo, m.hi FROM m;
  ELSIF TG_OP = 'DELETE' THEN
    WITH m AS (SELECT o.imei, min(o.gpstime) AS lo, max(o.gpstime) AS hi FROM old_rows o GROUP BY 1),
         gone AS (DELETE FROM fleetarc.motion_cache c USING m
                  WHERE c.imei = m.imei AND c.unit_start <= m.hi AND c.unit_end > m.lo)
    INSERT INTO fleetarc.motion_dirty (imei, lo, hi) SELECT m.imei, m.lo, m.hi FROM m;
  ELSE
    WITH m AS (SELECT x.imei, min(x.gpstime) AS lo, max(x.gpstime) AS hi
               FROM (SELECT n.imei, n.gpstime FROM new_rows n
                     UNION ALL SELECT o.imei, o.gpstime FROM old_rows o) x GROUP BY 1),
         gone AS (DELETE FROM fleetarc.motion_cache c USING m
                  WHERE c.imei = m.imei AND c.unit_start <= m.hi AND c.unit_end > m.lo)
    INSERT INTO fleetarc.motion_dirty (imei, lo, hi) SELECT m.imei, m.lo, m.hi FROM m;
  END IF;
  DELETE FROM fleetarc.motion_dirty x
  WHERE x.at < now() - interval '15 minutes'
    AND NOT EXISTS (SELECT 1 FROM fleetarc.device_day_stale_for(x.imei, x.lo, x.hi, x.xid))
    AND NOT EXISTS (SELECT 1 FROM fleetarc.motion_cache c
                    WHERE c.imei = x.imei AND c.unit_start <= x.hi AND c.unit_end > x.lo
                      AND NOT pg_visible_in_snapshot(x.xid, c.snap));
  RETURN NULL;
END
$$;

-- sql/080's motion_cached again, reading and storing entries as above.
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
        (SELECT p.imei FROM fleetarc.positions p ORDER BY p.imei LIMIT 1)
        UNION ALL
        SELECT (SELECT p.imei FROM fleetarc.positions p WHERE p.imei > dev.imei ORDER BY p.imei LIMIT 1)
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
