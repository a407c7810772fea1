-- Report functions over the archived tracks, for psql, Grafana and `fleetarc report`.
-- Each takes a half-open time range [from_ts, to_ts) and imeis (NULL = every device),
-- reads fleetarc.positions / alarms in (imei, gpstime) order (the primary key's order, so
-- no sort), and works in one ordered pass of window functions: no per-row subquery,
-- no extension. CREATE OR REPLACE throughout, so the file can be applied again.

CREATE SCHEMA IF NOT EXISTS fleetarc;

-- Great-circle distance in km (haversine, mean earth radius 6371.0088 km). Plain SQL so
-- the planner inlines it into the callers' expressions.
CREATE OR REPLACE FUNCTION fleetarc.haversine_km(lon1 float8, lat1 float8, lon2 float8, lat2 float8)
RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT 2 * 6371.0088 * asin(least(1.0, sqrt(
           power(sin(radians(lat2 - lat1) / 2), 2)
           + cos(radians(lat1)) * cos(radians(lat2)) * power(sin(radians(lon2 - lon1) / 2), 2))))
$$;

-- Equirectangular distance in km: within 0.1 % of haversine up to ~100 km away from the
-- poles, and about three times cheaper; used where a distance is only compared with a
-- threshold (rest radius, glitch speed), never summed.
CREATE OR REPLACE FUNCTION fleetarc.approx_km(lon1 float8, lat1 float8, lon2 float8, lat2 float8)
RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT 111.19508372 * sqrt(((lon2 - lon1) * cos((lat1 + lat2) * 0.00872664626))
                             * ((lon2 - lon1) * cos((lat1 + lat2) * 0.00872664626))
                             + (lat2 - lat1) * (lat2 - lat1))
$$;

-- The cleaned track: every stored point of the range but the glitches, in (imei, gpstime)
-- order, with the step from the previous kept point.
--  * (0,0) and out-of-range coordinates are dropped;
--  * a spike (a single point reached and left at an implied speed above max_jump_kmh) is
--    dropped;
--  * a jump (a step implying more than max_jump_kmh, e.g. a teleport that stays) is kept
--    as a point but its step counts 0 km and jump = true: reports treat it like a silence;
--  * duplicates: (imei, gpstime) is the primary key, so a time holds one point; a step of
--    0 s never counts.
-- step_km is NULL on a device's first point of the range; dt_s likewise.
CREATE OR REPLACE FUNCTION fleetarc.track_clean(
    from_ts timestamptz, to_ts timestamptz, imeis text[] DEFAULT NULL,
    max_jump_kmh float8 DEFAULT 250)
RETURNS TABLE (imei text, gpstime timestamptz, longitude float8, latitude float8,
               speed float8, course float8, step_km float8, dt_s float8, jump boolean)
