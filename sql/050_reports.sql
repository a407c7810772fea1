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
-- One window stage (lag 1, lag 2, lead 1 in the key's order): the previous kept point is
-- the previous stored one, or the one before it when that was a spike. Two spikes in a row
-- are both dropped, and the step over them counts as a jump (0 km, a break).
-- t is gpstime in UNIX seconds; prev_* is the previous kept point (NULL on the first),
-- prev_km the equirectangular distance to it, last_pt whether no stored point of the
-- device follows in the range: motion_segments reads them.
CREATE OR REPLACE FUNCTION fleetarc.track_clean_ext(
    from_ts timestamptz, to_ts timestamptz, imeis text[] DEFAULT NULL,
    max_jump_kmh float8 DEFAULT 250, part integer DEFAULT 0, parts integer DEFAULT 1)
RETURNS TABLE (imei text, gpstime timestamptz, longitude float8, latitude float8,
               speed float8, course float8, step_km float8, dt_s float8, jump boolean,
               t float8, prev_t float8, prev_lon float8, prev_lat float8, prev_km float8,
               last_pt boolean)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  -- The OFFSET 0 fences keep the planner from copying an expression into each of its
  -- uses (it does no common subexpression elimination): each distance is computed once.
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
                 -- this point is a spike: both of its steps are impossible
                 coalesce(g.din * 3600 > max_jump_kmh * greatest(g.t - g.pt1, 0.001)
                      AND fleetarc.approx_km(g.lon, g.lat, g.nlon, g.nlat) * 3600
                          > max_jump_kmh * greatest(g.nt - g.t, 0.001), false) AS spike,
                 -- the previous point was one
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
              FROM fleetarc.positions p
              WHERE p.gpstime >= from_ts AND p.gpstime < to_ts
                AND (imeis IS NULL OR p.imei = ANY (imeis))
                AND (parts = 1 OR (hashtext(p.imei) & 1023) % parts = part)
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

CREATE OR REPLACE FUNCTION fleetarc.track_clean(
    from_ts timestamptz, to_ts timestamptz, imeis text[] DEFAULT NULL,
    max_jump_kmh float8 DEFAULT 250)
RETURNS TABLE (imei text, gpstime timestamptz, longitude float8, latitude float8,
               speed float8, course float8, step_km float8, dt_s float8, jump boolean)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT c.imei, c.gpstime, c.longitude, c.latitude, c.speed, c.course, c.step_km, c.dt_s, c.jump
  FROM fleetarc.track_clean_ext(from_ts, to_ts, imeis, max_jump_kmh) c
$$;

-- Route of devices over the range: the cleaned points in order, with the running km.
CREATE OR REPLACE FUNCTION fleetarc.report_route(
    from_ts timestamptz, to_ts timestamptz, imeis text[] DEFAULT NULL,
    max_jump_kmh float8 DEFAULT 250)
RETURNS TABLE (imei text, gpstime timestamptz, longitude float8, latitude float8,
               speed float8, course float8, step_km float8, total_km float8)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
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
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT c.imei, (c.gpstime AT TIME ZONE 'UTC')::date, coalesce(sum(c.step_km), 0), count(*)
  FROM fleetarc.track_clean(from_ts, to_ts, imeis, max_jump_kmh) c
  GROUP BY 1, 2
  ORDER BY 1, 2
$$;

-- Motion segmentation shared by report_trips and report_stops (Traccar's notion, with
-- distances instead of its speed flag). Over the cleaned track of each device, in one
-- ordered pass (a state machine in variables, ~1-2 us a point):
--  * a break is a silence longer than gap or a jump (see track_clean); nothing spans it:
--    a trip in progress ends there, and the first point after it anchors a stop;
--  * stopped at an anchor, a trip starts at the first point farther than min_distance_m
--    from the anchor; its start is the point before (the last report from where it
--    stood);
--  * a candidate rest point is tracked all along: every point since the candidate lies
--    within min_distance_m of it. A point outside that circle makes the previous point
--    the new candidate if it is within min_distance_m of it, else the point itself.
--    While moving, once a point arrives min_duration or more after the candidate (still
--    within its circle), the trip ends at the candidate: it has not moved that far within
--    min_duration. While stopped, the same event moves the anchor to the candidate, so
--    slow GPS drift over a long stop does not make a trip;
--  * the last point of the range ends a trip in progress like a break.
-- The end is found up to one report late against an ideal "earliest point the vehicle
-- stayed near" (the candidate only moves to a previous point, never further back).
-- Rows: kind 'trip' (one per trip) and 'first' / 'last' (each device's first and last
-- cleaned point, from which report_stops closes the stops at the range's edges).
-- km is the sum of the cleaned steps from start to end; max_speed the highest reported
-- speed after the start point up to the end point. Times carried from a previous point
-- go through float8 UNIX seconds (exact to the microsecond for present-day times).
-- motion_part does the work for the devices whose IMEI hash falls in part (of parts);
-- motion_segments runs two parts side by side (a Parallel Append over two workers when
-- the planner finds it worth it: the high COST says it is).
CREATE OR REPLACE FUNCTION fleetarc.motion_part(
    from_ts timestamptz, to_ts timestamptz, imeis text[],
    min_distance_m float8, min_duration interval, gap interval, max_jump_kmh float8,
    part integer, parts integer)
RETURNS TABLE (imei text, kind text, start_time timestamptz, end_time timestamptz,
               start_lon float8, start_lat float8, end_lon float8, end_lat float8,
               km float8, max_speed float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE COST 1000000 ROWS 1000 AS $$
#variable_conflict use_column
DECLARE
  dmin constant float8 := min_distance_m / 1000;
  dur constant float8 := date_part('epoch', min_duration);
  gap_s constant float8 := date_part('epoch', gap);
  -- the current point
  dev text; ts timestamptz; t float8; lon float8; lat float8; spd float8; step float8;
  pt float8; plon float8; plat float8; pkm float8;
  brk boolean; first_pt boolean; last_pt boolean;
  -- state
  moving boolean := false;
  cum float8 := 0;                 -- km from the device's first point to the previous one
  vmax float8;                     -- highest speed of the trip so far
  a_lon float8; a_lat float8;      -- anchor of the stop
  c_t float8; c_ts timestamptz; c_lon float8; c_lat float8; c_cum float8; c_vmax float8;
  s_ts timestamptz; s_lon float8; s_lat float8; s_cum float8;   -- trip start
  stop_now boolean;
BEGIN
  FOR dev, ts, t, lon, lat, spd, step, pt, plon, plat, pkm, brk, first_pt, last_pt IN
    SELECT c.imei, c.gpstime, c.t, c.longitude, c.latitude, coalesce(c.speed, 0),
           coalesce(c.step_km, 0), c.prev_t, c.prev_lon, c.prev_lat, c.prev_km,
           coalesce(c.jump OR c.dt_s > gap_s, true), c.prev_t IS NULL, c.last_pt
    FROM fleetarc.track_clean_ext(from_ts, to_ts, imeis, max_jump_kmh, part, parts) c
    ORDER BY c.imei, c.gpstime
  LOOP
    stop_now := false;
    IF brk THEN
      IF moving THEN  -- the silence or jump ends the trip where the vehicle last stayed
        imei := dev; kind := 'trip'; start_time := s_ts; end_time := c_ts;
        start_lon := s_lon; start_lat := s_lat; end_lon := c_lon; end_lat := c_lat;
        km := c_cum - s_cum; max_speed := c_vmax;
        RETURN NEXT;
        moving := false;
      END IF;
      IF first_pt THEN
        cum := 0;
        imei := dev; kind := 'first'; start_time := ts; end_time := ts;
        start_lon := lon; start_lat := lat; end_lon := lon; end_lat := lat;
        km := 0; max_speed := NULL;
        RETURN NEXT;
      END IF;
      a_lon := lon; a_lat := lat;
      c_t := t; c_ts := ts; c_lon := lon; c_lat := lat; c_cum := cum + step;
    ELSIF moving THEN
      IF fleetarc.approx_km(c_lon, c_lat, lon, lat) > dmin THEN
        IF pkm <= dmin THEN
          c_t := pt; c_ts := to_timestamp(pt); c_lon := plon; c_lat := plat; c_cum := cum; c_vmax := vmax;
          stop_now := t - pt >= dur;   -- a silence within the circle
        ELSE
          c_t := t; c_ts := ts; c_lon := lon; c_lat := lat; c_cum := cum + step;
          c_vmax := greatest(vmax, spd);
        END IF;
      ELSE
        stop_now := t - c_t >= dur;
      END IF;
      IF stop_now THEN
        imei := dev; kind := 'trip'; start_time := s_ts; end_time := c_ts;
        start_lon := s_lon; start_lat := s_lat; end_lon := c_lon; end_lat := c_lat;
        km := c_cum - s_cum; max_speed := c_vmax;
        RETURN NEXT;
        moving := false;
        a_lon := c_lon; a_lat := c_lat;
        c_t := t; c_ts := ts; c_lon := lon; c_lat := lat; c_cum := cum + step;
      ELSE
        vmax := greatest(vmax, spd);
      END IF;
    ELSIF fleetarc.approx_km(a_lon, a_lat, lon, lat) > dmin THEN
      moving := true;
      s_ts := to_timestamp(pt); s_lon := plon; s_lat := plat; s_cum := cum;
      vmax := spd;
      c_t := t; c_ts := ts; c_lon := lon; c_lat := lat; c_cum := cum + step; c_vmax := vmax;
    ELSIF fleetarc.approx_km(c_lon, c_lat, lon, lat) > dmin THEN
      c_t := t; c_ts := ts; c_lon := lon; c_lat := lat; c_cum := cum + step;
    ELSIF t - c_t >= dur THEN   -- stayed near the candidate: it anchors the stop
      a_lon := c_lon; a_lat := c_lat;
      c_t := t; c_ts := ts; c_lon := lon; c_lat := lat; c_cum := cum + step;
    END IF;
    cum := cum + step;
    IF last_pt THEN
      IF moving THEN
        imei := dev; kind := 'trip'; start_time := s_ts; end_time := c_ts;
        start_lon := s_lon; start_lat := s_lat; end_lon := c_lon; end_lat := c_lat;
        km := c_cum - s_cum; max_speed := c_vmax;
        RETURN NEXT;
        moving := false;
      END IF;
      imei := dev; kind := 'last'; start_time := ts; end_time := ts;
      start_lon := lon; start_lat := lat; end_lon := lon; end_lat := lat;
      km := 0; max_speed := NULL;
      RETURN NEXT;
    END IF;
  END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION fleetarc.motion_segments(
    from_ts timestamptz, to_ts timestamptz, imeis text[] DEFAULT NULL,
    min_distance_m float8 DEFAULT 200, min_duration interval DEFAULT '180 s',
    gap interval DEFAULT '3600 s', max_jump_kmh float8 DEFAULT 250)
RETURNS TABLE (imei text, kind text, start_time timestamptz, end_time timestamptz,
               start_lon float8, start_lat float8, end_lon float8, end_lat float8,
               km float8, max_speed float8)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT * FROM fleetarc.motion_part(from_ts, to_ts, imeis, min_distance_m, min_duration,
                                     gap, max_jump_kmh, 0, 2)
  UNION ALL
  SELECT * FROM fleetarc.motion_part(from_ts, to_ts, imeis, min_distance_m, min_duration,
                                     gap, max_jump_kmh, 1, 2)
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
LANGUAGE sql STABLE PARALLEL SAFE AS $$
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
LANGUAGE sql STABLE PARALLEL SAFE AS $$
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
LANGUAGE sql STABLE PARALLEL SAFE AS $$
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
LANGUAGE sql STABLE PARALLEL SAFE AS $$
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
LANGUAGE sql STABLE PARALLEL SAFE AS $$
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
