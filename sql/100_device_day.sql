-- 100_device_day.sql: per device-day summaries of finished days (fleetarc.device_day), so
-- that report_summary and report_distance over many days read one row per device and day
-- and compute only the days not finished yet (today, or a cut last day) from positions.
--
-- What a row holds: for one device, one local day of tz and one set of knobs, the day's
-- results computed over that day alone (km, cleaned points, highest speed, first and last
-- point, trips, their km and time: exactly report_summary's unit), and the first and last
-- three valid stored points of the day (head_*, tail_*), from which report_distance
-- rebuilds what the days' edges change when the whole range is cleaned as one track (see
-- edge_fix). A day of tz is "done" (fleetarc.device_day_done) once it has been computed for
-- every device; devices without a point that day have no row.
--
-- Kept right whatever wrote the rows: every statement writing positions (the archiver's
-- COPY + merge, a backfill, a hand COPY, a restore; through the parent or a partition)
-- leaves one fleetarc.motion_dirty row per device with its time span and transaction
-- (sql/080's statement triggers; no new trigger, no new index on positions; sql/102 keeps
-- the rows still owed to a stored day past the trigger's 15 minutes). Each row and done
-- day keeps the snapshot it was computed under; a dirty entry over a done day that this
-- snapshot could not see makes that device-day stale, and the next report over it (or a
-- call of fleetarc.device_day_refresh) computes it again. No lock: a report never waits
-- for a writer and a writer never waits for a report (reports write only these tables,
-- writers only motion_dirty and motion_cache; two reports storing the same day may wait
-- for each other). motion_cache_ready (below) also drops what is stored over a partition
-- found unwatched or before the oldest partition, as it does for motion_cache.

-- "Finished": a day whose end is before now() and before the range's end. A late row for
-- a finished day arrives like any write and is seen as above. The parts of a range before
-- its first local midnight and after its last finished day are computed live. A tz of
-- NULL, a transaction that is read-only or not read committed, or (for a list of IMEIs)
-- days not stored yet, use the live computation of sql/081.

CREATE TABLE IF NOT EXISTS fleetarc.device_day (
  imei            text NOT NULL,
  tz              text NOT NULL,
  day             date NOT NULL,
  min_distance_m  float8 NOT NULL,
  min_duration    interval NOT NULL,
  gap             interval NOT NULL,
  max_jump_kmh    float8 NOT NULL,
  day_start       timestamptz NOT NULL,
  day_end         timestamptz NOT NULL,
  km              float8 NOT NULL,     -- cleaned km of the day alone
  points          integer NOT NULL,    -- cleaned points of the day alone (0: none any more)
  max_speed       float8,
  first_t         timestamptz,
  last_t          timestamptz,
  trips           integer NOT NULL,
  trip_km         float8,
  moving          interval,
  head_t float8[], head_lon float8[], head_lat float8[],   -- first three valid points
  tail_t float8[], tail_lon float8[], tail_lat float8[],   -- last three, in time order
  snap            pg_snapshot NOT NULL,
  computed_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tz, max_jump_kmh, min_distance_m, min_duration, gap, day, imei)
);
CREATE INDEX IF NOT EXISTS device_day_imei_idx ON fleetarc.device_day (imei, day_start);
COMMENT ON TABLE fleetarc.device_day IS
  'Per device and finished local day: the day''s summary, filled by the reports '
  '(sql/100). Safe to TRUNCATE together with device_day_done at any time.';

CREATE TABLE IF NOT EXISTS fleetarc.device_day_done (
  tz              text NOT NULL,
  day             date NOT NULL,
  min_distance_m  float8 NOT NULL,
  min_duration    interval NOT NULL,
  gap             interval NOT NULL,
  max_jump_kmh    float8 NOT NULL,
  day_start       timestamptz NOT NULL,
  day_end         timestamptz NOT NULL,
  snap            pg_snapshot NOT NULL,
  PRIMARY KEY (tz, max_jump_kmh, min_distance_m, min_duration, gap, day)
);
CREATE INDEX IF NOT EXISTS device_day_done_end_idx ON fleetarc.device_day_done (day_end);

