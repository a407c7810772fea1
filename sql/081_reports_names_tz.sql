-- 081_reports_names_tz.sql: the reports of sql/050 again, now with the device's name and
-- plate (fleetarc.devices) on every row, a tz argument (an IANA zone name) for the
-- reports that cut days, trips and stops through fleetarc.motion_cache (sql/080), and
-- report_summary (per device and local day). The old signatures are dropped first:
-- a new defaulted argument would otherwise make the old calls ambiguous.

DROP FUNCTION IF EXISTS fleetarc.report_route(timestamptz, timestamptz, text[], float8);
DROP FUNCTION IF EXISTS fleetarc.report_latest(timestamptz, timestamptz, text[]);
DROP FUNCTION IF EXISTS fleetarc.report_distance(timestamptz, timestamptz, text[], float8);
DROP FUNCTION IF EXISTS fleetarc.report_trips(timestamptz, timestamptz, text[], float8, interval, interval, float8);
DROP FUNCTION IF EXISTS fleetarc.report_stops(timestamptz, timestamptz, text[], float8, interval, interval, float8);
DROP FUNCTION IF EXISTS fleetarc.report_alarms(timestamptz, timestamptz, text[]);
DROP FUNCTION IF EXISTS fleetarc.report_gaps(timestamptz, timestamptz, text[], interval);
DROP FUNCTION IF EXISTS fleetarc.report_speeding(timestamptz, timestamptz, text[], float8, interval, float8);

