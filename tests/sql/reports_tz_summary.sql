-- Names, time zones, the summary and the cache (sql/080, sql/081), with exact hand-made
-- expectations. Run by tests/integration/test_sql_reports.sh after reports_handmade.sql
-- (devices A and B of that file are used as they are).
-- Steps are 0.001 degree of longitude on the equator: s = 0.11119508 km.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.check(label text, got anyelement, want anyelement) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF got IS DISTINCT FROM want THEN
    RAISE EXCEPTION 'FAIL %: got %, want %', label, got, want;
  END IF;
END $$;
CREATE FUNCTION pg_temp.steps(n float8) RETURNS numeric LANGUAGE sql IMMUTABLE
AS $$ SELECT round((n * 6371.0088 * 0.001 * pi() / 180)::numeric, 6) $$;
CREATE FUNCTION pg_temp.avg(n float8, secs float8) RETURNS numeric LANGUAGE sql IMMUTABLE
AS $$ SELECT round((n * 6371.0088 * 0.001 * pi() / 180 * 3600 / secs)::numeric, 6) $$;
CREATE FUNCTION pg_temp.r(x float8) RETURNS numeric LANGUAGE sql IMMUTABLE
AS $$ SELECT round(x::numeric, 6) $$;
CREATE FUNCTION pg_temp.secs(x interval) RETURNS bigint LANGUAGE sql IMMUTABLE
AS $$ SELECT extract(epoch FROM x)::bigint $$;

INSERT INTO fleetarc.devices (imei, account, devicename, platenumber) VALUES
  ('000000000000001', 'acc', 'Truck 1', 'B-AB 123'),
  ('000000000000003', 'acc', '货车 3', '沪A 12345');

-- ---- names ----
SELECT pg_temp.check('trips carry name and plate',
  (SELECT string_agg(DISTINCT devicename || '/' || platenumber, ',')
   FROM fleetarc.report_trips('2026-11-01', '2026-11-02', ARRAY['000000000000001'])), 'Truck 1/B-AB 123');
SELECT pg_temp.check('every report names the device',
  (SELECT array[(SELECT min(devicename) FROM fleetarc.report_stops('2026-11-01', '2026-11-02')),
                (SELECT min(devicename) FROM fleetarc.report_distance('2026-11-01', '2026-11-02')),
                (SELECT min(devicename) FROM fleetarc.report_alarms('2026-11-01', '2026-11-02')),
                (SELECT min(devicename) FROM fleetarc.report_gaps('2026-11-01', '2026-11-02')),
                (SELECT min(devicename) FROM fleetarc.report_latest('2026-11-01', '2026-11-02')),
                (SELECT min(devicename) FROM fleetarc.report_route('2026-11-01', '2026-11-02')),
                (SELECT min(devicename) FROM fleetarc.report_speeding('2026-11-01', '2026-11-02')),
                (SELECT min(devicename) FROM fleetarc.report_summary('2026-11-01', '2026-11-02'))]),
  array_fill('Truck 1'::text, ARRAY[8]));
SELECT pg_temp.check('a device without a devices row has no name',
  (SELECT count(*) FROM fleetarc.report_latest('2026-11-01', '2026-11-02', ARRAY['000000000000002'])
   WHERE devicename IS NULL AND platenumber IS NULL), 1::bigint);