-- One cleaned point as sql/082's track_clean_ext computes it from its neighbours (the two
-- previous and the next valid stored points; NULL where there is none): kept (not a spike)
-- and the step it adds (0 when dropped or a jump; NULL t1 gives 0).
CREATE OR REPLACE FUNCTION fleetarc.clean_point(
    t float8, lon float8, lat float8, t1 float8, lon1 float8, lat1 float8,
    t2 float8, lon2 float8, lat2 float8, tn float8, lonn float8, latn float8, mj float8)
RETURNS TABLE (kept boolean, km float8)   -- one row; a set so that the planner inlines it
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT NOT s.spike,
         CASE WHEN s.spike OR s.kt IS NULL OR s.t - s.kt <= 0
                   OR coalesce(s.t > s.kt AND s.d * 3600 > mj * (s.t - s.kt), false) THEN 0
              ELSE s.d END
  FROM (
    SELECT r.spike, r.t, r.kt, fleetarc.haversine_km(r.klon, r.klat, r.lon, r.lat) AS d
    FROM (
      SELECT q.t, q.lon, q.lat,
             coalesce(q.din * 3600 > mj * greatest(q.t - t1, 0.001)
                  AND fleetarc.approx_km(q.lon, q.lat, lonn, latn) * 3600 > mj * greatest(tn - q.t, 0.001),
                  false) AS spike,
             CASE WHEN q.pspike THEN t2 ELSE t1 END AS kt,
             CASE WHEN q.pspike THEN lon2 ELSE lon1 END AS klon,
             CASE WHEN q.pspike THEN lat2 ELSE lat1 END AS klat
      FROM (
        SELECT p.*, coalesce(fleetarc.approx_km(lon2, lat2, lon1, lat1) * 3600 > mj * greatest(t1 - t2, 0.001)
                             AND p.din * 3600 > mj * greatest(p.t - t1, 0.001), false) AS pspike
        FROM (SELECT t, lon, lat, fleetarc.approx_km(lon1, lat1, lon, lat) AS din OFFSET 0) p
      ) q
      OFFSET 0   -- plain columns below: haversine_km and approx_km are inlined
    ) r
  ) s
$$;

-- What cleaning two consecutive non-empty units of a device as one track changes against
-- cleaning each alone. a_*: the last three valid points of the earlier unit, d_*: the
-- first three of the later one (each unit with at least three). Only three points see
-- across the edge (lag 2, lead 1): the earlier unit's last (its lead, so whether it is a
-- spike) and the later unit's first two (their lags). One row per such point: its time
-- and the change of its km and of the count of cleaned points.
CREATE OR REPLACE FUNCTION fleetarc.edge_fix(
    a_t float8[], a_lon float8[], a_lat float8[], d_t float8[], d_lon float8[], d_lat float8[],
    mj float8)