-- Route: the cleaned points in order with the running km (sql/050's track_clean).
CREATE FUNCTION fleetarc.report_route(
    from_ts timestamptz, to_ts timestamptz, imeis text[] DEFAULT NULL,
    max_jump_kmh float8 DEFAULT 250)
RETURNS TABLE (imei text, devicename text, platenumber text, gpstime timestamptz,
               longitude float8, latitude float8, speed float8, course float8,
               step_km float8, total_km float8)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT r.imei, d.devicename, d.platenumber, r.gpstime, r.longitude, r.latitude, r.speed,
         r.course, r.step_km, r.total_km
  FROM (
    SELECT c.imei, c.gpstime, c.longitude, c.latitude, c.speed, c.course,
           coalesce(c.step_km, 0) AS step_km,
           sum(coalesce(c.step_km, 0)) OVER (PARTITION BY c.imei ORDER BY c.gpstime
                                            ROWS UNBOUNDED PRECEDING) AS total_km
    FROM fleetarc.track_clean(from_ts, to_ts, imeis, max_jump_kmh) c) r
  LEFT JOIN fleetarc.devices d ON d.imei = r.imei
  ORDER BY r.imei, r.gpstime
$$;

-- Latest stored position of each device within the range (glitches included). The
-- devices come from fleetarc.devices and device_state (and imeis when given), each probed
-- through the primary key, so the cost follows the devices, not the rows kept.
CREATE FUNCTION fleetarc.report_latest(
    from_ts timestamptz, to_ts timestamptz, imeis text[] DEFAULT NULL)
RETURNS TABLE (imei text, devicename text, platenumber text, gpstime timestamptz,
               longitude float8, latitude float8, speed float8, course float8)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
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

-- Distance per device and local day of tz: the cleaned steps whose later point falls on
-- that day (the whole range is cleaned as one track, as in sql/050).
CREATE FUNCTION fleetarc.report_distance(
    from_ts timestamptz, to_ts timestamptz, imeis text[] DEFAULT NULL,
    max_jump_kmh float8 DEFAULT 250, tz text DEFAULT 'UTC')
RETURNS TABLE (imei text, devicename text, platenumber text, day date, km float8,
               points bigint)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT g.imei, d.devicename, d.platenumber, g.day, g.km, g.points
  FROM (
    SELECT c.imei, (c.gpstime AT TIME ZONE tz)::date AS day, coalesce(sum(c.step_km), 0) AS km,
           count(*) AS points
    FROM fleetarc.track_clean(from_ts, to_ts, imeis, max_jump_kmh) c
    GROUP BY 1, 2) g
  LEFT JOIN fleetarc.devices d ON d.imei = g.imei
  ORDER BY 1, 4
$$;

-- Trips over the range as one unit (see sql/050's motion_segments for the definition),
-- through the cache. tz is accepted for uniformity: trips do not depend on it.
CREATE FUNCTION fleetarc.report_trips(
    from_ts timestamptz, to_ts timestamptz, imeis text[] DEFAULT NULL,
    min_distance_m float8 DEFAULT 200, min_duration interval DEFAULT '180 s',
    gap interval DEFAULT '3600 s', max_jump_kmh float8 DEFAULT 250, tz text DEFAULT 'UTC')
RETURNS TABLE (imei text, devicename text, platenumber text,
               start_time timestamptz, end_time timestamptz,
               start_lon float8, start_lat float8, end_lon float8, end_lat float8,
               distance_km float8, duration interval, avg_speed_kmh float8,
               max_speed_kmh float8)
LANGUAGE sql VOLATILE AS $$
  SELECT m.imei, d.devicename, d.platenumber, (m.seg).start_time, (m.seg).end_time,
         (m.seg).start_lon, (m.seg).start_lat, (m.seg).end_lon, (m.seg).end_lat,
         (m.seg).km, (m.seg).end_time - (m.seg).start_time,
         CASE WHEN (m.seg).end_time > (m.seg).start_time
              THEN (m.seg).km * 3600 / date_part('epoch', (m.seg).end_time - (m.seg).start_time) END,
         (m.seg).max_speed
  FROM fleetarc.motion_cached(from_ts, to_ts, imeis, NULL, min_distance_m, min_duration, gap,
                              max_jump_kmh) m
  LEFT JOIN fleetarc.devices d ON d.imei = m.imei
  WHERE (m.seg).kind = 'trip'
  ORDER BY m.imei, (m.seg).start_time
$$;

-- Stops (as in sql/050): between trips, and at the range's edges.
CREATE FUNCTION fleetarc.report_stops(
    from_ts timestamptz, to_ts timestamptz, imeis text[] DEFAULT NULL,
    min_distance_m float8 DEFAULT 200, min_duration interval DEFAULT '180 s',
    gap interval DEFAULT '3600 s', max_jump_kmh float8 DEFAULT 250, tz text DEFAULT 'UTC')
RETURNS TABLE (imei text, devicename text, platenumber text, start_time timestamptz,
               end_time timestamptz, longitude float8, latitude float8, duration interval)
LANGUAGE sql VOLATILE AS $$
  SELECT z.imei, d.devicename, d.platenumber, z.st, z.start_time, z.lon, z.lat,
         z.start_time - z.st
  FROM (
    SELECT m.imei, (m.seg).kind, (m.seg).start_time,
           lag((m.seg).end_time) OVER w AS st, lag((m.seg).end_lon) OVER w AS lon,
           lag((m.seg).end_lat) OVER w AS lat
    FROM fleetarc.motion_cached(from_ts, to_ts, imeis, NULL, min_distance_m, min_duration,
                                gap, max_jump_kmh) m
    WINDOW w AS (PARTITION BY m.imei ORDER BY (m.seg).start_time,
                 CASE (m.seg).kind WHEN 'first' THEN 0 WHEN 'trip' THEN 1 ELSE 2 END)
  ) z
  LEFT JOIN fleetarc.devices d ON d.imei = z.imei
  WHERE z.kind <> 'first' AND z.start_time > z.st
  ORDER BY z.imei, z.st
$$;

-- Alarms per device, local day of tz (of gpstime) and type.
CREATE FUNCTION fleetarc.report_alarms(
    from_ts timestamptz, to_ts timestamptz, imeis text[] DEFAULT NULL, tz text DEFAULT 'UTC')
RETURNS TABLE (imei text, devicename text, platenumber text, day date, alarm_type integer,
               type_name text, alarms bigint, first_time timestamptz, last_time timestamptz)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT g.imei, d.devicename, d.platenumber, g.day, g.alarm_type, g.type_name, g.alarms,
         g.first_time, g.last_time
  FROM (
    SELECT a.imei, (a.gpstime AT TIME ZONE tz)::date AS day, a.alarm_type::integer AS alarm_type,
           min(t.name::text) AS type_name, count(*) AS alarms, min(a.gpstime) AS first_time,
           max(a.gpstime) AS last_time
    FROM fleetarc.alarms a
    LEFT JOIN fleetarc.alarm_types t ON t.code = a.alarm_type
    WHERE a.gpstime >= from_ts AND a.gpstime < to_ts
      AND (imeis IS NULL OR a.imei = ANY (imeis))
    GROUP BY 1, 2, 3) g
  LEFT JOIN fleetarc.devices d ON d.imei = g.imei
  ORDER BY 1, 4, 5
$$;

-- Offline gaps (as in sql/050).
CREATE FUNCTION fleetarc.report_gaps(
    from_ts timestamptz, to_ts timestamptz, imeis text[] DEFAULT NULL,
    min_gap interval DEFAULT '3600 s')
RETURNS TABLE (imei text, devicename text, platenumber text, start_time timestamptz,
               end_time timestamptz, duration interval, longitude float8, latitude float8)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT g.imei, d.devicename, d.platenumber, g.pt, g.gpstime, g.gpstime - g.pt, g.plon, g.plat
  FROM (
    SELECT p.imei, p.gpstime, lag(p.gpstime) OVER w AS pt,
           lag(p.longitude::float8) OVER w AS plon, lag(p.latitude::float8) OVER w AS plat
    FROM fleetarc.positions p
    WHERE p.gpstime >= from_ts AND p.gpstime < to_ts
      AND (imeis IS NULL OR p.imei = ANY (imeis))
    WINDOW w AS (PARTITION BY p.imei ORDER BY p.gpstime)
  ) g
  LEFT JOIN fleetarc.devices d ON d.imei = g.imei
  WHERE g.gpstime - g.pt > min_gap
  ORDER BY g.imei, g.pt
$$;

-- Speeding episodes (as in sql/050).
CREATE FUNCTION fleetarc.report_speeding(
    from_ts timestamptz, to_ts timestamptz, imeis text[] DEFAULT NULL,
    speed_limit_kmh float8 DEFAULT 90, gap interval DEFAULT '3600 s',
    max_jump_kmh float8 DEFAULT 250)
RETURNS TABLE (imei text, devicename text, platenumber text, start_time timestamptz,
               end_time timestamptz, duration interval, max_speed_kmh float8, points bigint,
               start_lon float8, start_lat float8)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT e.imei, d.devicename, d.platenumber, e.st, e.et, e.et - e.st, e.vmax, e.n, e.lon, e.lat
  FROM (
    SELECT k.imei, min(k.gpstime) AS st, max(k.gpstime) AS et, max(k.speed) AS vmax,
           count(*) AS n,
           (array_agg(k.longitude ORDER BY k.gpstime))[1] AS lon,
           (array_agg(k.latitude ORDER BY k.gpstime))[1] AS lat
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
    GROUP BY k.imei, k.episode) e
  LEFT JOIN fleetarc.devices d ON d.imei = e.imei
  ORDER BY 1, 4
$$;

-- Summary per device and local day of tz (Traccar's daily summary): each day is its own
-- unit, computed as a report over that day alone (a trip over midnight counts on both
-- days, cut there). One row per device and day with at least one cleaned point.
--  distance_km    the day's cleaned distance (as report_distance over the day alone)
--  max_speed_kmh  highest reported speed of the day's cleaned points
--  avg_speed_kmh  km of the day's trips / their time (NULL without trips)
--  moving         the day's trips' time; stopped: first to last point minus moving
--  engine         time between an engineOn alarm (type 9) and the next engineOn/Off alarm
--                 (9/10) of the device in the range, cut to the day; an On with nothing
--                 after it runs to the device's last point of the range; NULL when the
--                 device has no alarm 9 or 10 in the range
--  trips          trips of the day; alarms: alarms of the day (any type)
CREATE FUNCTION fleetarc.report_summary(
    from_ts timestamptz, to_ts timestamptz, imeis text[] DEFAULT NULL,
    tz text DEFAULT 'UTC', min_distance_m float8 DEFAULT 200,
    min_duration interval DEFAULT '180 s', gap interval DEFAULT '3600 s',
    max_jump_kmh float8 DEFAULT 250)
RETURNS TABLE (imei text, devicename text, platenumber text, day date,
               distance_km float8, max_speed_kmh float8, avg_speed_kmh float8,
               moving interval, stopped interval, engine interval, trips bigint,
               alarms bigint, points bigint, first_time timestamptz, last_time timestamptz)
LANGUAGE sql VOLATILE AS $$
  WITH m AS MATERIALIZED (
    SELECT * FROM fleetarc.motion_cached(from_ts, to_ts, imeis, coalesce(tz, 'UTC'),
                                         min_distance_m, min_duration, gap, max_jump_kmh)
  ), u AS (
    SELECT m.imei, m.unit_start, m.unit_end, m.unit_day,
           max((m.seg).km) FILTER (WHERE (m.seg).kind = 'last') AS km,
           max((m.seg).max_speed) FILTER (WHERE (m.seg).kind = 'last') AS vmax,
           max((m.seg).points) FILTER (WHERE (m.seg).kind = 'last') AS points,
           min((m.seg).start_time) FILTER (WHERE (m.seg).kind = 'first') AS first_t,
           max((m.seg).end_time) FILTER (WHERE (m.seg).kind = 'last') AS last_t,
           count(*) FILTER (WHERE (m.seg).kind = 'trip') AS trips,
           sum((m.seg).km) FILTER (WHERE (m.seg).kind = 'trip') AS trip_km,
           sum((m.seg).end_time - (m.seg).start_time) FILTER (WHERE (m.seg).kind = 'trip') AS moving
    FROM m GROUP BY 1, 2, 3, 4
  ), lastpt AS (
    SELECT u.imei, max(u.last_t) AS last_t FROM u GROUP BY 1
  ), ev AS (
    SELECT a.imei, a.alarm_type, a.gpstime,
           lead(a.gpstime) OVER (PARTITION BY a.imei ORDER BY a.gpstime, a.alarm_type) AS next_t
    FROM fleetarc.alarms a
    WHERE a.alarm_type IN (9, 10) AND a.gpstime >= from_ts AND a.gpstime < to_ts
      AND (imeis IS NULL OR a.imei = ANY (imeis))
  ), eng AS (
    SELECT e.imei, e.gpstime AS s,
           coalesce(e.next_t, greatest(e.gpstime, l.last_t)) AS e
    FROM ev e LEFT JOIN lastpt l ON l.imei = e.imei
    WHERE e.alarm_type = 9
  ), eng_unit AS (   -- engine time per unit, for the devices with alarms 9/10
    SELECT u.imei, u.unit_start,
           coalesce(sum(least(g.e, u.unit_end) - greatest(g.s, u.unit_start))
                      FILTER (WHERE g.s < u.unit_end AND g.e > u.unit_start), interval '0') AS engine
    FROM u JOIN (SELECT DISTINCT ev.imei FROM ev) d ON d.imei = u.imei
    LEFT JOIN eng g ON g.imei = u.imei
    GROUP BY 1, 2
  ), al AS (         -- alarms per unit
    SELECT a.imei, r.unit_start, count(*) AS n
    FROM fleetarc.alarms a
    JOIN fleetarc.report_units(from_ts, to_ts, coalesce(tz, 'UTC')) r
      ON a.gpstime >= r.unit_start AND a.gpstime < r.unit_end
    WHERE a.gpstime >= from_ts AND a.gpstime < to_ts
      AND (imeis IS NULL OR a.imei = ANY (imeis))
    GROUP BY 1, 2
  )
  SELECT u.imei, d.devicename, d.platenumber, u.unit_day, u.km, u.vmax,
         CASE WHEN u.moving > interval '0' THEN u.trip_km * 3600 / date_part('epoch', u.moving) END,
         coalesce(u.moving, interval '0'),
         (u.last_t - u.first_t) - coalesce(u.moving, interval '0'),
         eu.engine, u.trips, coalesce(al.n, 0), u.points::bigint, u.first_t, u.last_t
  FROM u
  LEFT JOIN eng_unit eu ON eu.imei = u.imei AND eu.unit_start = u.unit_start
  LEFT JOIN al ON al.imei = u.imei AND al.unit_start = u.unit_start
  LEFT JOIN fleetarc.devices d ON d.imei = u.imei
  WHERE u.points > 0
  ORDER BY 1, 4
$$;

-- ts as ISO 8601 in tz: 2026-11-01T08:30:00+08:00, or ...Z where tz is 15:00 UTC.
CREATE FUNCTION fleetarc.iso_time(ts timestamptz, tz text DEFAULT 'UTC')
RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT to_char(ts AT TIME ZONE tz, 'YYYY-MM-DD"T"HH24:MI:SS')
         || CASE WHEN o = 0 THEN 'Z'
                 ELSE CASE WHEN o < 0 THEN '-' ELSE '+' END
                      || to_char(abs(o) / 3600, 'FM00') || ':' || to_char(abs(o) % 3600 / 60, 'FM00') END
  FROM (SELECT extract(epoch FROM (ts AT TIME ZONE tz) - (ts AT TIME ZONE 'UTC'))::integer AS o) x
$$;
