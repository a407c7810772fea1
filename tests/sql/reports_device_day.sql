-- The per device-day summaries (sql/100): report_summary and report_distance over finished
-- whole days read fleetarc.device_day and must give what computing from positions gives
-- (the live path: a REPEATABLE READ transaction never uses the summaries), on tracks with
-- glitches at the days' edges, sparse days and empty days, in three time zones; and a
-- late row for a finished day (through the parent, into a partition, a DELETE, a row of
-- the next day that changes the edge) must show in the next report.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.check(label text, got anyelement, want anyelement) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF got IS DISTINCT FROM want THEN
    RAISE EXCEPTION 'FAIL %: got %, want %', label, got, want;
  END IF;
  RAISE NOTICE 'ok %', label;
END $$;

DO $$ BEGIN IF to_regproc('fleetarc.ensure_partitions') IS NOT NULL THEN
  PERFORM fleetarc.ensure_partitions('2026-10-01', '2026-11-30'); END IF; END $$;
-- Six devices over 2026-10-31 .. 2026-11-06 (UTC), a point every 120 s (device 4: every
-- 600 s), driving in bursts, with spikes, (0,0) points and teleports (jumps) placed
-- around midnight UTC, 16:00Z (Shanghai's midnight) and 07:00/08:00Z (Los Angeles').
INSERT INTO fleetarc.positions (imei, gpstime, longitude, latitude, speed, course)
SELECT '99000000000000' || d, timestamptz '2026-10-31 00:00:00+00' + s * interval '1 s',
       CASE WHEN glitch = 1 THEN 0 ELSE round((10 + d + base + CASE WHEN glitch = 2 THEN 3 ELSE 0 END
                                         + CASE WHEN s > 300000 AND d = 3 THEN 2 ELSE 0 END)::numeric, 6)::float8 END,
       CASE WHEN glitch = 1 THEN 0 ELSE round((45 + d * 0.01 + (h % 7) * 0.00003)::numeric, 6)::float8 END,
       CASE WHEN (s / 3600) % 3 = 0 THEN 60 ELSE 0 END, 90
FROM (
  SELECT d, s, h,
         -- drive one hour in three: 0.002 degree a point
         ((s / 10800) * 3600 + least(s % 10800, 3600)) / 120 * 0.002 AS base,
         CASE WHEN s % 86400 IN (86280, 0, 120, 57480, 57600, 57720, 25200, 28800, 28920)
                   AND (d + s / 86400) % 3 = 0 THEN 2                   -- a spike at an edge
              WHEN s % 86400 IN (86280, 57600, 28800) AND (d + s / 86400) % 3 = 1 THEN 1   -- (0,0)
              WHEN h % 97 = 0 THEN 2 ELSE 0 END AS glitch
  FROM generate_series(1, 6) d,
       generate_series(0, 7 * 86400 - 1, 120) s,
       LATERAL (SELECT abs(hashtext(d::text || '/' || s::text)) AS h) hh
  WHERE (d <> 4 OR s % 600 = 0)
    AND NOT (d = 5 AND s / 86400 = 3)                                  -- an empty day
    AND NOT (d = 6 AND s / 86400 = 2 AND s % 86400 > 240)              -- a day of 3 points
    AND NOT (d = 6 AND s / 86400 = 4 AND s % 86400 > 120)              -- a day of 2 points
) g;

-- The compared range: Nov 1 to Nov 6 at the zone's midnights; for 'ZONE@utc', at UTC's
-- midnights (how `fleetarc report --from DATE --tz ZONE` asks), so that the part before
-- the first local midnight and after the last one is computed live.
CREATE FUNCTION pg_temp.zn(z text) RETURNS text LANGUAGE sql AS $$ SELECT split_part(z, '@', 1) $$;
CREATE FUNCTION pg_temp.rf(z text) RETURNS timestamptz LANGUAGE sql AS $$
  SELECT '2026-11-01'::date::timestamp AT TIME ZONE CASE WHEN z LIKE '%@utc' THEN 'UTC' ELSE z END $$;
CREATE FUNCTION pg_temp.rt(z text) RETURNS timestamptz LANGUAGE sql AS $$
  SELECT '2026-11-06'::date::timestamp AT TIME ZONE CASE WHEN z LIKE '%@utc' THEN 'UTC' ELSE z END $$;
