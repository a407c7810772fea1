-- 101_report_plans.sql: the plan fixes of issue 22 not done by sql/082.
--
-- The header of sql/050 says the reports read positions "in the primary key's order, so
-- no sort". That does not hold: a report of all devices reads a day through the BRIN
-- index (sql/082) or the whole range, so the window functions sort once; and every
-- consumer of track_clean_ext / track_units (route's running km, motion_part's and
-- motion_units_part's ORDER BY, speeding's window) sorted a second time, because the
-- OFFSET 0 fences inside those functions hid the order of their rows from the planner
-- (motion_part's second sort spilled 98 MB at 2,000 devices). Both are made again below
-- with an ORDER BY at each fence, on the order the window already produced: one sort per
-- report (one device's rows too: the planner reads them by a bitmap scan of the key).
--
-- motion_part and motion_units_part: COST 1000000 made the planner run the two halves of
-- motion_segments in two parallel workers even for one device (+50 ms a call, and each
-- worker read the whole range to drop half of it by hash). The reports call
-- motion_units_part in one pass since sql/081/082; both get an ordinary cost.
--
-- report_latest: its devices were found by skipping through the key of every partition
-- (12 k of 30 k buffers in empty partitions at 2,000 devices): its cost grew with the
-- months kept. The skip now runs over the (UTC) months the range touches only, which
-- partition pruning reduces to their partitions (monthly, sql/001), and each device's
-- first row there is the first entry of its key; then each device is probed through the
-- key. Not fleetarc.devices alone: positions of a device not listed there (a hand COPY)
-- still count, as before.

-- BRIN and out-of-order backfills: positions_gpstime_brin (sql/082) has autosummarize on,
-- so pages filled since the last vacuum are summarized by autovacuum. It skips pages only
-- where rows were stored in time order, as `fleetarc run` stores them. A backfill stores
-- rows in the order the devices' playback pages arrive, each page a stretch of one
-- device's time that advances per device on its own: the heap pages of a backfilled
-- month hold rows from all over the month, and a report of one day reads most of them
-- (bench/reports/bench_scale.sh with SCALE_LAYOUT=device measures it). The reports stay
-- exact, only slower there; fleetarc.brin_resummarize (sql/082) does not help with that,
-- since the rows themselves are interleaved: only rewriting the partition in time order
-- (CLUSTER on a gpstime b-tree, or pg_repack) does. Days read from fleetarc.device_day
-- (sql/100) do not depend on it.

CREATE OR REPLACE FUNCTION fleetarc.track_clean_ext(
    from_ts timestamptz, to_ts timestamptz, imeis text[] DEFAULT NULL,
    max_jump_kmh float8 DEFAULT 250, part integer DEFAULT 0, parts integer DEFAULT 1)
RETURNS TABLE (imei text, gpstime timestamptz, longitude float8, latitude float8,
               speed float8, course float8, step_km float8, dt_s float8, jump boolean,
               t float8, prev_t float8, prev_lon float8, prev_lat float8, prev_km float8,
               last_pt boolean)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT k.imei, k.gpstime, k.lon, k.lat, k.spd, k.crs,
         CASE WHEN k.kt IS NULL THEN NULL WHEN k.jmp OR k.dt <= 0 THEN 0 ELSE k.d END,
         k.dt, k.jmp, k.t, k.kt, k.klon, k.klat,
         fleetarc.approx_km(k.klon, k.klat, k.lon, k.lat), k.nt IS NULL
  FROM (
    SELECT j.*, coalesce(j.t > j.kt AND j.d * 3600 > max_jump_kmh * (j.t - j.kt), false) AS jmp
    FROM (
      SELECT i.*, i.t - i.kt AS dt, fleetarc.haversine_km(i.klon, i.klat, i.lon, i.lat) AS d
      FROM (
        SELECT h.imei, h.gpstime, h.t, h.lon, h.lat, h.spd, h.crs, h.nt,
               CASE WHEN h.pspike THEN h.pt2 ELSE h.pt1 END AS kt,
               CASE WHEN h.pspike THEN h.plon2 ELSE h.plon1 END AS klon,
               CASE WHEN h.pspike THEN h.plat2 ELSE h.plat1 END AS klat
        FROM (
          SELECT g.*,
                 coalesce(g.din * 3600 > max_jump_kmh * greatest(g.t - g.pt1, 0.001)
                      AND fleetarc.approx_km(g.lon, g.lat, g.nlon, g.nlat) * 3600
                          > max_jump_kmh * greatest(g.nt - g.t, 0.001), false) AS spike,
                 coalesce(fleetarc.approx_km(g.plon2, g.plat2, g.plon1, g.plat1) * 3600
                          > max_jump_kmh * greatest(g.pt1 - g.pt2, 0.001)
                      AND g.din * 3600 > max_jump_kmh * greatest(g.t - g.pt1, 0.001), false) AS pspike
          FROM (
            SELECT f.*, fleetarc.approx_km(f.plon1, f.plat1, f.lon, f.lat) AS din
            FROM (
              SELECT p.imei, p.gpstime, date_part('epoch', p.gpstime) AS t,
                     p.longitude::float8 AS lon, p.latitude::float8 AS lat,
                     p.speed::float8 AS spd, p.course::float8 AS crs,
                     lag(date_part('epoch', p.gpstime)) OVER w AS pt1,
                     lag(p.longitude::float8) OVER w AS plon1, lag(p.latitude::float8) OVER w AS plat1,
                     lag(date_part('epoch', p.gpstime), 2) OVER w AS pt2,
                     lag(p.longitude::float8, 2) OVER w AS plon2, lag(p.latitude::float8, 2) OVER w AS plat2,
                     lead(date_part('epoch', p.gpstime)) OVER w AS nt,
                     lead(p.longitude::float8) OVER w AS nlon, lead(p.latitude::float8) OVER w AS nlat
              FROM (
                SELECT a.* FROM fleetarc.positions a
                WHERE imeis IS NULL AND a.gpstime >= from_ts AND a.gpstime < to_ts
                UNION ALL
                SELECT b.* FROM fleetarc.positions b
                WHERE b.imei = ANY (imeis) AND b.gpstime >= from_ts AND b.gpstime < to_ts
              ) p
              WHERE (parts = 1 OR (hashtext(p.imei) & 1023) % parts = part)
                AND NOT (p.longitude = 0 AND p.latitude = 0)
                AND p.latitude BETWEEN -90 AND 90 AND p.longitude BETWEEN -180 AND 180
              WINDOW w AS (PARTITION BY p.imei ORDER BY p.gpstime)
            ) f
            ORDER BY f.imei, f.gpstime
            OFFSET 0
          ) g
          ORDER BY g.imei, g.gpstime
          OFFSET 0
        ) h
        WHERE NOT h.spike
      ) i
      ORDER BY i.imei, i.gpstime
      OFFSET 0
    ) j
  ) k
$$;

CREATE OR REPLACE FUNCTION fleetarc.track_units(
    from_ts timestamptz, to_ts timestamptz, imeis text[], tz text,
    max_jump_kmh float8 DEFAULT 250, part integer DEFAULT 0, parts integer DEFAULT 1)
RETURNS TABLE (imei text, unit timestamptz, gpstime timestamptz, longitude float8,
               latitude float8, speed float8, step_km float8, dt_s float8, jump boolean,
               t float8, prev_t float8, prev_lon float8, prev_lat float8, prev_km float8,
               last_pt boolean)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT k.imei, k.unit, k.gpstime, k.lon, k.lat, k.spd,
         CASE WHEN k.kt IS NULL THEN NULL WHEN k.jmp OR k.dt <= 0 THEN 0 ELSE k.d END,
         k.dt, k.jmp, k.t, k.kt, k.klon, k.klat,
         fleetarc.approx_km(k.klon, k.klat, k.lon, k.lat), k.nt IS NULL
  FROM (
    SELECT j.*, coalesce(j.t > j.kt AND j.d * 3600 > max_jump_kmh * (j.t - j.kt), false) AS jmp
    FROM (
      SELECT i.*, i.t - i.kt AS dt, fleetarc.haversine_km(i.klon, i.klat, i.lon, i.lat) AS d
      FROM (
        SELECT h.imei, h.unit, h.gpstime, h.t, h.lon, h.lat, h.spd, h.nt,
               CASE WHEN h.pspike THEN h.pt2 ELSE h.pt1 END AS kt,
               CASE WHEN h.pspike THEN h.plon2 ELSE h.plon1 END AS klon,
               CASE WHEN h.pspike THEN h.plat2 ELSE h.plat1 END AS klat
        FROM (
          SELECT g.*,
                 coalesce(g.din * 3600 > max_jump_kmh * greatest(g.t - g.pt1, 0.001)
                      AND fleetarc.approx_km(g.lon, g.lat, g.nlon, g.nlat) * 3600
                          > max_jump_kmh * greatest(g.nt - g.t, 0.001), false) AS spike,
                 coalesce(fleetarc.approx_km(g.plon2, g.plat2, g.plon1, g.plat1) * 3600
                          > max_jump_kmh * greatest(g.pt1 - g.pt2, 0.001)
                      AND g.din * 3600 > max_jump_kmh * greatest(g.t - g.pt1, 0.001), false) AS pspike
          FROM (
            SELECT f.*, fleetarc.approx_km(f.plon1, f.plat1, f.lon, f.lat) AS din
            FROM (
              SELECT p.imei, p.unit, p.gpstime, date_part('epoch', p.gpstime) AS t,
                     p.longitude::float8 AS lon, p.latitude::float8 AS lat,
                     p.speed::float8 AS spd,
                     lag(date_part('epoch', p.gpstime)) OVER w AS pt1,
                     lag(p.longitude::float8) OVER w AS plon1, lag(p.latitude::float8) OVER w AS plat1,
                     lag(date_part('epoch', p.gpstime), 2) OVER w AS pt2,
                     lag(p.longitude::float8, 2) OVER w AS plon2, lag(p.latitude::float8, 2) OVER w AS plat2,
                     lead(date_part('epoch', p.gpstime)) OVER w AS nt,
                     lead(p.longitude::float8) OVER w AS nlon, lead(p.latitude::float8) OVER w AS nlat
              FROM (
                SELECT q.*, CASE WHEN tz IS NULL THEN from_ts
                                 ELSE greatest(from_ts, (q.gpstime AT TIME ZONE tz)::date::timestamp AT TIME ZONE tz)
                            END AS unit
                FROM (
                  SELECT a.* FROM fleetarc.positions a
                  WHERE imeis IS NULL AND a.gpstime >= from_ts AND a.gpstime < to_ts
                  UNION ALL
                  SELECT b.* FROM fleetarc.positions b
                  WHERE b.imei = ANY (imeis) AND b.gpstime >= from_ts AND b.gpstime < to_ts
                ) q
                WHERE (parts = 1 OR (hashtext(q.imei) & 1023) % parts = part)
                  AND NOT (q.longitude = 0 AND q.latitude = 0)
                  AND q.latitude BETWEEN -90 AND 90 AND q.longitude BETWEEN -180 AND 180
              ) p
              WINDOW w AS (PARTITION BY p.imei, p.unit ORDER BY p.gpstime)
            ) f
            ORDER BY f.imei, f.unit, f.gpstime
            OFFSET 0
          ) g
          ORDER BY g.imei, g.unit, g.gpstime
          OFFSET 0
        ) h
        WHERE NOT h.spike
      ) i
      ORDER BY i.imei, i.unit, i.gpstime
      OFFSET 0
    ) j
  ) k
$$;

ALTER FUNCTION fleetarc.motion_part(timestamptz, timestamptz, text[], float8, interval, interval, float8, integer, integer)
  COST 10000 ROWS 100;
ALTER FUNCTION fleetarc.motion_units_part(timestamptz, timestamptz, text[], text, float8, interval, interval, float8, integer, integer)
  COST 10000 ROWS 100;

CREATE OR REPLACE FUNCTION fleetarc.report_latest(
    from_ts timestamptz, to_ts timestamptz, imeis text[] DEFAULT NULL)
RETURNS TABLE (imei text, devicename text, platenumber text, gpstime timestamptz,
               longitude float8, latitude float8, speed float8, course float8)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  WITH RECURSIVE dev(imei) AS (
    (SELECT p.imei FROM fleetarc.positions p
     WHERE imeis IS NULL
       AND p.gpstime >= date_trunc('month', from_ts, 'UTC')
       AND p.gpstime < date_trunc('month', to_ts - interval '1 microsecond', 'UTC') + interval '1 month'
     ORDER BY p.imei LIMIT 1)
    UNION ALL
    SELECT (SELECT p.imei FROM fleetarc.positions p
            WHERE p.imei > dev.imei
              AND p.gpstime >= date_trunc('month', from_ts, 'UTC')
              AND p.gpstime < date_trunc('month', to_ts - interval '1 microsecond', 'UTC') + interval '1 month'
            ORDER BY p.imei LIMIT 1)
    FROM dev WHERE dev.imei IS NOT NULL
  ), wanted AS (
    SELECT dev.imei FROM dev WHERE dev.imei IS NOT NULL
    UNION
    SELECT u FROM unnest(imeis) u
  )
  SELECT l.imei, d.devicename, d.platenumber, l.gpstime, l.longitude::float8,
         l.latitude::float8, l.speed::float8, l.course::float8
  FROM wanted w
  CROSS JOIN LATERAL (
    SELECT p.* FROM fleetarc.positions p
    WHERE p.imei = w.imei AND p.gpstime >= from_ts AND p.gpstime < to_ts
    ORDER BY p.gpstime DESC LIMIT 1) l
  LEFT JOIN fleetarc.devices d ON d.imei = l.imei
  ORDER BY l.imei
$$;