LANGUAGE sql STABLE AS $$
  SELECT b.imei, b.gpstime, b.lon, b.lat, b.spd, b.crs,
         CASE WHEN b.pt IS NULL THEN NULL
              WHEN b.dt <= 0 OR b.d * 3600 > max_jump_kmh * b.dt THEN 0
              ELSE b.d END,
         b.dt,
         coalesce(b.dt > 0 AND b.d * 3600 > max_jump_kmh * b.dt, false)
  FROM (
    SELECT a.*, fleetarc.haversine_km(a.plon, a.plat, a.lon, a.lat) AS d,
           date_part('epoch', a.gpstime - a.pt) AS dt
    FROM (
      SELECT s.imei, s.gpstime, s.lon, s.lat, s.spd, s.crs,
             lag(s.gpstime) OVER w AS pt, lag(s.lon) OVER w AS plon, lag(s.lat) OVER w AS plat
      FROM (
        SELECT r.*,
               -- a spike: both of its steps are impossible
               coalesce(r.din * 3600 > max_jump_kmh * greatest(date_part('epoch', r.gpstime - r.pt0), 0.001::float8)
                    AND r.dout * 3600 > max_jump_kmh * greatest(date_part('epoch', r.nt0 - r.gpstime), 0.001::float8),
                    false) AS spike
        FROM (
          SELECT q.*,
                 fleetarc.approx_km(q.plon0, q.plat0, q.lon, q.lat) AS din,
                 fleetarc.approx_km(q.lon, q.lat, q.nlon0, q.nlat0) AS dout
          FROM (
            SELECT p.imei, p.gpstime, p.longitude::float8 AS lon, p.latitude::float8 AS lat,
                   p.speed::float8 AS spd, p.course::float8 AS crs,
                   lag(p.gpstime) OVER w0 AS pt0, lag(p.longitude::float8) OVER w0 AS plon0,
                   lag(p.latitude::float8) OVER w0 AS plat0,
                   lead(p.gpstime) OVER w0 AS nt0, lead(p.longitude::float8) OVER w0 AS nlon0,
                   lead(p.latitude::float8) OVER w0 AS nlat0
            FROM fleetarc.positions p
            WHERE p.gpstime >= from_ts AND p.gpstime < to_ts
              AND (imeis IS NULL OR p.imei = ANY (imeis))
              AND NOT (p.longitude = 0 AND p.latitude = 0)
              AND p.latitude BETWEEN -90 AND 90 AND p.longitude BETWEEN -180 AND 180
            WINDOW w0 AS (PARTITION BY p.imei ORDER BY p.gpstime)
          ) q
        ) r
      ) s
      WHERE NOT s.spike
      WINDOW w AS (PARTITION BY s.imei ORDER BY s.gpstime)
    ) a
  ) b
$$;

-- Route of devices over the range: the cleaned points in order, with the running km.
CREATE OR REPLACE FUNCTION fleetarc.report_route(
    from_ts timestamptz, to_ts timestamptz, imeis text[] DEFAULT NULL,
    max_jump_kmh float8 DEFAULT 250)
RETURNS TABLE (imei text, gpstime timestamptz, longitude float8, latitude float8,
               speed float8, course float8, step_km float8, total_km float8)
LANGUAGE sql STABLE AS $$
  SELECT c.imei, c.gpstime, c.longitude, c.latitude, c.speed, c.course,
         coalesce(c.step_km, 0),
         sum(coalesce(c.step_km, 0)) OVER (PARTITION BY c.imei ORDER BY c.gpstime
                                          ROWS UNBOUNDED PRECEDING)
  FROM fleetarc.track_clean(from_ts, to_ts, imeis, max_jump_kmh) c
  ORDER BY c.imei, c.gpstime
$$;

-- Latest stored position of each device within the range (glitches included: it is what
-- the device last said). With imeis NULL, the devices are found by a skip scan of the
-- primary key (one index probe per device, not a scan of every point).
CREATE OR REPLACE FUNCTION fleetarc.report_latest(
    from_ts timestamptz, to_ts timestamptz, imeis text[] DEFAULT NULL)
RETURNS TABLE (imei text, gpstime timestamptz, longitude float8, latitude float8,
               speed float8, course float8)
LANGUAGE sql STABLE AS $$
  WITH RECURSIVE dev(imei) AS (
    (SELECT p.imei FROM fleetarc.positions p WHERE imeis IS NULL ORDER BY p.imei LIMIT 1)
    UNION ALL
    SELECT (SELECT p.imei FROM fleetarc.positions p WHERE p.imei > dev.imei
            ORDER BY p.imei LIMIT 1)
    FROM dev WHERE dev.imei IS NOT NULL
  ), wanted AS (
    SELECT dev.imei FROM dev WHERE dev.imei IS NOT NULL
    UNION
    SELECT u FROM unnest(imeis) u
  )
  SELECT l.imei, l.gpstime, l.longitude::float8, l.latitude::float8, l.speed::float8,
         l.course::float8
  FROM wanted w
  CROSS JOIN LATERAL (
    SELECT p.* FROM fleetarc.positions p
    WHERE p.imei = w.imei AND p.gpstime >= from_ts AND p.gpstime < to_ts
    ORDER BY p.gpstime DESC LIMIT 1) l
  ORDER BY l.imei
$$;