-- the reports' rows for zone z, rounded (9 decimals of km: the sums add in another order)
CREATE FUNCTION pg_temp.dist_rows(z text, imeis text[] DEFAULT NULL)
RETURNS TABLE (imei text, day date, km numeric, points bigint) LANGUAGE sql AS $$
  SELECT imei, day, round(km::numeric, 9), points
  FROM fleetarc.report_distance(pg_temp.rf(z), pg_temp.rt(z), imeis, 250, pg_temp.zn(z))
$$;
CREATE FUNCTION pg_temp.sum_rows(z text) RETURNS SETOF text LANGUAGE sql AS $$
  SELECT format('%s %s %s %s %s %s %s %s %s %s %s', imei, day, round(distance_km::numeric, 9),
                max_speed_kmh, round(avg_speed_kmh::numeric, 9), moving, stopped, trips, points,
                first_time, last_time)
  FROM fleetarc.report_summary(pg_temp.rf(z), pg_temp.rt(z), NULL, pg_temp.zn(z))
$$;
-- what the live path gives, run in a REPEATABLE READ transaction (no summaries used)
CREATE TEMP TABLE want_dist (tz text, imei text, day date, km numeric, points bigint);
CREATE TEMP TABLE want_sum (tz text, r text);
CREATE FUNCTION pg_temp.want() RETURNS void LANGUAGE sql AS $$
  TRUNCATE want_dist, want_sum;
  INSERT INTO want_dist SELECT z, d.* FROM unnest(ARRAY['UTC', 'Asia/Shanghai',
    'America/Los_Angeles', 'Asia/Shanghai@utc', 'America/Los_Angeles@utc']) z, pg_temp.dist_rows(z) d;
  INSERT INTO want_sum SELECT z, r FROM unnest(ARRAY['UTC', 'Asia/Shanghai',
    'America/Los_Angeles', 'Asia/Shanghai@utc', 'America/Los_Angeles@utc']) z, pg_temp.sum_rows(z) r;
$$;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT pg_temp.want();
COMMIT;
SELECT pg_temp.check('live path stored nothing', (SELECT count(*) FROM fleetarc.device_day), 0::bigint);

-- rows that differ between the live path's and the reports' now
CREATE FUNCTION pg_temp.dist_diff(z text, imeis text[] DEFAULT NULL) RETURNS bigint LANGUAGE sql AS $$
  WITH w AS (SELECT imei, day, km, points FROM want_dist WHERE tz = z AND (imeis IS NULL OR imei = ANY (imeis))),
       g AS MATERIALIZED (SELECT * FROM pg_temp.dist_rows(z, imeis))
  SELECT count(*) FROM ((TABLE w EXCEPT TABLE g) UNION ALL (TABLE g EXCEPT TABLE w)) x
$$;
CREATE FUNCTION pg_temp.sum_diff(z text) RETURNS bigint LANGUAGE sql AS $$
  WITH w AS (SELECT r FROM want_sum WHERE tz = z),
       g AS MATERIALIZED (SELECT r FROM pg_temp.sum_rows(z) r)
  SELECT count(*) FROM ((TABLE w EXCEPT TABLE g) UNION ALL (TABLE g EXCEPT TABLE w)) x
$$;

SELECT pg_temp.check('rows to compare', (SELECT count(*) >= 25 FROM want_dist WHERE tz = 'UTC'), true);
SELECT pg_temp.check('distance UTC (days computed and stored)', pg_temp.dist_diff('UTC'), 0::bigint);
SELECT pg_temp.check('days stored', (SELECT count(*) FROM fleetarc.device_day_done WHERE tz = 'UTC'), 5::bigint);
SELECT pg_temp.check('distance UTC again (from the summaries)', pg_temp.dist_diff('UTC'), 0::bigint);
SELECT pg_temp.check('distance UTC, a list of IMEIs (from the summaries)',
                     pg_temp.dist_diff('UTC', ARRAY['990000000000002', '990000000000006']), 0::bigint);
