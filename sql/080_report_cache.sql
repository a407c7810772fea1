-- 080_report_cache.sql: trips, stops and the per-day summary computed per unit (a device
-- and a local day, or a device and the whole range) and kept in fleetarc.motion_cache, so
-- that a report already run is a lookup. Results are the same as computing afresh: a
-- unit's result depends only on that device's rows inside the unit, and every statement
-- that writes positions (through fleetarc.positions or straight into a partition: the
-- archiver's COPY, a hand COPY, a restore) deletes the entries its rows fall in.

-- Units of [from_ts, to_ts): with tz NULL the whole range; else each local day of tz
-- (IANA name) cut to the range. unit_day is the local date (NULL for the whole range).
CREATE OR REPLACE FUNCTION fleetarc.report_units(from_ts timestamptz, to_ts timestamptz, tz text)
RETURNS TABLE (unit_start timestamptz, unit_end timestamptz, unit_day date)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT from_ts, to_ts, NULL::date WHERE tz IS NULL AND to_ts > from_ts
  UNION ALL
  SELECT greatest(from_ts, d::date::timestamp AT TIME ZONE tz),
         least(to_ts, (d::date + 1)::timestamp AT TIME ZONE tz), d::date
  FROM generate_series((from_ts AT TIME ZONE tz)::date::timestamp,
                       ((to_ts - interval '1 microsecond') AT TIME ZONE tz)::date::timestamp,
                       interval '1 day') d
  WHERE tz IS NOT NULL AND to_ts > from_ts
$$;

-- track_clean_ext (sql/050) per unit: the window restarts at every unit, so a unit's
-- cleaned track is exactly that of a report over the unit alone. "All devices" and "these
-- devices" are separate branches so that a list of IMEIs uses the primary key.
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

-- One cached row of a unit: kind 'trip', or 'first' / 'last' (the unit's first and last
-- cleaned point). On 'last', km is the unit's whole distance, max_speed its highest
-- reported speed and points its number of cleaned points.
DO $$ BEGIN
  IF to_regtype('fleetarc.motion_seg') IS NULL THEN
    CREATE TYPE fleetarc.motion_seg AS (
      kind text, start_time timestamptz, end_time timestamptz, start_lon float8,
      start_lat float8, end_lon float8, end_lat float8, km float8, max_speed float8,
      points integer);
  END IF;
END $$;

-- motion_part (sql/050) per unit, with the unit's totals on its 'last' row.
CREATE OR REPLACE FUNCTION fleetarc.motion_units_part(
    from_ts timestamptz, to_ts timestamptz, imeis text[], tz text,
    min_distance_m float8, min_duration interval, gap interval, max_jump_kmh float8,
    part integer, parts integer)
RETURNS TABLE (imei text, unit timestamptz, kind text, start_time timestamptz,
               end_time timestamptz, start_lon float8, start_lat float8, end_lon float8,
               end_lat float8, km float8, max_speed float8, points integer)
LANGUAGE plpgsql STABLE PARALLEL SAFE COST 1000000 ROWS 1000 AS $$
#variable_conflict use_column
DECLARE
  dmin constant float8 := min_distance_m / 1000;
  dur constant float8 := date_part('epoch', min_duration);
  gap_s constant float8 := date_part('epoch', gap);
  dev text; un timestamptz; ts timestamptz; t float8; lon float8; lat float8; spd float8; step float8;
  pt float8; plon float8; plat float8; pkm float8;
  brk boolean; first_pt boolean; last_pt boolean;
  moving boolean := false;
  cum float8 := 0;
  vmax float8; umax float8; n integer;
  a_lon float8; a_lat float8;
  c_t float8; c_ts timestamptz; c_lon float8; c_lat float8; c_cum float8; c_vmax float8;
  s_ts timestamptz; s_lon float8; s_lat float8; s_cum float8;
  stop_now boolean;
BEGIN
  FOR dev, un, ts, t, lon, lat, spd, step, pt, plon, plat, pkm, brk, first_pt, last_pt IN
    SELECT c.imei, c.unit, c.gpstime, c.t, c.longitude, c.latitude, coalesce(c.speed, 0),
           coalesce(c.step_km, 0), c.prev_t, c.prev_lon, c.prev_lat, c.prev_km,
           coalesce(c.jump OR c.dt_s > gap_s, true), c.prev_t IS NULL, c.last_pt
    FROM fleetarc.track_units(from_ts, to_ts, imeis, tz, max_jump_kmh, part, parts) c
    ORDER BY c.imei, c.unit, c.gpstime
  LOOP
    stop_now := false;
    imei := dev; unit := un; points := NULL;
    IF brk THEN
      IF moving THEN
        kind := 'trip'; start_time := s_ts; end_time := c_ts;
        start_lon := s_lon; start_lat := s_lat; end_lon := c_lon; end_lat := c_lat;
        km := c_cum - s_cum; max_speed := c_vmax;
        RETURN NEXT;
        moving := false;
      END IF;
      IF first_pt THEN
        cum := 0; umax := spd; n := 0;
        kind := 'first'; start_time := ts; end_time := ts;
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
          stop_now := t - pt >= dur;
        ELSE
          c_t := t; c_ts := ts; c_lon := lon; c_lat := lat; c_cum := cum + step;
          c_vmax := greatest(vmax, spd);
        END IF;
      ELSE
        stop_now := t - c_t >= dur;
      END IF;
      IF stop_now THEN
        kind := 'trip'; start_time := s_ts; end_time := c_ts;
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
    ELSIF t - c_t >= dur THEN
      a_lon := c_lon; a_lat := c_lat;
      c_t := t; c_ts := ts; c_lon := lon; c_lat := lat; c_cum := cum + step;
    END IF;
    cum := cum + step;
    umax := greatest(umax, spd);
    n := n + 1;
    IF last_pt THEN
      IF moving THEN
        kind := 'trip'; start_time := s_ts; end_time := c_ts;
        start_lon := s_lon; start_lat := s_lat; end_lon := c_lon; end_lat := c_lat;
        km := c_cum - s_cum; max_speed := c_vmax;
        RETURN NEXT;
        moving := false;
      END IF;
      kind := 'last'; start_time := ts; end_time := ts;
      start_lon := lon; start_lat := lat; end_lon := lon; end_lat := lat;
      km := cum; max_speed := umax; points := n;
      RETURN NEXT;
    END IF;
  END LOOP;
END
$$;

-- Two halves side by side (a Parallel Append over two workers when the planner wants it),
-- for a caller that can run in parallel.
CREATE OR REPLACE FUNCTION fleetarc.motion_units(
    from_ts timestamptz, to_ts timestamptz, imeis text[], tz text,
    min_distance_m float8, min_duration interval, gap interval, max_jump_kmh float8)
RETURNS TABLE (imei text, unit timestamptz, kind text, start_time timestamptz,
               end_time timestamptz, start_lon float8, start_lat float8, end_lon float8,
               end_lat float8, km float8, max_speed float8, points integer)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT * FROM fleetarc.motion_units_part(from_ts, to_ts, imeis, tz, min_distance_m,
                                           min_duration, gap, max_jump_kmh, 0, 2)
  UNION ALL
  SELECT * FROM fleetarc.motion_units_part(from_ts, to_ts, imeis, tz, min_distance_m,
                                           min_duration, gap, max_jump_kmh, 1, 2)
$$;

-- The cache: one row per device, unit and set of knobs; segs in time order (first,
-- trips, last; empty when the device has no cleaned point in the unit).
CREATE TABLE IF NOT EXISTS fleetarc.motion_cache (
  imei            text NOT NULL,
  unit_start      timestamptz NOT NULL,
  unit_end        timestamptz NOT NULL,
  min_distance_m  float8 NOT NULL,
  min_duration    interval NOT NULL,
  gap             interval NOT NULL,
  max_jump_kmh    float8 NOT NULL,
  segs            fleetarc.motion_seg[] NOT NULL,
  computed_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (imei, unit_start, unit_end, min_distance_m, min_duration, gap, max_jump_kmh)
);
CREATE INDEX IF NOT EXISTS motion_cache_unit_start_idx ON fleetarc.motion_cache (unit_start);
COMMENT ON TABLE fleetarc.motion_cache IS
  'Trips/stops/summary per device and unit, filled by the reports; rows are deleted by the '
  'triggers of positions when rows of their range arrive. Safe to TRUNCATE at any time.';

-- What a write touched, for a report computing at the same time (see motion_cached):
-- one row per statement and device, kept 15 minutes.
CREATE TABLE IF NOT EXISTS fleetarc.motion_dirty (
  imei  text NOT NULL,
  lo    timestamptz NOT NULL,
  hi    timestamptz NOT NULL,
  xid   xid8 NOT NULL DEFAULT pg_current_xact_id(),
  at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS motion_dirty_imei_idx ON fleetarc.motion_dirty (imei);
CREATE INDEX IF NOT EXISTS motion_dirty_at_idx ON fleetarc.motion_dirty (at);

-- 0x666c6565 = 'flee', 2: writers hold it shared until they commit; a report storing
-- entries takes it alone for the rest of its transaction.
CREATE OR REPLACE FUNCTION fleetarc.motion_invalidate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock_shared(1718379877, 2);
  IF TG_OP = 'TRUNCATE' THEN
    DELETE FROM fleetarc.motion_cache;
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
  DELETE FROM fleetarc.motion_dirty WHERE at < now() - interval '15 minutes';
  RETURN NULL;
END
$$;

-- The triggers on positions and on one partition of it (statement triggers do not fire
-- for writes straight into a partition, so every partition gets its own).
CREATE OR REPLACE FUNCTION fleetarc.motion_watch(rel regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = rel AND tgname = 'motion_watch_ins') THEN
    RETURN;
  END IF;
  EXECUTE format('CREATE TRIGGER motion_watch_ins AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows '
                 'FOR EACH STATEMENT EXECUTE FUNCTION fleetarc.motion_invalidate()', rel);
  EXECUTE format('CREATE TRIGGER motion_watch_upd AFTER UPDATE ON %s REFERENCING OLD TABLE AS old_rows '
                 'NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION fleetarc.motion_invalidate()', rel);
  EXECUTE format('CREATE TRIGGER motion_watch_del AFTER DELETE ON %s REFERENCING OLD TABLE AS old_rows '
                 'FOR EACH STATEMENT EXECUTE FUNCTION fleetarc.motion_invalidate()', rel);
  EXECUTE format('CREATE TRIGGER motion_watch_trunc AFTER TRUNCATE ON %s '
                 'FOR EACH STATEMENT EXECUTE FUNCTION fleetarc.motion_invalidate()', rel);
END
$$;

-- Before the cache is trusted: every partition of positions must be watched. A partition
-- that is not (made by ensure_partitions since, or attached) may have had rows written
-- straight into it: the entries over its range are dropped, then it is watched. Entries
-- before the oldest partition (dropped by retention) are dropped too. Returns false when
-- that cannot be done here (read-only, no right to): the reports then compute afresh.
CREATE OR REPLACE FUNCTION fleetarc.motion_cache_ready() RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  r record;
  lo timestamptz;
BEGIN
  IF pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on'
     OR current_setting('transaction_isolation') <> 'read committed' THEN
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
      -- rows may have been written into it unseen: the entries over its range go
      IF r.bound ~ '^FOR VALUES FROM \(''[^'']+''\) TO' THEN
        DELETE FROM fleetarc.motion_cache c
        WHERE c.unit_end > (regexp_match(r.bound, $re$FROM \('([^']+)'\)$re$))[1]::timestamptz
          AND c.unit_start < (regexp_match(r.bound, $re$TO \('([^']+)'\)$re$))[1]::timestamptz;
      ELSE
        DELETE FROM fleetarc.motion_cache;
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
  END IF;
  RETURN true;
EXCEPTION WHEN insufficient_privilege OR read_only_sql_transaction THEN
  RETURN false;
END
$$;

SELECT fleetarc.motion_watch('fleetarc.positions'::regclass);
SELECT fleetarc.motion_watch(i.inhrelid::regclass) FROM pg_inherits i
WHERE i.inhparent = 'fleetarc.positions'::regclass;

-- Motion rows of every device with a stored point in [from_ts, to_ts) (or of imeis), per
-- unit (see report_units), from the cache; the units not in it are computed in one pass
-- (motion_units) and stored, unless a write that this computation could not see touched
-- them meanwhile (motion_dirty) or the cache cannot be used here (motion_cache_ready).
CREATE OR REPLACE FUNCTION fleetarc.motion_cached(
    from_ts timestamptz, to_ts timestamptz, imeis text[], tz text,
    min_distance_m float8, min_duration interval, gap interval, max_jump_kmh float8)
RETURNS TABLE (imei text, unit_start timestamptz, unit_end timestamptz, unit_day date,
               seg fleetarc.motion_seg)
LANGUAGE plpgsql VOLATILE AS $$
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
    hit := ARRAY(SELECT c FROM fleetarc.report_units(from_ts, to_ts, tz) u
                 JOIN fleetarc.motion_cache c ON c.unit_start = u.unit_start AND c.unit_end = u.unit_end
                 WHERE c.imei = ANY (devs) AND c.min_distance_m = $5 AND c.min_duration = $6
                   AND c.gap = $7 AND c.max_jump_kmh = $8);
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
                           coalesce(s.segs, '{}'), now())::fleetarc.motion_cache)
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
      PERFORM pg_advisory_xact_lock(1718379877, 2);   -- writers in flight have committed
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
