-- 109_distance_short_head.sql: report_distance exact when the live head of the range (from
-- from_ts to the first local midnight) holds fewer than 3 points of a device.
--
-- The edge changes (sql/105's ex) read the previous unit's last three points as p_t[1..3],
-- the last one third. A stored day has three there (one with fewer sends its device to
-- the live computation), but the live head is exempt since sql/103 (it holds all the
-- range has on its side) and edge_points returns only the points it has: with one or two,
-- p_t[3] was NULL, so the step from the head's last point into the first stored day was
-- dropped, and a spike there was judged without its neighbour (sql/103's edge_fix read
-- a_t[3] the same way). Found by comparing report_distance with distance_live over random
-- ranges, zones and sparse tracks (16 cases, 2 differed: America/New_York, a device with
-- one point in a 38-minute head, 4.9 km missing from its first day); the head's last
-- points are now put last in three (NULL before them), as a stored day's are. The live
-- tail was right: its first points are read from the front. tests/sql/reports_device_day.sql
-- checks heads of 1 and 2 points against the live path (it failed before: 4 rows).

-- the last points of a bound as its last three: NULL in front when it holds fewer
CREATE OR REPLACE FUNCTION fleetarc.last3(a float8[]) RETURNS float8[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN cardinality(a) < 3 THEN array_fill(NULL::float8, ARRAY[3 - cardinality(a)]) || a
              ELSE a END
$$;

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
    WITH hd AS MATERIALIZED (     -- live, before the first local midnight
      SELECT l.* FROM fleetarc.distance_live(from_ts, h, imeis, max_jump_kmh, tz) l
      WHERE from_ts < h
    ), tl AS MATERIALIZED (       -- live, after the last finished day
      SELECT l.* FROM fleetarc.distance_live(cut, to_ts, imeis, max_jump_kmh, tz) l
      WHERE cut < to_ts
    ), seq AS (      -- the non-empty units of each device in time order: the stored days
                     -- (read once, only the columns used) and the bounds; with the
                     -- previous unit's last points and the next unit's first point
      SELECT s.*, lag(s.tail_t) OVER w AS p_t, lag(s.tail_lon) OVER w AS p_lon,
             lag(s.tail_lat) OVER w AS p_lat, lag(s.bound) OVER w AS p_bound,
             lead(s.head_t[1]) OVER w AS n_t, lead(s.head_lon[1]) OVER w AS n_lon,
             lead(s.head_lat[1]) OVER w AS n_lat, lead(s.k) OVER w AS n_k
      FROM (SELECT r.imei, r.day_start AS k, r.day, r.km, r.points, r.head_t, r.head_lon,
                   r.head_lat, r.tail_t, r.tail_lon, r.tail_lat, false AS bound
            FROM fleetarc.device_day r
            WHERE r.tz = $5 AND r.max_jump_kmh = $4 AND r.min_distance_m = 200
              AND r.min_duration = '180 s' AND r.gap = '3600 s'
              AND r.day_start >= h AND r.day_end <= cut AND r.points > 0
              -- the same days, as a range of the key (rows of other days are not read)
              AND r.day >= (h AT TIME ZONE $5)::date AND r.day < (cut AT TIME ZONE $5)::date
              AND (imeis IS NULL OR r.imei = ANY (imeis))
            UNION ALL
            SELECT v.imei, from_ts, NULL, NULL, NULL, NULL, NULL, NULL,
                   fleetarc.last3(e.t), fleetarc.last3(e.lon), fleetarc.last3(e.lat), true
            FROM (SELECT DISTINCT hd.imei FROM hd) v
            CROSS JOIN LATERAL fleetarc.edge_points(v.imei, from_ts, h, true) e
            WHERE EXISTS (SELECT 1 FROM fleetarc.device_day r
                          WHERE r.imei = v.imei AND r.tz = $5 AND r.max_jump_kmh = $4
                            AND r.min_distance_m = 200 AND r.min_duration = '180 s'
                            AND r.gap = '3600 s' AND r.day_start >= h AND r.day_end <= cut
                            AND r.points > 0)
               OR EXISTS (SELECT 1 FROM tl WHERE tl.imei = v.imei)
            UNION ALL
            SELECT v.imei, cut, NULL, NULL, NULL, e.t, e.lon, e.lat, NULL, NULL, NULL, true
            FROM (SELECT DISTINCT tl.imei FROM tl) v
            CROSS JOIN LATERAL fleetarc.edge_points(v.imei, cut, to_ts, false) e
            WHERE EXISTS (SELECT 1 FROM fleetarc.device_day r
                          WHERE r.imei = v.imei AND r.tz = $5 AND r.max_jump_kmh = $4
                            AND r.min_distance_m = 200 AND r.min_duration = '180 s'
                            AND r.gap = '3600 s' AND r.day_start >= h AND r.day_end <= cut
                            AND r.points > 0)
               OR EXISTS (SELECT 1 FROM hd WHERE hd.imei = v.imei)) s
      WINDOW w AS (PARTITION BY s.imei ORDER BY s.k)
    ), live AS (     -- devices whose edges reach beyond three points (a bound unit, the
                     -- live head or tail, holds all the range's points on its side)
      SELECT DISTINCT seq.imei FROM seq
      WHERE seq.p_t IS NOT NULL
        AND ((cardinality(seq.p_t) < 3 AND NOT seq.p_bound)
             OR (coalesce(cardinality(seq.head_t), 0) < 3 AND NOT seq.bound))
    ), ex AS (       -- sql/100's edge_fix, per unit (bound or not): what cleaning the units joined changes
                     -- against cleaning each alone, at the three points that see across an
                     -- edge. Edge from the previous unit (a = its last three points) to
                     -- this one (d = its first three): d1 alone has no previous point
                     -- (kept, no step), joined it is cleaned after a3; d2 is kept or not
                     -- alike (same neighbours), and its step changes only when, joined, d1
                     -- is a spike after a3 (then it is from a3). Edge from this unit (its
                     -- last three points, a again) to the next (its first point n): a3 alone
                     -- is kept (no next point) with its step from a2 (or a1), joined it
                     -- loses point and step when n makes it a spike.
      SELECT e.imei, e.k, e.day, e.km, e.points, e.bound, e.p_t IS NOT NULL AS has_p,
             e.d1, e.d2, e.a3,
             CASE WHEN e.p_t IS NOT NULL
                  THEN fleetarc.clean_km(e.d1, e.d1lon, e.d1lat, e.a3, e.a3lon, e.a3lat,
                                         e.a2, e.a2lon, e.a2lat, e.d2, e.d2lon, e.d2lat, max_jump_kmh)
             END AS d1_km,
             CASE WHEN e.p_t IS NULL THEN NULL
                  WHEN fleetarc.clean_kept(e.d1, e.d1lon, e.d1lat, e.a3, e.a3lon, e.a3lat,
                                           e.d2, e.d2lon, e.d2lat, max_jump_kmh) THEN 0
                  ELSE -1 END AS d1_pts,
             CASE WHEN e.p_t IS NULL THEN NULL
                  WHEN coalesce(fleetarc.approx_km(e.a3lon, e.a3lat, e.d1lon, e.d1lat) * 3600
                                  > max_jump_kmh * greatest(e.d1 - e.a3, 0.001)
                                AND fleetarc.approx_km(e.d1lon, e.d1lat, e.d2lon, e.d2lat) * 3600
                                  > max_jump_kmh * greatest(e.d2 - e.d1, 0.001), false)
                       AND fleetarc.clean_kept(e.d2, e.d2lon, e.d2lat, e.d1, e.d1lon, e.d1lat,
                                               e.d3, e.d3lon, e.d3lat, max_jump_kmh)
                  THEN fleetarc.clean_step(e.d2, e.d2lon, e.d2lat, e.a3, e.a3lon, e.a3lat, max_jump_kmh)
                       - fleetarc.clean_step(e.d2, e.d2lon, e.d2lat, e.d1, e.d1lon, e.d1lat, max_jump_kmh)
                  ELSE 0 END AS d2_km,
             e.n_k IS NOT NULL AND e.tail_t IS NOT NULL AS has_n,
             e.t3,
             CASE WHEN e.n_k IS NULL OR e.tail_t IS NULL THEN NULL
                  WHEN fleetarc.clean_kept(e.t3, e.t3lon, e.t3lat, e.t2, e.t2lon, e.t2lat,
                                           e.n_t, e.n_lon, e.n_lat, max_jump_kmh) THEN 0
                  ELSE 0 - fleetarc.clean_km(e.t3, e.t3lon, e.t3lat, e.t2, e.t2lon, e.t2lat,
                                             e.t1, e.t1lon, e.t1lat, NULL, NULL, NULL, max_jump_kmh)
             END AS n_km,
             CASE WHEN e.n_k IS NULL OR e.tail_t IS NULL THEN NULL
                  WHEN fleetarc.clean_kept(e.t3, e.t3lon, e.t3lat, e.t2, e.t2lon, e.t2lat,
                                           e.n_t, e.n_lon, e.n_lat, max_jump_kmh) THEN 0
                  ELSE -1 END AS n_pts
      FROM (SELECT seq.imei, seq.k, seq.day, seq.km, seq.points, seq.bound, seq.p_t, seq.tail_t,
                   seq.n_k, seq.n_t, seq.n_lon, seq.n_lat,
                   seq.p_t[1] AS a1, seq.p_lon[1] AS a1lon, seq.p_lat[1] AS a1lat,
                   seq.p_t[2] AS a2, seq.p_lon[2] AS a2lon, seq.p_lat[2] AS a2lat,
                   seq.p_t[3] AS a3, seq.p_lon[3] AS a3lon, seq.p_lat[3] AS a3lat,
                   seq.head_t[1] AS d1, seq.head_lon[1] AS d1lon, seq.head_lat[1] AS d1lat,
                   seq.head_t[2] AS d2, seq.head_lon[2] AS d2lon, seq.head_lat[2] AS d2lat,
                   seq.head_t[3] AS d3, seq.head_lon[3] AS d3lon, seq.head_lat[3] AS d3lat,
                   seq.tail_t[1] AS t1, seq.tail_lon[1] AS t1lon, seq.tail_lat[1] AS t1lat,
                   seq.tail_t[2] AS t2, seq.tail_lon[2] AS t2lon, seq.tail_lat[2] AS t2lat,
                   seq.tail_t[3] AS t3, seq.tail_lon[3] AS t3lon, seq.tail_lat[3] AS t3lat
            FROM seq WHERE NOT EXISTS (SELECT 1 FROM live WHERE live.imei = seq.imei)
            OFFSET 0) e   -- the array elements once a row, not once a use
      OFFSET 0        -- computed here once (a projection), not in a VALUES list above,
                      -- which would compile its expressions again for every row
    ), fx AS (       -- the stored units
      SELECT * FROM ex WHERE NOT ex.bound
    ), bx AS (       -- the bound units (the live head and tail)
      SELECT * FROM ex WHERE ex.bound
    ), g AS (
      -- a stored day: its km and points, then (as sql/100 added them, in this order) the
      -- changes at its first points (edge from the previous unit) and at its last point
      -- (edge to the next unit); all these points are of that local day
      SELECT fx.imei, fx.day,
             CASE WHEN fx.has_n THEN coalesce(x.km, 0) + coalesce(fx.n_km, 0) ELSE x.km END AS km,
             fx.points::bigint + coalesce(fx.d1_pts, 0) + coalesce(fx.n_pts, 0) AS points
      FROM fx CROSS JOIN LATERAL (
        SELECT CASE WHEN fx.has_p THEN fx.km + coalesce(fx.d1_km, 0) + coalesce(fx.d2_km, 0)
                    ELSE fx.km END AS km) x
      UNION ALL
      -- the live head and tail, and the changes at the points of their edges, by the
      -- local day of each point
      SELECT y.imei, y.day, sum(y.km), sum(y.points)::bigint
      FROM (SELECT hd.imei, hd.day, hd.km, hd.points FROM hd
            UNION ALL
            SELECT tl.imei, tl.day, tl.km, tl.points FROM tl
            UNION ALL
            SELECT bx.imei, (to_timestamp(f.t) AT TIME ZONE tz)::date, f.dkm, f.dpts::bigint
            FROM bx CROSS JOIN LATERAL (VALUES (bx.d1, bx.d1_km, bx.d1_pts, bx.has_p),
                                               (bx.d2, bx.d2_km, 0, bx.has_p),
                                               (bx.t3, bx.n_km, bx.n_pts, bx.has_n)) f (t, dkm, dpts, ok)
            WHERE f.ok) y
      WHERE NOT EXISTS (SELECT 1 FROM live WHERE live.imei = y.imei)
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