SELECT pg_temp.check('distance Shanghai', pg_temp.dist_diff('Asia/Shanghai'), 0::bigint);
SELECT pg_temp.check('distance Shanghai again', pg_temp.dist_diff('Asia/Shanghai'), 0::bigint);
SELECT pg_temp.check('distance Los Angeles (DST ends on Nov 1)', pg_temp.dist_diff('America/Los_Angeles'), 0::bigint);
SELECT pg_temp.check('distance Los Angeles again', pg_temp.dist_diff('America/Los_Angeles'), 0::bigint);
SELECT pg_temp.check('summary UTC', pg_temp.sum_diff('UTC'), 0::bigint);
SELECT pg_temp.check('summary UTC again', pg_temp.sum_diff('UTC'), 0::bigint);
SELECT pg_temp.check('summary Shanghai', pg_temp.sum_diff('Asia/Shanghai'), 0::bigint);
SELECT pg_temp.check('summary Los Angeles', pg_temp.sum_diff('America/Los_Angeles'), 0::bigint);
SELECT pg_temp.check('distance Shanghai over UTC days (edges of the live parts)', pg_temp.dist_diff('Asia/Shanghai@utc'), 0::bigint);
SELECT pg_temp.check('distance Los Angeles over UTC days', pg_temp.dist_diff('America/Los_Angeles@utc'), 0::bigint);
SELECT pg_temp.check('summary Shanghai over UTC days', pg_temp.sum_diff('Asia/Shanghai@utc'), 0::bigint);
SELECT pg_temp.check('summary Los Angeles over UTC days', pg_temp.sum_diff('America/Los_Angeles@utc'), 0::bigint);
SELECT pg_temp.check('the summaries are used',
  (SELECT count(*) > 0 FROM fleetarc.device_day WHERE tz = 'UTC' AND points > 0), true);

-- A range whose live tail holds fewer than 3 points (to 00:03Z: 2 points at 120 s): exact,
-- and still served from the stored days (sql/103; sql/100 computed every device live).
CREATE FUNCTION pg_temp.short_rows() RETURNS TABLE (imei text, day date, km numeric, points bigint)
LANGUAGE sql AS $$
  SELECT imei, day, round(km::numeric, 9), points
  FROM fleetarc.report_distance('2026-11-01 00:00Z', '2026-11-06 00:03Z', NULL, 250, 'UTC')
$$;
CREATE TEMP TABLE want_short AS SELECT * FROM pg_temp.short_rows() WHERE false;
BEGIN ISOLATION LEVEL REPEATABLE READ;
INSERT INTO want_short SELECT * FROM pg_temp.short_rows();
COMMIT;
SELECT pg_temp.check('distance with a live tail of fewer than 3 points',
  (SELECT count(*) FROM ((TABLE want_short EXCEPT SELECT * FROM pg_temp.short_rows())
                         UNION ALL (SELECT * FROM pg_temp.short_rows() EXCEPT TABLE want_short)) x),
  0::bigint);
-- served from the stored days: a mark put on one stored day shows in the report
UPDATE fleetarc.device_day SET km = km + 1000 WHERE tz = 'UTC' AND max_jump_kmh = 250
  AND imei = '990000000000001' AND day = '2026-11-03';
SELECT pg_temp.check('a live tail of fewer than 3 points: the stored days are read',
  (SELECT km > 1000 FROM pg_temp.short_rows() WHERE imei = '990000000000001' AND day = '2026-11-03'),
  true);
UPDATE fleetarc.device_day SET km = km - 1000 WHERE tz = 'UTC' AND max_jump_kmh = 250
  AND imei = '990000000000001' AND day = '2026-11-03';

-- A range whose live head holds 1 or 2 points (from 23:57Z or 23:55Z on Oct 31: the points
-- at 23:58, or 23:56 and 23:58; a spike or a (0,0) point there for some devices): the
-- step from the head's last point into the first stored day, and whether that point is a
-- spike, are those of the whole range cleaned as one track. sql/103 and sql/105 took the
-- head's last point as the third of its last three, which a head of fewer points does not
-- have: the step was lost (sql/109).
CREATE FUNCTION pg_temp.head_rows(f timestamptz) RETURNS TABLE (imei text, day date, km numeric, points bigint)
LANGUAGE sql AS $$
  SELECT imei, day, round(km::numeric, 9), points
  FROM fleetarc.report_distance(f, '2026-11-06 00:00Z', NULL, 250, 'UTC')