RETURNS TABLE (t float8, dkm float8, dpts integer)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT a_t[3], j.km - s.km, j.kept::integer - s.kept::integer
  FROM fleetarc.clean_point(a_t[3], a_lon[3], a_lat[3], a_t[2], a_lon[2], a_lat[2],
                            a_t[1], a_lon[1], a_lat[1], d_t[1], d_lon[1], d_lat[1], mj) j,
       fleetarc.clean_point(a_t[3], a_lon[3], a_lat[3], a_t[2], a_lon[2], a_lat[2],
                            a_t[1], a_lon[1], a_lat[1], NULL, NULL, NULL, mj) s
  UNION ALL
  SELECT d_t[1], j.km - s.km, j.kept::integer - s.kept::integer
  FROM fleetarc.clean_point(d_t[1], d_lon[1], d_lat[1], a_t[3], a_lon[3], a_lat[3],
                            a_t[2], a_lon[2], a_lat[2], d_t[2], d_lon[2], d_lat[2], mj) j,
       fleetarc.clean_point(d_t[1], d_lon[1], d_lat[1], NULL, NULL, NULL,
                            NULL, NULL, NULL, d_t[2], d_lon[2], d_lat[2], mj) s
  UNION ALL
  SELECT d_t[2], j.km - s.km, j.kept::integer - s.kept::integer
  FROM fleetarc.clean_point(d_t[2], d_lon[2], d_lat[2], d_t[1], d_lon[1], d_lat[1],
                            a_t[3], a_lon[3], a_lat[3], d_t[3], d_lon[3], d_lat[3], mj) j,
       fleetarc.clean_point(d_t[2], d_lon[2], d_lat[2], d_t[1], d_lon[1], d_lat[1],
                            NULL, NULL, NULL, d_t[3], d_lon[3], d_lat[3], mj) s
$$;

-- The done days that a dirty entry (a write of imei over [lo, hi] by transaction xid)
-- makes stale for that device: computed under a snapshot that did not see the write, and
-- not computed again since under one that did.
CREATE OR REPLACE FUNCTION fleetarc.device_day_stale_for(
    x_imei text, x_lo timestamptz, x_hi timestamptz, x_xid xid8)
RETURNS SETOF fleetarc.device_day_done
LANGUAGE sql STABLE AS $$
  SELECT d.* FROM fleetarc.device_day_done d
  WHERE d.day_end > x_lo AND d.day_start <= x_hi
    AND NOT pg_visible_in_snapshot(x_xid, d.snap)
    AND NOT EXISTS (SELECT 1 FROM fleetarc.device_day r
                    WHERE r.tz = d.tz AND r.max_jump_kmh = d.max_jump_kmh
                      AND r.min_distance_m = d.min_distance_m AND r.min_duration = d.min_duration
                      AND r.gap = d.gap AND r.day = d.day AND r.imei = x_imei
                      AND pg_visible_in_snapshot(x_xid, r.snap))
$$;

-- sql/080's motion_cache_ready again: where it drops cache entries (a partition found
-- unwatched, days before the oldest partition) it drops the day summaries too; and false
-- for a role that may not write the caches (it used to fail on INSERT where no DELETE
-- made it return false first, e.g. with a DEFAULT partition).
CREATE OR REPLACE FUNCTION fleetarc.motion_cache_ready() RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  r record;
  lo timestamptz;
  plo timestamptz;
  phi timestamptz;