-- ---- summary of A, UTC day, by hand (reports_handmade.sql's track) ----
-- distance 180 steps; trips 610-1190, 1810-2390, 9610-10180: moving 580+580+570 = 1730 s,
-- their km 58+58+57 steps; first point 0, last 10970: stopped 10970-1730 = 9240 s;
-- alarms on the day: 2 SOS + 1 unknown; 214 cleaned points; max speed 120; no engine alarm.
SELECT pg_temp.check('summary A (UTC)',
  (SELECT format('%s %s %s %s %s %s %s %s %s %s %s', day, pg_temp.r(distance_km), max_speed_kmh,
                 pg_temp.r(avg_speed_kmh), pg_temp.secs(moving), pg_temp.secs(stopped),
                 coalesce(pg_temp.secs(engine)::text, '-'), trips, alarms, points, devicename)
   FROM fleetarc.report_summary('2026-11-01', '2026-11-02', ARRAY['000000000000001'])),
  format('2026-11-01 %s 120 %s 1730 9240 - 3 3 214 Truck 1', pg_temp.steps(180),
         pg_temp.avg(173, 1730)));

-- ---- device C: a trip over midnight in Asia/Shanghai (16:00 UTC) ----
-- parked at lon 20.000 every 60 s 15:00..15:50Z; drive k = 1..120 every 10 s from
-- 15:50:10Z (lon 20.000 + 0.001 k, 40 km/h) to 16:10:00Z; parked at 20.120 every 60 s
-- 16:11..17:00Z. Engine on 15:45Z, off 16:05Z; alarm 1 at 16:30Z (day 2: 2 alarms).
INSERT INTO fleetarc.positions (imei, gpstime, longitude, latitude, speed, course)
SELECT '000000000000003', ts, lon, 0, spd, 90 FROM (
  SELECT timestamptz '2026-11-01 15:00Z' + g * interval '60 s' AS ts, 20.0 AS lon, 0 AS spd
  FROM generate_series(0, 50) g
  UNION ALL
  SELECT timestamptz '2026-11-01 15:50Z' + k * interval '10 s', 20.0 + 0.001 * k, 40
  FROM generate_series(1, 120) k
  UNION ALL
  SELECT timestamptz '2026-11-01 16:10Z' + g * interval '60 s', 20.120, 0 FROM generate_series(1, 50) g
) p;
INSERT INTO fleetarc.alarms (imei, alarm_type, gpstime, systemtime, longitude, latitude, speed, course, geofence_id) VALUES
  ('000000000000003', 9, '2026-11-01 15:45Z', '2026-11-01 15:45Z', 20, 0, 0, 0, 0),
  ('000000000000003', 10, '2026-11-01 16:05Z', '2026-11-01 16:05Z', 20.09, 0, 40, 90, 0),
  ('000000000000003', 1, '2026-11-01 16:30Z', '2026-11-01 16:30Z', 20.12, 0, 0, 0, 0);
SELECT pg_temp.check('C trips, UTC: one trip over the hour',
  (SELECT string_agg(format('%s-%s %s', to_char(start_time AT TIME ZONE 'UTC', 'HH24:MI:SS'),
                            to_char(end_time AT TIME ZONE 'UTC', 'HH24:MI:SS'), pg_temp.r(distance_km)), ' ')
   FROM fleetarc.report_trips('2026-11-01', '2026-11-02', ARRAY['000000000000003'])),
  format('15:50:10-16:09:50 %s', pg_temp.steps(118)));
SELECT pg_temp.check('C distance per Shanghai day (the step into 16:00Z counts on the 2nd)',
  (SELECT string_agg(format('%s %s %s', day, pg_temp.r(km), points), '; ')
   FROM fleetarc.report_distance('2026-11-01', '2026-11-02', ARRAY['000000000000003'], 250, 'Asia/Shanghai')),
  format('2026-11-01 %s 110; 2026-11-02 %s 111', pg_temp.steps(59), pg_temp.steps(61)));
SELECT pg_temp.check('C distance, UTC: one day',
  (SELECT string_agg(format('%s %s', day, pg_temp.r(km)), '; ')
   FROM fleetarc.report_distance('2026-11-01', '2026-11-02', ARRAY['000000000000003'])),
  format('2026-11-01 %s', pg_temp.steps(120)));
-- Each Shanghai day alone: day 1 = 15:00..15:59:50Z, the trip 15:50:10-15:59:40 (57
-- steps, ended by the day's last point one report late); day 2 = 16:00..17:00Z, anchored
-- at 16:00:00, the trip 16:00:10-16:09:50 (58 steps). Engine 15:45-16:00 and 16:00-16:05.
SELECT pg_temp.check('C summary per Shanghai day',
  (SELECT string_agg(format('%s %s %s %s %s %s %s %s %s %s %s %s', day, pg_temp.r(distance_km),
                            max_speed_kmh, pg_temp.r(avg_speed_kmh), pg_temp.secs(moving),
                            pg_temp.secs(stopped), pg_temp.secs(engine), trips, alarms, points,
                            to_char(first_time AT TIME ZONE 'Asia/Shanghai', 'HH24:MI:SS'),
                            platenumber), '; ')
   FROM fleetarc.report_summary('2026-11-01', '2026-11-02', ARRAY['000000000000003'], 'Asia/Shanghai')),
  format('2026-11-01 %s 40 %s 570 3020 900 1 1 110 23:00:00 沪A 12345; '
         '2026-11-02 %s 40 %s 580 3020 300 1 2 111 00:00:00 沪A 12345',
         pg_temp.steps(59), pg_temp.avg(57, 570), pg_temp.steps(60), pg_temp.avg(58, 580)));
SELECT pg_temp.check('C alarms per Shanghai day',
  (SELECT string_agg(format('%s %s %s', day, alarm_type, alarms), '; ')
   FROM fleetarc.report_alarms('2026-11-01', '2026-11-02', ARRAY['000000000000003'], 'Asia/Shanghai')),
  '2026-11-01 9 1; 2026-11-02 1 1; 2026-11-02 10 1');

-- ---- device D: America/Los_Angeles leaves DST on 2026-11-01 (a 25-hour day) ----
-- 06:59Z = Oct 31 23:59 PDT; 07:00Z = Nov 1 00:00 PDT; Nov 2 07:30Z = Nov 1 23:30 PST;
-- Nov 2 08:00Z = Nov 2 00:00 PST. One step of 0.001 degree between each.
INSERT INTO fleetarc.positions VALUES
  ('000000000000004', '2026-11-01 06:59Z', 30.000, 0, 0, 0),
  ('000000000000004', '2026-11-01 07:00Z', 30.001, 0, 0, 0),
  ('000000000000004', '2026-11-02 07:30Z', 30.002, 0, 0, 0),
  ('000000000000004', '2026-11-02 08:00Z', 30.003, 0, 0, 0);
SELECT pg_temp.check('LA units: the DST day lasts 25 h',
  (SELECT string_agg(format('%s %s', unit_day, pg_temp.secs(unit_end - unit_start)), '; ')
   FROM fleetarc.report_units('2026-11-01 06:00Z', '2026-11-02 09:00Z', 'America/Los_Angeles')),
  '2026-10-31 3600; 2026-11-01 90000; 2026-11-02 3600');
SELECT pg_temp.check('D distance per LA day',
  (SELECT string_agg(format('%s %s %s', day, pg_temp.r(km), points), '; ')
   FROM fleetarc.report_distance('2026-11-01', '2026-11-03', ARRAY['000000000000004'], 250, 'America/Los_Angeles')),
  format('2026-10-31 0.000000 1; 2026-11-01 %s 2; 2026-11-02 %s 1', pg_temp.steps(2), pg_temp.steps(1)));
SELECT pg_temp.check('D summary per LA day (each day alone; 07:00Z..07:30Z next day is 24.5 h)',
  (SELECT string_agg(format('%s %s %s %s', day, pg_temp.r(distance_km), points, pg_temp.secs(stopped)), '; ')
   FROM fleetarc.report_summary('2026-11-01', '2026-11-03', ARRAY['000000000000004'], 'America/Los_Angeles')),
  format('2026-10-31 0.000000 1 0; 2026-11-01 %s 2 88200; 2026-11-02 0.000000 1 0', pg_temp.steps(1)));

-- ---- the cache: results come from it, and any write of rows in a cached unit drops it ----
SELECT pg_temp.check('entries cached', (SELECT count(*) > 0 FROM fleetarc.motion_cache), true);
SELECT pg_temp.check('a second call gives the same',
  (SELECT count(*) FROM (
     (SELECT * FROM fleetarc.report_summary('2026-11-01', '2026-11-02', NULL, 'Asia/Shanghai')
      EXCEPT SELECT * FROM fleetarc.report_summary('2026-11-01', '2026-11-02', NULL, 'Asia/Shanghai'))) x),
  0::bigint);
-- a late row for a finished day through the parent table (an archiver's write)
INSERT INTO fleetarc.positions VALUES ('000000000000003', '2026-11-01 17:00:30Z', 20.120, 0, 0, 0);
SELECT pg_temp.check('late row through positions updates the summary',
  (SELECT points FROM fleetarc.report_summary('2026-11-01', '2026-11-02', ARRAY['000000000000003'], 'Asia/Shanghai')
   WHERE day = '2026-11-02'), 112::bigint);
-- a late row written straight into the partition (a hand COPY, a restore)
DO $$
DECLARE part regclass;
BEGIN
  SELECT tableoid::regclass INTO part FROM fleetarc.positions
  WHERE imei = '000000000000003' LIMIT 1;
  EXECUTE format('INSERT INTO %s VALUES (%L, %L, 20.120, 0, 0, 0)', part,
                 '000000000000003', '2026-11-01 17:00:40Z');
END $$;
SELECT pg_temp.check('late row into the partition updates the summary',
  (SELECT points FROM fleetarc.report_summary('2026-11-01', '2026-11-02', ARRAY['000000000000003'], 'Asia/Shanghai')
   WHERE day = '2026-11-02'), 113::bigint);
-- a late row that makes a trip: A moves 1 km at the end of its day
SELECT pg_temp.check('A trips before', (SELECT count(*) FROM fleetarc.report_trips('2026-11-01', '2026-11-02', ARRAY['000000000000001'])), 3::bigint);
COPY fleetarc.positions FROM stdin;
000000000000001	2026-11-01 03:05:00+00	10.19	0	40	90
000000000000001	2026-11-01 03:05:10+00	10.2	0	40	90
\.
SELECT pg_temp.check('rows by COPY make the 4th trip',
  (SELECT count(*) FROM fleetarc.report_trips('2026-11-01', '2026-11-02', ARRAY['000000000000001'])), 4::bigint);
DELETE FROM fleetarc.positions WHERE imei = '000000000000001' AND gpstime >= '2026-11-01 03:05Z';
SELECT pg_temp.check('deleted rows take it away',
  (SELECT count(*) FROM fleetarc.report_trips('2026-11-01', '2026-11-02', ARRAY['000000000000001'])), 3::bigint);
-- the test can fail: with the triggers off, a new row is not seen (the cache answers)
ALTER TABLE fleetarc.positions DISABLE TRIGGER motion_watch_ins;
INSERT INTO fleetarc.positions VALUES ('000000000000003', '2026-11-01 17:00:50Z', 20.120, 0, 0, 0);
SELECT pg_temp.check('without the trigger the cache is stale (so it is used)',
  (SELECT points FROM fleetarc.report_summary('2026-11-01', '2026-11-02', ARRAY['000000000000003'], 'Asia/Shanghai')
   WHERE day = '2026-11-02'), 113::bigint);
ALTER TABLE fleetarc.positions ENABLE TRIGGER motion_watch_ins;
TRUNCATE fleetarc.motion_cache;
SELECT pg_temp.check('after TRUNCATE of the cache: computed afresh',
  (SELECT points FROM fleetarc.report_summary('2026-11-01', '2026-11-02', ARRAY['000000000000003'], 'Asia/Shanghai')
   WHERE day = '2026-11-02'), 114::bigint);
-- read-only: computed, not stored
TRUNCATE fleetarc.motion_cache;
BEGIN READ ONLY;
SELECT pg_temp.check('read-only transaction: same trips',
  (SELECT count(*) FROM fleetarc.report_trips('2026-11-01', '2026-11-02')), 4::bigint);
COMMIT;
SELECT pg_temp.check('read-only stored nothing', (SELECT count(*) FROM fleetarc.motion_cache), 0::bigint);