$$;
CREATE TEMP TABLE want_head (f timestamptz, imei text, day date, km numeric, points bigint);
BEGIN ISOLATION LEVEL REPEATABLE READ;
INSERT INTO want_head SELECT f, h.* FROM unnest(ARRAY['2026-10-31 23:55Z', '2026-10-31 23:57Z']::timestamptz[]) f,
  pg_temp.head_rows(f) h;
COMMIT;
SELECT pg_temp.check('the live heads of device 2 hold 2 and 1 points',
  (SELECT array_agg((SELECT count(*) FROM fleetarc.positions WHERE imei = '990000000000002'
                       AND gpstime >= f AND gpstime < '2026-11-01 00:00Z') ORDER BY f)
   FROM unnest(ARRAY['2026-10-31 23:55Z', '2026-10-31 23:57Z']::timestamptz[]) f),
  ARRAY[2, 1]::bigint[]);
SELECT pg_temp.check('distance with a live head of 2 points',
  (SELECT count(*) FROM (
     (SELECT imei, day, km, points FROM want_head WHERE f = '2026-10-31 23:55Z'
      EXCEPT SELECT * FROM pg_temp.head_rows('2026-10-31 23:55Z'))
     UNION ALL (SELECT * FROM pg_temp.head_rows('2026-10-31 23:55Z')
                EXCEPT SELECT imei, day, km, points FROM want_head WHERE f = '2026-10-31 23:55Z')) x),
  0::bigint);
SELECT pg_temp.check('distance with a live head of 1 point',
  (SELECT count(*) FROM (
     (SELECT imei, day, km, points FROM want_head WHERE f = '2026-10-31 23:57Z'
      EXCEPT SELECT * FROM pg_temp.head_rows('2026-10-31 23:57Z'))
     UNION ALL (SELECT * FROM pg_temp.head_rows('2026-10-31 23:57Z')
                EXCEPT SELECT imei, day, km, points FROM want_head WHERE f = '2026-10-31 23:57Z')) x),
  0::bigint);
SELECT pg_temp.check('a live head of fewer than 3 points: the stored days are read',
  (SELECT count(*) > 0 FROM fleetarc.device_day WHERE tz = 'UTC' AND day = '2026-11-01'), true);

-- ---- late rows for finished days ----
CREATE FUNCTION pg_temp.day_km(i text, d date) RETURNS numeric LANGUAGE sql AS $$
  SELECT round(km::numeric, 9) FROM fleetarc.report_distance('2026-11-01', '2026-11-06', NULL, 250, 'UTC')
  WHERE imei = i AND day = d
$$;
CREATE FUNCTION pg_temp.day_points(i text, d date) RETURNS bigint LANGUAGE sql AS $$
  SELECT points FROM fleetarc.report_summary('2026-11-01', '2026-11-06', NULL, 'UTC')
  WHERE imei = i AND day = d
$$;
CREATE FUNCTION pg_temp.live_km(i text, d date) RETURNS numeric LANGUAGE sql AS $$
  SELECT round(km::numeric, 9) FROM fleetarc.distance_live('2026-11-01', '2026-11-06', ARRAY[i], 250, 'UTC')
  WHERE day = d