BEGIN
  IF pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on'
     OR current_setting('transaction_isolation') <> 'read committed'
     -- a role that may only read (fleetarc_reporter) computes afresh
     OR NOT has_table_privilege('fleetarc.motion_cache', 'INSERT, DELETE')
     OR NOT has_table_privilege('fleetarc.device_day', 'INSERT, UPDATE, DELETE')
     OR NOT has_table_privilege('fleetarc.device_day_done', 'INSERT, DELETE') THEN
    RETURN false;
  END IF;
  FOR r IN
    SELECT i.inhrelid::regclass AS rel, pg_get_expr(c.relpartbound, c.oid) AS bound
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'fleetarc.positions'::regclass
      AND NOT EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = i.inhrelid
                      AND g.tgname = 'motion_watch_ins')
  LOOP
    BEGIN
      PERFORM fleetarc.motion_watch(r.rel);
      -- rows may have been written into it unseen: what covers its range goes
      IF r.bound ~ '^FOR VALUES FROM \(''[^'']+''\) TO' THEN
        plo := (regexp_match(r.bound, $re$FROM \('([^']+)'\)$re$))[1]::timestamptz;
        phi := (regexp_match(r.bound, $re$TO \('([^']+)'\)$re$))[1]::timestamptz;
        DELETE FROM fleetarc.motion_cache c WHERE c.unit_end > plo AND c.unit_start < phi;
        DELETE FROM fleetarc.device_day_done d WHERE d.day_end > plo AND d.day_start < phi;
        DELETE FROM fleetarc.device_day d WHERE d.day_end > plo AND d.day_start < phi;
      ELSE
        DELETE FROM fleetarc.motion_cache;
        DELETE FROM fleetarc.device_day_done;
        DELETE FROM fleetarc.device_day;
      END IF;
    EXCEPTION WHEN OTHERS THEN
      RETURN false;
    END;
  END LOOP;
  SELECT min((regexp_match(pg_get_expr(c.relpartbound, c.oid), $re$FROM \('([^']+)'\)$re$))[1]::timestamptz)
  INTO lo
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
  WHERE i.inhparent = 'fleetarc.positions'::regclass;
  IF lo IS NOT NULL AND NOT EXISTS (
       SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
       WHERE i.inhparent = 'fleetarc.positions'::regclass
         AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT') THEN
    DELETE FROM fleetarc.motion_cache WHERE unit_start < lo;
    DELETE FROM fleetarc.device_day_done WHERE day_start < lo;
    DELETE FROM fleetarc.device_day WHERE day_start < lo;
  END IF;
  RETURN true;
EXCEPTION WHEN insufficient_privilege OR read_only_sql_transaction THEN
  RETURN false;
END
$$;

-- The finished whole local days of tz inside [from_ts, to_ts): from h (from_ts, or the
-- first local midnight after it) to cut (the last local midnight at or before both to_ts
-- and now()); no row when there is none.
CREATE OR REPLACE FUNCTION fleetarc.device_day_span(from_ts timestamptz, to_ts timestamptz, tz text)
RETURNS TABLE (h timestamptz, cut timestamptz) LANGUAGE sql STABLE AS $$
  SELECT x.h, x.c FROM (
    SELECT CASE WHEN ((from_ts AT TIME ZONE tz)::date::timestamp AT TIME ZONE tz) = from_ts
                THEN from_ts
                ELSE (((from_ts AT TIME ZONE tz)::date + 1)::timestamp AT TIME ZONE tz) END AS h,
           ((least(to_ts, now()) AT TIME ZONE tz)::date::timestamp AT TIME ZONE tz) AS c) x
  WHERE tz IS NOT NULL AND to_ts > from_ts AND x.c > x.h
$$;

-- The first (or, from_end, the last) three valid stored points of dev in [lo, hi), in
-- time order: UNIX seconds, longitudes, latitudes (valid as track_clean_ext filters).
CREATE OR REPLACE FUNCTION fleetarc.edge_points(dev text, lo timestamptz, hi timestamptz,
                                                from_end boolean)
RETURNS TABLE (t float8[], lon float8[], lat float8[])
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT array_agg(v.t ORDER BY v.t), array_agg(v.lon ORDER BY v.t), array_agg(v.lat ORDER BY v.t)
  FROM (
    (SELECT date_part('epoch', p.gpstime) AS t, p.longitude AS lon, p.latitude AS lat
     FROM fleetarc.positions p
     WHERE NOT from_end AND p.imei = dev AND p.gpstime >= lo AND p.gpstime < hi
       AND NOT (p.longitude = 0 AND p.latitude = 0)
       AND p.latitude BETWEEN -90 AND 90 AND p.longitude BETWEEN -180 AND 180
     ORDER BY p.gpstime LIMIT 3)
    UNION ALL
    (SELECT date_part('epoch', p.gpstime), p.longitude, p.latitude
     FROM fleetarc.positions p
     WHERE from_end AND p.imei = dev AND p.gpstime >= lo AND p.gpstime < hi
       AND NOT (p.longitude = 0 AND p.latitude = 0)
       AND p.latitude BETWEEN -90 AND 90 AND p.longitude BETWEEN -180 AND 180
     ORDER BY p.gpstime DESC LIMIT 3)) v
$$;

-- The rows of the local days of tz in [lo, hi) (whole days) for imeis (NULL: every device
-- with a cleaned point), computed from positions as report_summary's units.
CREATE OR REPLACE FUNCTION fleetarc.device_day_compute(
    lo timestamptz, hi timestamptz, imeis text[], tz text, md float8, mdur interval,
    gp interval, mj float8)
RETURNS SETOF fleetarc.device_day
LANGUAGE sql STABLE AS $$
  SELECT a.imei, tz, u.unit_day, md, mdur, gp, mj, u.unit_start, u.unit_end,
         a.km, a.points, a.vmax, a.first_t, a.last_t, a.trips::integer, a.trip_km, a.moving,
         h.t, h.lon, h.lat, l.t, l.lon, l.lat, pg_current_snapshot(), now()
  FROM (
    SELECT m.imei, m.unit,
           max(m.km) FILTER (WHERE m.kind = 'last') AS km,
           max(m.max_speed) FILTER (WHERE m.kind = 'last') AS vmax,
           max(m.points) FILTER (WHERE m.kind = 'last') AS points,
           min(m.start_time) FILTER (WHERE m.kind = 'first') AS first_t,
           max(m.end_time) FILTER (WHERE m.kind = 'last') AS last_t,
           count(*) FILTER (WHERE m.kind = 'trip') AS trips,
           sum(m.km) FILTER (WHERE m.kind = 'trip') AS trip_km,
           sum(m.end_time - m.start_time) FILTER (WHERE m.kind = 'trip') AS moving
    FROM fleetarc.motion_units_part(lo, hi, imeis, tz, md, mdur, gp, mj, 0, 1) m
    GROUP BY 1, 2) a
  JOIN fleetarc.report_units(lo, hi, tz) u ON u.unit_start = a.unit
  CROSS JOIN LATERAL fleetarc.edge_points(a.imei, u.unit_start, u.unit_end, false) h
  CROSS JOIN LATERAL fleetarc.edge_points(a.imei, u.unit_start, u.unit_end, true) l
$$;

-- Computes again the device-days of [from_ts, to_ts) (done days only) made stale by
-- writes (device_day_stale_for), for imeis (NULL: all). One statement per day.
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

-- Makes the finished days of [from_ts, to_ts) usable for a report: for every device
-- (imeis NULL) the days not done are computed in one pass and marked done; for a list,
-- false when a day is not done (the caller computes live). Then stale device-days are
-- computed again. false also where the summaries cannot be trusted (motion_cache_ready).
CREATE OR REPLACE FUNCTION fleetarc.device_day_ensure(
    from_ts timestamptz, to_ts timestamptz, imeis text[], tz text, md float8,
    mdur interval, gp interval, mj float8)
RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
  lo timestamptz;
  hi timestamptz;
BEGIN
  IF to_ts IS NULL OR NOT fleetarc.motion_cache_ready() THEN
    RETURN false;
  END IF;
  SELECT min(u.unit_start), max(u.unit_end) INTO lo, hi
  FROM fleetarc.report_units(from_ts, to_ts, tz) u
  WHERE NOT EXISTS (SELECT 1 FROM fleetarc.device_day_done d
                    WHERE d.tz = $4 AND d.max_jump_kmh = $8 AND d.min_distance_m = $5
                      AND d.min_duration = $6 AND d.gap = $7 AND d.day = u.unit_day);
  IF lo IS NOT NULL THEN
    IF imeis IS NOT NULL THEN
      RETURN false;
    END IF;
    -- one statement: the rows and the done days share its snapshot
    WITH fresh AS (
      INSERT INTO fleetarc.device_day
      SELECT * FROM fleetarc.device_day_compute(lo, hi, NULL, $4, $5, $6, $7, $8)
      ON CONFLICT DO NOTHING RETURNING 1)
    INSERT INTO fleetarc.device_day_done
    SELECT $4, u.unit_day, $5, $6, $7, $8, u.unit_start, u.unit_end, pg_current_snapshot()
    FROM fleetarc.report_units(lo, hi, tz) u
    WHERE (SELECT count(*) FROM fresh) >= 0
    ON CONFLICT DO NOTHING;
  END IF;
  PERFORM fleetarc.device_day_refresh(from_ts, to_ts, imeis, $4, $5, $6, $7, $8);
  RETURN true;
END
$$;

-- report_distance of sql/081 computed from positions (every day live).
CREATE OR REPLACE FUNCTION fleetarc.distance_live(
    from_ts timestamptz, to_ts timestamptz, imeis text[], max_jump_kmh float8, tz text)
RETURNS TABLE (imei text, day date, km float8, points bigint)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT c.imei, (c.gpstime AT TIME ZONE tz)::date, coalesce(sum(c.step_km), 0), count(*)
  FROM fleetarc.track_clean(from_ts, to_ts, imeis, max_jump_kmh) c
  GROUP BY 1, 2
$$;

-- Distance per device and local day of tz, as sql/081 defines it (the whole range cleaned
-- as one track; a step counts on the day of its later point). Finished whole days come
-- from fleetarc.device_day: each day's km alone, plus what cleaning across the edge
-- between two consecutive non-empty units of a device changes (edge_fix); the part
-- before the first local midnight and the part after the last finished day (today, or a
-- day cut by to_ts) are computed live, and their three points next to an edge probed
-- through the key. A device with fewer than three valid points in a unit next to another
-- (the edge would reach further) is computed live. Days not stored yet are computed and
-- stored for every device (for a list of IMEIs: the range is computed live): that costs
-- about what computing the distance live does (bench/reports/bench_scale.sh).
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
             lag(s.tail_lat) OVER w AS p_lat
      FROM (SELECT st.imei, st.day_start AS k, st.head_t, st.head_lon, st.head_lat,
                   st.tail_t, st.tail_lon, st.tail_lat FROM st
            UNION ALL
            SELECT v.imei, from_ts, NULL, NULL, NULL, e.t, e.lon, e.lat
            FROM (SELECT DISTINCT hd.imei FROM hd) v
            CROSS JOIN LATERAL fleetarc.edge_points(v.imei, from_ts, h, true) e
            WHERE EXISTS (SELECT 1 FROM st WHERE st.imei = v.imei)
               OR EXISTS (SELECT 1 FROM tl WHERE tl.imei = v.imei)
            UNION ALL
            SELECT v.imei, cut, e.t, e.lon, e.lat, NULL, NULL, NULL
            FROM (SELECT DISTINCT tl.imei FROM tl) v
            CROSS JOIN LATERAL fleetarc.edge_points(v.imei, cut, to_ts, false) e
            WHERE EXISTS (SELECT 1 FROM st WHERE st.imei = v.imei)
               OR EXISTS (SELECT 1 FROM hd WHERE hd.imei = v.imei)) s
      WINDOW w AS (PARTITION BY s.imei ORDER BY s.k)
    ), live AS (     -- devices whose edges reach beyond three points
      SELECT DISTINCT seq.imei FROM seq
      WHERE seq.p_t IS NOT NULL
        AND (cardinality(seq.p_t) < 3 OR coalesce(cardinality(seq.head_t), 0) < 3)
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

-- report_summary's units (sql/081): per device and local day of tz, the day's totals.
-- Finished whole days from fleetarc.device_day, the part before the first local midnight
-- and after the last finished day live; else all through motion_cached as before.
CREATE OR REPLACE FUNCTION fleetarc.summary_units(
    from_ts timestamptz, to_ts timestamptz, imeis text[], tz text, md float8,
    mdur interval, gp interval, mj float8)
RETURNS TABLE (imei text, unit_start timestamptz, unit_end timestamptz, unit_day date,
               km float8, vmax float8, points integer, first_t timestamptz,
               last_t timestamptz, trips bigint, trip_km float8, moving interval)
LANGUAGE plpgsql VOLATILE SET jit = off AS $$
#variable_conflict use_column
DECLARE
  h timestamptz;
  cut timestamptz;
BEGIN
  SELECT s.h, s.cut INTO h, cut FROM fleetarc.device_day_span(from_ts, to_ts, tz) s;
  IF cut IS NULL OR NOT fleetarc.device_day_ensure(h, cut, imeis, tz, md, mdur, gp, mj) THEN
    RETURN QUERY
      SELECT m.imei, m.unit_start, m.unit_end, m.unit_day,
             max((m.seg).km) FILTER (WHERE (m.seg).kind = 'last'),
             max((m.seg).max_speed) FILTER (WHERE (m.seg).kind = 'last'),
             max((m.seg).points) FILTER (WHERE (m.seg).kind = 'last'),
             min((m.seg).start_time) FILTER (WHERE (m.seg).kind = 'first'),
             max((m.seg).end_time) FILTER (WHERE (m.seg).kind = 'last'),
             count(*) FILTER (WHERE (m.seg).kind = 'trip'),
             sum((m.seg).km) FILTER (WHERE (m.seg).kind = 'trip'),
             sum((m.seg).end_time - (m.seg).start_time) FILTER (WHERE (m.seg).kind = 'trip')
      FROM fleetarc.motion_cached(from_ts, to_ts, imeis, tz, md, mdur, gp, mj) m
      GROUP BY 1, 2, 3, 4;
    RETURN;
  END IF;
  RETURN QUERY
    SELECT r.imei, r.day_start, r.day_end, r.day, r.km, r.max_speed, r.points, r.first_t,
           r.last_t, r.trips::bigint, r.trip_km, r.moving
    FROM fleetarc.device_day r
    WHERE r.tz = $4 AND r.max_jump_kmh = $8 AND r.min_distance_m = $5
      AND r.min_duration = $6 AND r.gap = $7
      AND r.day_start >= h AND r.day_end <= cut AND r.points > 0
      AND (imeis IS NULL OR r.imei = ANY (imeis))
    UNION ALL
    SELECT c.imei, c.day_start, c.day_end, c.day, c.km, c.max_speed, c.points, c.first_t,
           c.last_t, c.trips::bigint, c.trip_km, c.moving
    FROM fleetarc.device_day_compute(from_ts, h, imeis, tz, md, mdur, gp, mj) c
    WHERE from_ts < h
    UNION ALL
    SELECT c.imei, c.day_start, c.day_end, c.day, c.km, c.max_speed, c.points, c.first_t,
           c.last_t, c.trips::bigint, c.trip_km, c.moving
    FROM fleetarc.device_day_compute(cut, to_ts, imeis, tz, md, mdur, gp, mj) c
    WHERE cut < to_ts;
END
$$;

-- report_summary of sql/081, its units from summary_units.
CREATE OR REPLACE FUNCTION fleetarc.report_summary(
    from_ts timestamptz, to_ts timestamptz, imeis text[] DEFAULT NULL,
    tz text DEFAULT 'UTC', min_distance_m float8 DEFAULT 200,
    min_duration interval DEFAULT '180 s', gap interval DEFAULT '3600 s',
    max_jump_kmh float8 DEFAULT 250)
RETURNS TABLE (imei text, devicename text, platenumber text, day date,
               distance_km float8, max_speed_kmh float8, avg_speed_kmh float8,
               moving interval, stopped interval, engine interval, trips bigint,
               alarms bigint, points bigint, first_time timestamptz, last_time timestamptz)
LANGUAGE sql VOLATILE SET jit = off AS $$
  WITH u AS MATERIALIZED (
    SELECT * FROM fleetarc.summary_units(from_ts, to_ts, imeis, coalesce(tz, 'UTC'),
                                         min_distance_m, min_duration, gap, max_jump_kmh)
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
