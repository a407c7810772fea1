-- 103_distance_edges.sql: report_distance reads the stored days also when the range has
-- a short live head or tail (issue 16). sql/100 sent a device to the live computation of
-- the whole range when an edge unit held fewer than 3 points; the head (from_ts to the
-- first local midnight) and the tail (the last local midnight to to_ts) are computed live
-- from the range's points, so when one of them holds fewer than 3 points it holds all the
-- range has on that side: the live computation sees no more, and the edge fix is exact.
-- Measured: 30 days of 1,000 devices in Europe/Berlin over UTC-midnight bounds (the tail
-- is the hour 23:00-24:00 UTC, 2 points of a parked device) went live (13.7 s warm).
-- Only the bound units are exempt; a stored day of fewer than 3 points still sends its
-- device live, as in sql/100.
CREATE OR REPLACE FUNCTION fleetarc.report_distance(
    from_ts timestamptz, to_ts timestamptz, imeis text[] DEFAULT NULL,
    max_jump_kmh float8 DEFAULT 250, tz text DEFAULT 'UTC')
RETURNS TABLE (imei text, devicename text, platenumber text, day date, km float8,
               points bigint)
LANGUAGE plpgsql VOLATILE SET jit = off AS $$
#variable_conflict use_column
DECLARE
  h timestamptz;
  cut timestamptz;
BEGIN
  SELECT s.h, s.cut INTO h, cut FROM fleetarc.device_day_span(from_ts, to_ts, tz) s;
  IF cut IS NULL OR NOT fleetarc.device_day_ensure(h, cut, imeis, tz, 200, '180 s', '3600 s',
                                                   max_jump_kmh) THEN
    RETURN QUERY
      SELECT g.imei, d.devicename, d.platenumber, g.day, g.km, g.points
      FROM fleetarc.distance_live(from_ts, to_ts, imeis, max_jump_kmh, tz) g
      LEFT JOIN fleetarc.devices d ON d.imei = g.imei
      ORDER BY 1, 4;
    RETURN;
  END IF;
  RETURN QUERY
    WITH st AS MATERIALIZED (     -- the stored days
      SELECT r.* FROM fleetarc.device_day r
      WHERE r.tz = $5 AND r.max_jump_kmh = $4 AND r.min_distance_m = 200
        AND r.min_duration = '180 s' AND r.gap = '3600 s'
        AND r.day_start >= h AND r.day_end <= cut AND r.points > 0
        AND (imeis IS NULL OR r.imei = ANY (imeis))
    ), hd AS MATERIALIZED (       -- live, before the first local midnight
      SELECT l.* FROM fleetarc.distance_live(from_ts, h, imeis, max_jump_kmh, tz) l
      WHERE from_ts < h
    ), tl AS MATERIALIZED (       -- live, after the last finished day
      SELECT l.* FROM fleetarc.distance_live(cut, to_ts, imeis, max_jump_kmh, tz) l
      WHERE cut < to_ts
    ), seq AS (      -- the non-empty units of each device in time order, with the previous
      SELECT s.*, lag(s.tail_t) OVER w AS p_t, lag(s.tail_lon) OVER w AS p_lon,
             lag(s.tail_lat) OVER w AS p_lat, lag(s.bound) OVER w AS p_bound
      FROM (SELECT st.imei, st.day_start AS k, st.head_t, st.head_lon, st.head_lat,
                   st.tail_t, st.tail_lon, st.tail_lat, false AS bound FROM st
            UNION ALL
            SELECT v.imei, from_ts, NULL, NULL, NULL, e.t, e.lon, e.lat, true
            FROM (SELECT DISTINCT hd.imei FROM hd) v
            CROSS JOIN LATERAL fleetarc.edge_points(v.imei, from_ts, h, true) e
            WHERE EXISTS (SELECT 1 FROM st WHERE st.imei = v.imei)
               OR EXISTS (SELECT 1 FROM tl WHERE tl.imei = v.imei)
            UNION ALL
            SELECT v.imei, cut, e.t, e.lon, e.lat, NULL, NULL, NULL, true
            FROM (SELECT DISTINCT tl.imei FROM tl) v
            CROSS JOIN LATERAL fleetarc.edge_points(v.imei, cut, to_ts, false) e
            WHERE EXISTS (SELECT 1 FROM st WHERE st.imei = v.imei)
               OR EXISTS (SELECT 1 FROM hd WHERE hd.imei = v.imei)) s
      WINDOW w AS (PARTITION BY s.imei ORDER BY s.k)
    ), live AS (     -- devices whose edges reach beyond three points (a bound unit, the
                     -- live head or tail, holds all the range's points on its side)
      SELECT DISTINCT seq.imei FROM seq
      WHERE seq.p_t IS NOT NULL
        AND ((cardinality(seq.p_t) < 3 AND NOT seq.p_bound)
             OR (coalesce(cardinality(seq.head_t), 0) < 3 AND NOT seq.bound))
    ), parts AS (
      SELECT st.imei, st.day, st.km, st.points::bigint AS points FROM st
      UNION ALL
      SELECT hd.imei, hd.day, hd.km, hd.points FROM hd
      UNION ALL
      SELECT tl.imei, tl.day, tl.km, tl.points FROM tl
      UNION ALL
      SELECT seq.imei, (to_timestamp(f.t) AT TIME ZONE tz)::date, f.dkm, f.dpts::bigint
      FROM seq CROSS JOIN LATERAL fleetarc.edge_fix(seq.p_t, seq.p_lon, seq.p_lat, seq.head_t,
                                                    seq.head_lon, seq.head_lat, max_jump_kmh) f
      WHERE seq.p_t IS NOT NULL
    ), g AS (
      SELECT x.imei, x.day, sum(x.km) AS km, sum(x.points)::bigint AS points
      FROM parts x WHERE NOT EXISTS (SELECT 1 FROM live WHERE live.imei = x.imei)
      GROUP BY 1, 2
      UNION ALL
      SELECT l.imei, l.day, l.km, l.points
      FROM fleetarc.distance_live(from_ts, to_ts,
                                  coalesce((SELECT array_agg(live.imei) FROM live), '{}'),
                                  max_jump_kmh, tz) l
      WHERE EXISTS (SELECT 1 FROM live)
    )
    SELECT g.imei, d.devicename, d.platenumber, g.day, g.km, g.points
    FROM g LEFT JOIN fleetarc.devices d ON d.imei = g.imei
    WHERE g.points > 0
    ORDER BY 1, 4;
END
$$;