$$;
-- cleaned points of a day alone, from positions
CREATE FUNCTION pg_temp.live_points(i text, d date) RETURNS bigint LANGUAGE sql AS $$
  SELECT count(*) FROM fleetarc.track_clean(d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC', ARRAY[i])
$$;
SELECT pg_temp.check('points of device 1 on Nov 3 before',
  pg_temp.day_points('990000000000001', '2026-11-03'), pg_temp.live_points('990000000000001', '2026-11-03'));
CREATE TEMP TABLE before AS SELECT pg_temp.day_points('990000000000001', '2026-11-03') AS p;
-- a late row through the parent (an archiver's write): 30 s after a point, 100 m east
INSERT INTO fleetarc.positions
SELECT imei, gpstime + interval '30 s', longitude + 0.0013, latitude, 20, 90 FROM fleetarc.positions
WHERE imei = '990000000000001' AND gpstime = '2026-11-03 10:00:00Z';
SELECT pg_temp.check('late row through positions: distance as live',
  pg_temp.day_km('990000000000001', '2026-11-03'), pg_temp.live_km('990000000000001', '2026-11-03'));
SELECT pg_temp.check('late row through positions: summary has the point',
  pg_temp.day_points('990000000000001', '2026-11-03'), pg_temp.live_points('990000000000001', '2026-11-03'));
SELECT pg_temp.check('the late row is one more point',
  pg_temp.day_points('990000000000001', '2026-11-03') - (SELECT p FROM before), 1::bigint);
-- a late row straight into the partition (a hand COPY, a restore), for a device-day that
-- had no point (device 5's empty Nov 3)
DO $$
DECLARE part regclass;
BEGIN
  SELECT tableoid::regclass INTO part FROM fleetarc.positions
  WHERE gpstime = '2026-11-03 12:00Z' LIMIT 1;
  EXECUTE format('INSERT INTO %s VALUES (%L, %L, 15.5, 45.05, 0, 0), (%L, %L, 15.51, 45.05, 0, 0)',
                 part, '990000000000005', '2026-11-03 12:00:00Z', '990000000000005', '2026-11-03 12:10:00Z');
END $$;
SELECT pg_temp.check('rows into the partition for an empty day: summary has them',
  pg_temp.day_points('990000000000005', '2026-11-03'), 2::bigint);
SELECT pg_temp.check('rows into the partition for an empty day: distance as live',
  pg_temp.day_km('990000000000005', '2026-11-03'), pg_temp.live_km('990000000000005', '2026-11-03'));
-- a late row at the start of a day changes the edge with the previous day
INSERT INTO fleetarc.positions VALUES ('990000000000002', '2026-11-04 00:00:01Z', 40.0, 45.0, 0, 0);
SELECT pg_temp.check('a spike at the start of a day: Nov 3 as live',
  pg_temp.day_km('990000000000002', '2026-11-03'), pg_temp.live_km('990000000000002', '2026-11-03'));
SELECT pg_temp.check('a spike at the start of a day: Nov 4 as live',
  pg_temp.day_km('990000000000002', '2026-11-04'), pg_temp.live_km('990000000000002', '2026-11-04'));
DELETE FROM fleetarc.positions WHERE imei = '990000000000003' AND gpstime >= '2026-11-02 06:00Z'
  AND gpstime < '2026-11-02 09:00Z';
SELECT pg_temp.check('deleted rows: distance as live',
  pg_temp.day_km('990000000000003', '2026-11-02'), pg_temp.live_km('990000000000003', '2026-11-02'));
-- and everything once more, all zones, against a fresh live computation
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT pg_temp.want();
COMMIT;
SELECT pg_temp.check('after the late rows: distance UTC', pg_temp.dist_diff('UTC'), 0::bigint);
SELECT pg_temp.check('after the late rows: distance Shanghai', pg_temp.dist_diff('Asia/Shanghai'), 0::bigint);
SELECT pg_temp.check('after the late rows: distance Los Angeles', pg_temp.dist_diff('America/Los_Angeles'), 0::bigint);
SELECT pg_temp.check('after the late rows: summary UTC', pg_temp.sum_diff('UTC'), 0::bigint);
SELECT pg_temp.check('after the late rows: summary Shanghai', pg_temp.sum_diff('Asia/Shanghai'), 0::bigint);
SELECT pg_temp.check('after the late rows: summary Los Angeles', pg_temp.sum_diff('America/Los_Angeles'), 0::bigint);
SELECT pg_temp.check('after the late rows: distance Shanghai over UTC days', pg_temp.dist_diff('Asia/Shanghai@utc'), 0::bigint);
SELECT pg_temp.check('after the late rows: summary Los Angeles over UTC days', pg_temp.sum_diff('America/Los_Angeles@utc'), 0::bigint);
-- the summaries are not recomputed when nothing was written
SELECT pg_temp.check('nothing stale', (SELECT fleetarc.device_day_refresh('2026-11-01', '2026-11-06', NULL,
  'UTC', 200, '180 s', '3600 s', 250)), 0);

-- ---- sql/104: the finished days stored ahead by fleetarc.refresh_device_days ----
TRUNCATE fleetarc.motion_cache, fleetarc.device_day, fleetarc.device_day_done;
CREATE TEMP TABLE refreshed AS
  SELECT * FROM fleetarc.refresh_device_days('2026-11-01', '2026-11-07', 'UTC');
SELECT pg_temp.check('refresh walks the six finished days',
  (SELECT count(*) FROM refreshed WHERE stored), 6::bigint);
SELECT pg_temp.check('refresh stores every device-day with a cleaned point',
  (SELECT sum(devices) FROM refreshed)::bigint,
  (SELECT count(DISTINCT (c.imei, (c.gpstime AT TIME ZONE 'UTC')::date))
   FROM fleetarc.track_clean('2026-11-01', '2026-11-07', NULL) c));
SELECT pg_temp.check('refresh stores the one-day trips and stops of every device',
  (SELECT count(*) FROM fleetarc.motion_cache c
   WHERE c.unit_end - c.unit_start = interval '1 day' AND c.min_distance_m = 200
     AND c.min_duration = '180 s' AND c.gap = '3600 s' AND c.max_jump_kmh = 250),
  (SELECT count(DISTINCT (p.imei, (p.gpstime AT TIME ZONE 'UTC')::date)) FROM fleetarc.positions p
   WHERE p.gpstime >= '2026-11-01' AND p.gpstime < '2026-11-07'));
-- the stored days serve the reports: no day computed by them
CREATE TEMP TABLE stamp AS SELECT max(computed_at) AS t, count(*) AS n FROM fleetarc.device_day;
SELECT pg_temp.check('after refresh: distance UTC as live', pg_temp.dist_diff('UTC'), 0::bigint);
SELECT pg_temp.check('after refresh: summary UTC as live', pg_temp.sum_diff('UTC'), 0::bigint);
SELECT pg_temp.check('after refresh: the reports computed no day',
  (SELECT (max(computed_at), count(*)) FROM fleetarc.device_day)::text,
  (SELECT (t, n) FROM stamp)::text);
-- one day's trips from the stored unit are those computed afresh
CREATE TEMP TABLE trips_stored AS
  SELECT imei, start_time, end_time, round(distance_km::numeric, 9) AS km
  FROM fleetarc.report_trips('2026-11-03', '2026-11-04');
BEGIN ISOLATION LEVEL REPEATABLE READ;   -- nothing stored is read
CREATE TEMP TABLE trips_live AS
  SELECT imei, start_time, end_time, round(distance_km::numeric, 9) AS km
  FROM fleetarc.report_trips('2026-11-03', '2026-11-04');
COMMIT;
SELECT pg_temp.check('after refresh: trips of Nov 3 as computed afresh',
  (SELECT count(*) FROM ((TABLE trips_stored EXCEPT TABLE trips_live)
                         UNION ALL (TABLE trips_live EXCEPT TABLE trips_stored)) x), 0::bigint);
SELECT pg_temp.check('trips of Nov 3 are there', (SELECT count(*) > 0 FROM trips_live), true);
-- a late row for a finished day: the next refresh computes that device-day again, before
-- any report asks for it
INSERT INTO fleetarc.positions
SELECT imei, gpstime + interval '45 s', longitude + 0.0013, latitude, 20, 90 FROM fleetarc.positions
WHERE imei = '990000000000001' AND gpstime = '2026-11-03 10:30:00Z';
SELECT pg_temp.check('the late row is not in the stored day yet',
  (SELECT points FROM fleetarc.device_day WHERE imei = '990000000000001' AND day = '2026-11-03'
     AND tz = 'UTC' AND min_distance_m = 200 AND max_jump_kmh = 250)::bigint
  = pg_temp.live_points('990000000000001', '2026-11-03') - 1, true);
SELECT pg_temp.check('refresh after a late row: all days still stored',
  (SELECT count(*) FROM fleetarc.refresh_device_days('2026-11-01', '2026-11-07', 'UTC') WHERE stored),
  6::bigint);
SELECT pg_temp.check('refresh after a late row: the stored day has the row',
  (SELECT points FROM fleetarc.device_day WHERE imei = '990000000000001' AND day = '2026-11-03'
     AND tz = 'UTC' AND min_distance_m = 200 AND max_jump_kmh = 250)::bigint,
  pg_temp.live_points('990000000000001', '2026-11-03'));
SELECT pg_temp.check('refresh after a late row: nothing stale left',
  (SELECT fleetarc.device_day_refresh('2026-11-01', '2026-11-07', NULL, 'UTC', 200, '180 s',
                                      '3600 s', 250)), 0);
SELECT pg_temp.check('refresh after a late row: the one-day trips stored again',
  (SELECT count(*) FROM fleetarc.motion_cache c
   WHERE c.imei = '990000000000001' AND c.unit_start = '2026-11-03' AND c.unit_end = '2026-11-04'
     AND c.min_distance_m = 200 AND c.max_jump_kmh = 250), 1::bigint);
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT pg_temp.want();
COMMIT;
SELECT pg_temp.check('refresh after a late row: distance UTC as live', pg_temp.dist_diff('UTC'), 0::bigint);
-- the notes of writes older than 15 minutes that nothing stored needs are purged
UPDATE fleetarc.motion_dirty SET at = at - interval '1 hour';
SELECT pg_temp.check('write notes before the purge', (SELECT count(*) > 0 FROM fleetarc.motion_dirty), true);
SELECT count(*) FROM fleetarc.refresh_device_days('2026-11-01', '2026-11-07', 'UTC');
SELECT pg_temp.check('refresh purges the write notes nothing needs',
  (SELECT count(*) FROM fleetarc.motion_dirty), 0::bigint);
SELECT pg_temp.check('after the purge: distance UTC as live', pg_temp.dist_diff('UTC'), 0::bigint);
-- other knobs: the summary's days with them, and report_distance's own
SELECT pg_temp.check('refresh with other knobs: one day',
  (SELECT count(*) FROM fleetarc.refresh_device_days('2026-11-02', '2026-11-03', 'UTC', 500) WHERE stored), 1::bigint);
SELECT pg_temp.check('refresh with other knobs: stored with them and with report_distance''s',
  (SELECT array_agg(DISTINCT min_distance_m ORDER BY min_distance_m) FROM fleetarc.device_day
   WHERE day = '2026-11-02' AND tz = 'UTC'), ARRAY[200, 500]::float8[]);
-- where nothing may be stored, it says so
BEGIN READ ONLY;
SELECT pg_temp.check('refresh in a read-only transaction stores nothing',
  (SELECT bool_or(stored) FROM fleetarc.refresh_device_days('2026-11-01', '2026-11-07', 'UTC')), false);
COMMIT;
SELECT pg_temp.check('refresh of an unfinished day walks nothing',
  (SELECT count(*) FROM fleetarc.refresh_device_days(now() - interval '1 hour', now() + interval '1 day', 'UTC')),
  0::bigint);
-- No report's cost grows with the months kept (sql/107, issue 22): a report of one day of
-- November reads no other month's partition (the data has October 31; migrate keeps empty
-- months ahead). Counted in this transaction's table statistics; only with monthly
-- partitions (migrate), not with the stand-in schema's default partition.
CREATE FUNCTION pg_temp.other_months() RETURNS bigint LANGUAGE sql AS $$
  SELECT CASE WHEN to_regclass('fleetarc.positions_202611') IS NULL THEN 0::bigint ELSE
    (SELECT coalesce(sum(coalesce(s.seq_scan, 0) + coalesce(s.idx_scan, 0)), 0)::bigint
     FROM pg_stat_xact_user_tables s
     WHERE s.schemaname = 'fleetarc' AND s.relname LIKE 'positions\_%' AND s.relname <> 'positions_202611')
  END
$$;
TRUNCATE fleetarc.motion_cache;
BEGIN;
SELECT count(*) FROM fleetarc.report_trips('2026-11-03', '2026-11-04');
SELECT pg_temp.check('trips of one day, computed: no other month read', pg_temp.other_months(), 0::bigint);
COMMIT;
BEGIN;
SELECT count(*) FROM fleetarc.report_stops('2026-11-03', '2026-11-04');
SELECT pg_temp.check('stops of one day, stored: no other month read', pg_temp.other_months(), 0::bigint);
COMMIT;
BEGIN;
SELECT count(*) FROM fleetarc.report_latest('2026-11-03', '2026-11-04');
SELECT pg_temp.check('latest of one day: no other month read', pg_temp.other_months(), 0::bigint);
COMMIT;