-- Distance per device and UTC day: the sum of the cleaned steps (see track_clean) whose
-- later point falls on that day. The step into the range's first point is not counted.
CREATE OR REPLACE FUNCTION fleetarc.report_distance(
    from_ts timestamptz, to_ts timestamptz, imeis text[] DEFAULT NULL,
    max_jump_kmh float8 DEFAULT 250)
RETURNS TABLE (imei text, day date, km float8, points bigint)
LANGUAGE sql STABLE AS $$
  SELECT c.imei, (c.gpstime AT TIME ZONE 'UTC')::date, coalesce(sum(c.step_km), 0), count(*)
  FROM fleetarc.track_clean(from_ts, to_ts, imeis, max_jump_kmh) c
  GROUP BY 1, 2
  ORDER BY 1, 2
$$;

-- Motion segmentation shared by report_trips and report_stops (Traccar's notion, with
-- distances instead of its speed flag). Over the cleaned track of each device:
--  * a break is a silence longer than gap or a jump (see track_clean); nothing spans it;
--  * a point is at rest when the first report at least min_duration later (before any
--    break) is within min_distance_m of it; the last point before a break or the range's
--    end is at rest too (the vehicle went quiet there);
--  * each point at rest, or first after a break, anchors the points that follow it up to
--    the next such point. If one of them is farther than min_distance_m from the anchor,
--    a trip starts at the point before that first far point (the last report from
--    where it stood) and ends at the next point at rest (where it stays min_duration).
-- Rows: kind 'trip' (one per trip) and 'first' / 'last' (each device's first and last
-- cleaned point, from which report_stops closes the stops at the range's edges).
-- Every column is computed by running window aggregates in the (imei, gpstime) order;
-- values carried from the anchor are packed as (row number, value) into a bigint whose
-- running max is the latest anchor's value.
CREATE OR REPLACE FUNCTION fleetarc.motion_segments(
    from_ts timestamptz, to_ts timestamptz, imeis text[] DEFAULT NULL,
    min_distance_m float8 DEFAULT 200, min_duration interval DEFAULT '180 s',
    gap interval DEFAULT '3600 s', max_jump_kmh float8 DEFAULT 250)
RETURNS TABLE (imei text, kind text, start_time timestamptz, end_time timestamptz,
               start_lon float8, start_lat float8, end_lon float8, end_lat float8,
               km float8, max_speed float8)
LANGUAGE sql STABLE AS $$
  WITH b AS (  -- breaks, running km, session number, row number
    SELECT c.*,
           coalesce(c.jump OR c.dt_s > date_part('epoch', gap), true) AS brk_before,
           coalesce(lead(c.jump OR c.dt_s > date_part('epoch', gap)) OVER w, true) AS brk_after,
           sum(coalesce(c.step_km, 0)) OVER w AS cum_km,
           sum(CASE WHEN coalesce(c.jump OR c.dt_s > date_part('epoch', gap), true) THEN 1 ELSE 0 END) OVER w AS sess,
           row_number() OVER w AS r,
           lag(c.gpstime) OVER w AS pt, lag(c.longitude) OVER w AS plon, lag(c.latitude) OVER w AS plat
    FROM fleetarc.track_clean(from_ts, to_ts, imeis, max_jump_kmh) c
    WINDOW w AS (PARTITION BY c.imei ORDER BY c.gpstime ROWS UNBOUNDED PRECEDING)
  ), f AS (  -- where the vehicle is min_duration later
    SELECT b.*,
           first_value(b.longitude) OVER wf AS f_lon, first_value(b.latitude) OVER wf AS f_lat,
           first_value(b.sess) OVER wf AS f_sess,
           last_value(b.longitude) OVER wl AS l_lon, last_value(b.latitude) OVER wl AS l_lat,
           last_value(b.sess) OVER wl AS l_sess
    FROM b
    WINDOW wf AS (PARTITION BY b.imei ORDER BY b.gpstime
                  RANGE BETWEEN min_duration FOLLOWING AND gap FOLLOWING),
           wl AS (PARTITION BY b.imei ORDER BY b.gpstime
                  RANGE BETWEEN CURRENT ROW AND min_duration FOLLOWING)
  ), s AS (
    SELECT f.*,
           (f.brk_before OR f.brk_after
            OR CASE WHEN f.f_sess = f.sess
                    THEN fleetarc.approx_km(f.longitude, f.latitude, f.f_lon, f.f_lat) * 1000 <= min_distance_m
                    WHEN f.l_sess = f.sess
                    THEN fleetarc.approx_km(f.longitude, f.latitude, f.l_lon, f.l_lat) * 1000 <= min_distance_m
                    ELSE true END) AS anchor
    FROM f
  ), a AS (  -- the current anchor's row number and position
    SELECT s.*,
           max(CASE WHEN s.anchor THEN s.r END) OVER w AS a_r,
           (max(CASE WHEN s.anchor THEN s.r * 536870912 + round((s.longitude + 180) * 1000000::float8)::bigint END)
              OVER w % 536870912) / 1000000::float8 - 180 AS a_lon,
           (max(CASE WHEN s.anchor THEN s.r * 536870912 + round((s.latitude + 90) * 1000000::float8)::bigint END)
              OVER w % 536870912) / 1000000::float8 - 90 AS a_lat
    FROM s
    WINDOW w AS (PARTITION BY s.imei ORDER BY s.gpstime ROWS UNBOUNDED PRECEDING)
  ), o AS (
    SELECT a.*,
           (NOT a.anchor AND fleetarc.approx_km(a.a_lon, a.a_lat, a.longitude, a.latitude) * 1000 > min_distance_m) AS out_
    FROM a
  ), e AS (
    SELECT o.*,
           (o.out_ AND coalesce(max(CASE WHEN o.out_ THEN o.r END) OVER wp, 0) < o.a_r) AS first_out,
           coalesce(max(CASE WHEN o.out_ THEN o.r END) OVER w, 0) >= o.a_r AS exited,
           coalesce(lead(o.anchor) OVER w, true) AS group_last,
           lead(o.gpstime) OVER w AS nt, lead(o.longitude) OVER w AS nlon,
           lead(o.latitude) OVER w AS nlat, lead(o.cum_km) OVER w AS ncum,
           lead(o.speed) OVER w AS nspd,
           (max(o.a_r * 4096 + least(greatest(coalesce(o.speed, 0), 0), 4095)::bigint) OVER w) % 4096 AS grp_vmax
    FROM o
    WINDOW w AS (PARTITION BY o.imei ORDER BY o.gpstime ROWS UNBOUNDED PRECEDING),
           wp AS (PARTITION BY o.imei ORDER BY o.gpstime ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
  ), evs AS (
    SELECT e.imei, e.r, e.gpstime, e.longitude, e.latitude, e.first_out, e.exited, e.group_last,
           e.nt, e.nlon, e.nlat, e.ncum, e.nspd, e.grp_vmax, e.cum_km,
           e.pt AS st, e.plon AS slon, e.plat AS slat, e.cum_km - e.step_km AS scum,
           e.r = 1 AS is_first, e.nt IS NULL AS is_last
    FROM e
    WHERE e.first_out OR (e.group_last AND e.exited) OR e.r = 1 OR e.nt IS NULL
  ), trips AS (
    SELECT x.imei, x.first_out, x.exited, x.group_last, x.is_first, x.is_last, x.gpstime,
           x.longitude, x.latitude,
           CASE WHEN x.first_out THEN x.st ELSE lag(x.st) OVER w END AS st,
           CASE WHEN x.first_out THEN x.slon ELSE lag(x.slon) OVER w END AS slon,
           CASE WHEN x.first_out THEN x.slat ELSE lag(x.slat) OVER w END AS slat,
           CASE WHEN x.first_out THEN x.scum ELSE lag(x.scum) OVER w END AS scum,
           x.nt, x.nlon, x.nlat, x.ncum, greatest(x.grp_vmax, coalesce(x.nspd, 0)) AS vmax
    FROM (SELECT * FROM evs WHERE evs.first_out OR (evs.group_last AND evs.exited)) x
    WINDOW w AS (PARTITION BY x.imei ORDER BY x.gpstime)
  )
  SELECT t.imei, 'trip', t.st, t.nt, t.slon, t.slat, t.nlon, t.nlat, t.ncum - t.scum, t.vmax
  FROM trips t WHERE t.group_last AND t.exited
  UNION ALL
  SELECT v.imei, 'first', v.gpstime, v.gpstime, v.longitude, v.latitude, v.longitude,
         v.latitude, 0, NULL
  FROM evs v WHERE v.is_first
  UNION ALL
  SELECT v.imei, 'last', v.gpstime, v.gpstime, v.longitude, v.latitude, v.longitude,
         v.latitude, 0, NULL
  FROM evs v WHERE v.is_last
$$;

-- Trips (see motion_segments for the definition). distance_km sums the cleaned steps
-- from the start point to the end point; avg_speed_kmh = distance / duration; max_speed_kmh
-- is the highest reported speed from the stop's anchor to the end point.
CREATE OR REPLACE FUNCTION fleetarc.report_trips(
    from_ts timestamptz, to_ts timestamptz, imeis text[] DEFAULT NULL,
    min_distance_m float8 DEFAULT 200, min_duration interval DEFAULT '180 s',
    gap interval DEFAULT '3600 s', max_jump_kmh float8 DEFAULT 250)
RETURNS TABLE (imei text, start_time timestamptz, end_time timestamptz,
               start_lon float8, start_lat float8, end_lon float8, end_lat float8,
               distance_km float8, duration interval, avg_speed_kmh float8,
               max_speed_kmh float8)
LANGUAGE sql STABLE AS $$
  SELECT m.imei, m.start_time, m.end_time, m.start_lon, m.start_lat, m.end_lon, m.end_lat,
         m.km, m.end_time - m.start_time,
         CASE WHEN m.end_time > m.start_time
              THEN m.km * 3600 / date_part('epoch', m.end_time - m.start_time) END,
         m.max_speed
  FROM fleetarc.motion_segments(from_ts, to_ts, imeis, min_distance_m, min_duration, gap,
                                max_jump_kmh) m
  WHERE m.kind = 'trip'
  ORDER BY m.imei, m.start_time
$$;

-- Stops: the time between two trips of a device at the first one's end point, and at the
-- range's edges from the first point to the first trip and from the last trip to the last
-- point (a device without trips in the range has one stop over all its points). Stops of
-- zero duration are not listed.
CREATE OR REPLACE FUNCTION fleetarc.report_stops(
    from_ts timestamptz, to_ts timestamptz, imeis text[] DEFAULT NULL,
    min_distance_m float8 DEFAULT 200, min_duration interval DEFAULT '180 s',
    gap interval DEFAULT '3600 s', max_jump_kmh float8 DEFAULT 250)
RETURNS TABLE (imei text, start_time timestamptz, end_time timestamptz,
               longitude float8, latitude float8, duration interval)
LANGUAGE sql STABLE AS $$
  SELECT z.imei, z.st, z.start_time, z.lon, z.lat, z.start_time - z.st
  FROM (
    SELECT m.imei, m.kind, m.start_time,
           lag(m.end_time) OVER w AS st, lag(m.end_lon) OVER w AS lon,
           lag(m.end_lat) OVER w AS lat
    FROM fleetarc.motion_segments(from_ts, to_ts, imeis, min_distance_m, min_duration, gap,
                                  max_jump_kmh) m
    WINDOW w AS (PARTITION BY m.imei ORDER BY m.start_time,
                 CASE m.kind WHEN 'first' THEN 0 WHEN 'trip' THEN 1 ELSE 2 END)
  ) z
  WHERE z.kind <> 'first' AND z.start_time > z.st
  ORDER BY z.imei, z.st
$$;

-- Alarms per device, UTC day (of gpstime) and type, with the type's name from
-- alarm_types (NULL for a code it does not know).
CREATE OR REPLACE FUNCTION fleetarc.report_alarms(
    from_ts timestamptz, to_ts timestamptz, imeis text[] DEFAULT NULL)
RETURNS TABLE (imei text, day date, alarm_type integer, type_name text, alarms bigint,
               first_time timestamptz, last_time timestamptz)
LANGUAGE sql STABLE AS $$
  SELECT a.imei, (a.gpstime AT TIME ZONE 'UTC')::date, a.alarm_type::integer,
         min(t.name::text), count(*), min(a.gpstime), max(a.gpstime)
  FROM fleetarc.alarms a
  LEFT JOIN fleetarc.alarm_types t ON t.code = a.alarm_type
  WHERE a.gpstime >= from_ts AND a.gpstime < to_ts
    AND (imeis IS NULL OR a.imei = ANY (imeis))
  GROUP BY 1, 2, 3
  ORDER BY 1, 2, 3
$$;

-- Offline gaps: two consecutive stored points of a device (within the range) more than
-- min_gap apart. Silence before the first or after the last point of the range is not
-- reported (nothing bounds it).
CREATE OR REPLACE FUNCTION fleetarc.report_gaps(
    from_ts timestamptz, to_ts timestamptz, imeis text[] DEFAULT NULL,
    min_gap interval DEFAULT '3600 s')
RETURNS TABLE (imei text, start_time timestamptz, end_time timestamptz, duration interval,
               longitude float8, latitude float8)
LANGUAGE sql STABLE AS $$
  SELECT g.imei, g.pt, g.gpstime, g.gpstime - g.pt, g.plon, g.plat
  FROM (
    SELECT p.imei, p.gpstime, lag(p.gpstime) OVER w AS pt,
           lag(p.longitude::float8) OVER w AS plon, lag(p.latitude::float8) OVER w AS plat
    FROM fleetarc.positions p
    WHERE p.gpstime >= from_ts AND p.gpstime < to_ts
      AND (imeis IS NULL OR p.imei = ANY (imeis))
    WINDOW w AS (PARTITION BY p.imei ORDER BY p.gpstime)
  ) g
  WHERE g.gpstime - g.pt > min_gap
  ORDER BY g.imei, g.pt
$$;

-- Speeding episodes: maximal runs of consecutive cleaned points whose reported speed is
-- above speed_limit_kmh; a break (silence longer than gap, or a jump) ends a run.
-- start/end are the first and last point above the limit.
CREATE OR REPLACE FUNCTION fleetarc.report_speeding(
    from_ts timestamptz, to_ts timestamptz, imeis text[] DEFAULT NULL,
    speed_limit_kmh float8 DEFAULT 90, gap interval DEFAULT '3600 s',
    max_jump_kmh float8 DEFAULT 250)
RETURNS TABLE (imei text, start_time timestamptz, end_time timestamptz, duration interval,
               max_speed_kmh float8, points bigint, start_lon float8, start_lat float8)
LANGUAGE sql STABLE AS $$
  SELECT k.imei, min(k.gpstime), max(k.gpstime), max(k.gpstime) - min(k.gpstime),
         max(k.speed), count(*),
         (array_agg(k.longitude ORDER BY k.gpstime))[1], (array_agg(k.latitude ORDER BY k.gpstime))[1]
  FROM (
    SELECT j.*, sum(j.starts) OVER (PARTITION BY j.imei ORDER BY j.gpstime
                                    ROWS UNBOUNDED PRECEDING) AS episode
    FROM (
      SELECT c.*, c.speed > speed_limit_kmh AS over_,
             CASE WHEN c.speed > speed_limit_kmh
                   AND (NOT coalesce(lag(c.speed > speed_limit_kmh) OVER w, false)
                        OR c.jump OR c.dt_s > date_part('epoch', gap)) THEN 1 ELSE 0 END AS starts
      FROM fleetarc.track_clean(from_ts, to_ts, imeis, max_jump_kmh) c
      WINDOW w AS (PARTITION BY c.imei ORDER BY c.gpstime)
    ) j
  ) k
  WHERE k.over_
  GROUP BY k.imei, k.episode
  ORDER BY 1, 2
$$;
