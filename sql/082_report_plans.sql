-- 082_report_plans.sql: plan fixes for the reports at the size of a real archive.
--  * A BRIN index on positions.gpstime, so that a report of one day over all devices
--    reads that day's pages instead of the whole month (the key leads with imei). BRIN
--    relies on rows arriving roughly in time order, which is how the archiver writes
--    them; a large backfill out of order (a new device's lookback while live rows flow)
--    widens the ranges of the pages it fills and so weakens the index there: reports stay
--    right, only slower, and `fleetarc.brin_resummarize()` (below) rebuilds the summaries
--    of a partition after such a backfill. autosummarize keeps new pages summarized.
--  * track_clean_ext (sql/050) again with "all devices" and "these devices" as separate
--    branches: `imeis IS NULL OR imei = ANY (imeis)` kept a list of IMEIs from using the
--    primary key in a generic plan (a report per device planned a full scan each time).
--  * JIT off for the report functions: its compile time (0.5-1.25 s) is more than it
--    saves on these queries.
CREATE INDEX IF NOT EXISTS positions_gpstime_brin ON fleetarc.positions
  USING brin (gpstime) WITH (pages_per_range = 32, autosummarize = on);

CREATE OR REPLACE FUNCTION fleetarc.brin_resummarize(part regclass) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  idx regclass;
  n integer := 0;
BEGIN
  FOR idx IN SELECT i.indexrelid::regclass FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
             JOIN pg_am a ON a.oid = c.relam WHERE i.indrelid = part AND a.amname = 'brin'
  LOOP
    PERFORM brin_desummarize_range(idx, b) FROM generate_series(0, pg_relation_size(part) / 8192, 32) b;
    n := n + brin_summarize_new_values(idx);
  END LOOP;
  RETURN n;
END
$$;

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
            OFFSET 0
          ) g
          OFFSET 0
        ) h
        WHERE NOT h.spike
      ) i
      OFFSET 0
    ) j
  ) k
$$;

ALTER FUNCTION fleetarc.motion_cached(timestamptz, timestamptz, text[], text, float8, interval, interval, float8) SET jit = off;
ALTER FUNCTION fleetarc.motion_units_part(timestamptz, timestamptz, text[], text, float8, interval, interval, float8, integer, integer) SET jit = off;
ALTER FUNCTION fleetarc.motion_part(timestamptz, timestamptz, text[], float8, interval, interval, float8, integer, integer) SET jit = off;
