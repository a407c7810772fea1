-- Hand-made tracks with exact expected reports (run by tests/integration/test_sql_reports.sh
-- against a fresh database holding the schema and sql/050_reports.sql).
-- Geometry: every move is 0.001 degree of longitude on the equator, i.e. one step of
-- s = 6371.0088 km * 0.001 * pi / 180 = 0.11119508 km; times are seconds after T0.
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
CREATE FUNCTION pg_temp.t(s integer) RETURNS timestamptz LANGUAGE sql IMMUTABLE
AS $$ SELECT timestamptz '2026-11-01 00:00:00+00' + s * interval '1 second' $$;
CREATE FUNCTION pg_temp.steps(n float8) RETURNS numeric LANGUAGE sql IMMUTABLE
AS $$ SELECT round((n * 6371.0088 * 0.001 * pi() / 180)::numeric, 6) $$;
-- seconds after T0, as an integer
CREATE FUNCTION pg_temp.s(ts timestamptz) RETURNS bigint LANGUAGE sql IMMUTABLE
AS $$ SELECT extract(epoch FROM ts - timestamptz '2026-11-01 00:00:00+00')::bigint $$;

-- Device A ('000000000000001'):
--   parked at lon 10.000 every 60 s, 0..600
--   drive 1: 60 points every 10 s (610..1200) to lon 10.060, 40 km/h, 95-120 km/h at 800..890
--   parked at 10.060 every 60 s, 1260..1800, with a (0,0) glitch at 1530 and a spike 1100 km
--   away at 1535
--   drive 2: 60 points (1810..2400) to lon 10.120, then silence 2 h (> gap)
--   drive 2 resumes at 9600 at lon 10.121, 60 points to 10.180 at 10190
--   parked at 10.180 every 60 s, 10250..11000
INSERT INTO fleetarc.positions (imei, gpstime, longitude, latitude, speed, course)
SELECT '000000000000001', pg_temp.t(s), lon, 0, spd, 90 FROM (
  SELECT g * 60 AS s, 10.0 AS lon, 0 AS spd FROM generate_series(0, 10) g
  UNION ALL
  SELECT 600 + 10 * k, 10.0 + 0.001 * k,
         CASE WHEN k = 25 THEN 120 WHEN k BETWEEN 20 AND 29 THEN 95 ELSE 40 END
  FROM generate_series(1, 60) k
  UNION ALL SELECT 1200 + 60 * g, 10.060, 0 FROM generate_series(1, 10) g
  UNION ALL SELECT 1800 + 10 * k, 10.060 + 0.001 * k, 40 FROM generate_series(1, 60) k
  UNION ALL SELECT 9600 + 10 * (k - 61), 10.060 + 0.001 * k, 40 FROM generate_series(61, 120) k
  UNION ALL SELECT 10190 + 60 * g, 10.180, 0 FROM generate_series(1, 13) g
) pts;
INSERT INTO fleetarc.positions VALUES
  ('000000000000001', pg_temp.t(1530), 0, 0, 0, 0),          -- (0,0) glitch
  ('000000000000001', pg_temp.t(1535), 20.0, 5.0, 0, 0);     -- spike
-- The same rows again: the key keeps one of each.
INSERT INTO fleetarc.positions
SELECT * FROM fleetarc.positions WHERE imei = '000000000000001' AND gpstime < pg_temp.t(700)
ON CONFLICT DO NOTHING;

-- Device B ('000000000000002'): parked at lon 30.0 every 60 s (0..1200), then a teleport
-- to lon 31.0 (111 km in 60 s) where it stays every 60 s until 2400: no distance, no trip.
INSERT INTO fleetarc.positions
SELECT '000000000000002', pg_temp.t(60 * g), CASE WHEN g <= 20 THEN 30.0 ELSE 31.0 END, 0, 0, 0
FROM generate_series(0, 40) g;

-- Alarms: two SOS and an unknown type on day 1, one power cut on day 2. The names are
-- spec 2.8's (migration 001 holds all 44; the stand-in schema gets these two here).
INSERT INTO fleetarc.alarm_types VALUES (1, 'sosAlarm'), (3, 'powerDisconnectAlarm')
ON CONFLICT DO NOTHING;
INSERT INTO fleetarc.alarms (imei, alarm_type, gpstime, systemtime, longitude, latitude, speed, course, geofence_id) VALUES
  ('000000000000001', 1, pg_temp.t(100), pg_temp.t(101), 10, 0, 0, 0, 0),
  ('000000000000001', 1, pg_temp.t(900), pg_temp.t(905), 10.03, 0, 95, 90, 0),
  ('000000000000001', 99, pg_temp.t(950), pg_temp.t(950), 10.035, 0, 40, 90, 0),
  ('000000000000001', 3, pg_temp.t(86400 + 5), pg_temp.t(86400 + 6), 10.18, 0, 0, 0, 0);

-- ---- distance per day ----
SELECT pg_temp.check('distance A day 1 (180 steps, glitches ignored)',
  (SELECT round(km::numeric, 6) FROM fleetarc.report_distance(pg_temp.t(0), pg_temp.t(86400))
   WHERE imei = '000000000000001'), pg_temp.steps(180));
SELECT pg_temp.check('distance A points (2 glitches dropped)',
  (SELECT points FROM fleetarc.report_distance(pg_temp.t(0), pg_temp.t(86400))
   WHERE imei = '000000000000001'), 11::bigint + 60 + 10 + 60 + 60 + 13);
SELECT pg_temp.check('distance B (teleport adds nothing)',
  (SELECT km FROM fleetarc.report_distance(pg_temp.t(0), pg_temp.t(86400), ARRAY['000000000000002'])),
  0::float8);
SELECT pg_temp.check('distance: imeis filter',
  (SELECT count(*) FROM fleetarc.report_distance(pg_temp.t(0), pg_temp.t(86400), ARRAY['000000000000002'])),
  1::bigint);
SELECT pg_temp.check('distance: glitch filter off counts the spike',
  (SELECT km > 2000 FROM fleetarc.report_distance(pg_temp.t(0), pg_temp.t(86400), NULL, 1e9)
   WHERE imei = '000000000000001'), true);
SELECT pg_temp.check('distance: range cut in drive 1 (610..800: 19 steps)',
  (SELECT round(km::numeric, 6) FROM fleetarc.report_distance(pg_temp.t(610), pg_temp.t(801), ARRAY['000000000000001'])),
  pg_temp.steps(19));

-- ---- trips ----
-- Trip 1: leaves the 200 m circle at 620 (lon 10.002): starts at the point before, 610;
-- at rest from 1190 (10.059: the point 180 s later, 10.060, is 111 m away).
-- Trip 2: 1810 .. 2390, ended by the silence (2390 is within 200 m of the last point 2400).
-- Trip 3: after the silence, anchored at 9600 (10.121): starts at 9610, ends at 10180.
SELECT pg_temp.check('trips A',
  (SELECT string_agg(format('%s-%s %s..%s %s km %s max %s', pg_temp.s(start_time),
                            pg_temp.s(end_time), start_lon, end_lon,
                            round(distance_km::numeric, 6), extract(epoch FROM duration)::bigint, max_speed_kmh), '; ')
   FROM fleetarc.report_trips(pg_temp.t(0), pg_temp.t(86400), ARRAY['000000000000001'])),
  format('610-1190 10.001..10.059 %s km 580 max 120; 1810-2390 10.061..10.119 %s km 580 max 40; 9610-10180 10.122..10.179 %s km 570 max 40',
         pg_temp.steps(58), pg_temp.steps(58), pg_temp.steps(57)));
SELECT pg_temp.check('trip 1 average speed',
  (SELECT round(avg_speed_kmh::numeric, 3) FROM fleetarc.report_trips(pg_temp.t(0), pg_temp.t(86400))
   WHERE imei = '000000000000001' ORDER BY start_time LIMIT 1),
  round(pg_temp.steps(58) * 3600 / 580, 3));
SELECT pg_temp.check('no trip for B',
  (SELECT count(*) FROM fleetarc.report_trips(pg_temp.t(0), pg_temp.t(86400), ARRAY['000000000000002'])),
  0::bigint);
SELECT pg_temp.check('min_distance 10 km: no trip',
  (SELECT count(*) FROM fleetarc.report_trips(pg_temp.t(0), pg_temp.t(86400), NULL, 10000)), 0::bigint);
-- With gap = 3 h the silence is no break: 2400 is at rest (the next report, 9600, is
-- 111 m away), so trip 2 ends there and trip 3 leaves from it.
SELECT pg_temp.check('gap 3 h: the silence is a rest, not a break',
  (SELECT string_agg(format('%s-%s', pg_temp.s(start_time),
                            pg_temp.s(end_time)), ' ')
   FROM fleetarc.report_trips(pg_temp.t(0), pg_temp.t(86400), ARRAY['000000000000001'], gap => '3 hours')),
  '610-1190 1810-2400 9600-10180');

-- ---- stops ----
SELECT pg_temp.check('stops A',
  (SELECT string_agg(format('%s-%s@%s', pg_temp.s(start_time),
                            pg_temp.s(end_time), longitude), ' ')
   FROM fleetarc.report_stops(pg_temp.t(0), pg_temp.t(86400), ARRAY['000000000000001'])),
  '0-610@10 1190-1810@10.059 2390-9610@10.119 10180-10970@10.179');
SELECT pg_temp.check('stops B: one over the whole range',
  (SELECT string_agg(format('%s-%s@%s', pg_temp.s(start_time),
                            pg_temp.s(end_time), longitude), ' ')
   FROM fleetarc.report_stops(pg_temp.t(0), pg_temp.t(86400), ARRAY['000000000000002'])),
  '0-2400@30');

-- ---- gaps, speeding, latest, route, alarms ----
SELECT pg_temp.check('gaps',
  (SELECT string_agg(format('%s %s-%s %s', imei, pg_temp.s(start_time),
                            pg_temp.s(end_time), longitude), ' ')
   FROM fleetarc.report_gaps(pg_temp.t(0), pg_temp.t(86400))),
  '000000000000001 2400-9600 10.12');
SELECT pg_temp.check('gaps over 50 s: every parked minute of B',
  (SELECT count(*) FROM fleetarc.report_gaps(pg_temp.t(0), pg_temp.t(86400), ARRAY['000000000000002'], '50 s')),
  40::bigint);
SELECT pg_temp.check('speeding over 90',
  (SELECT string_agg(format('%s-%s max %s n %s', pg_temp.s(start_time),
                            pg_temp.s(end_time), max_speed_kmh, points), ' ')
   FROM fleetarc.report_speeding(pg_temp.t(0), pg_temp.t(86400))),
  '800-890 max 120 n 10');
SELECT pg_temp.check('speeding over 100',
  (SELECT string_agg(format('%s-%s', pg_temp.s(start_time),
                            pg_temp.s(end_time)), ' ')
   FROM fleetarc.report_speeding(pg_temp.t(0), pg_temp.t(86400), speed_limit_kmh => 100)),
  '850-850');
SELECT pg_temp.check('latest',
  (SELECT string_agg(format('%s %s %s', imei, pg_temp.s(gpstime), longitude), ' ')
   FROM fleetarc.report_latest(pg_temp.t(0), pg_temp.t(86400))),
  '000000000000001 10970 10.18 000000000000002 2400 31');
SELECT pg_temp.check('latest before 2000 s, one device',
  (SELECT string_agg(format('%s %s %s', imei, pg_temp.s(gpstime), longitude), ' ')
   FROM fleetarc.report_latest(pg_temp.t(0), pg_temp.t(2000), ARRAY['000000000000001'])),
  '000000000000001 1990 10.079');
SELECT pg_temp.check('route A: points and total',
  (SELECT format('%s %s', count(*), round(max(total_km)::numeric, 6))
   FROM fleetarc.report_route(pg_temp.t(0), pg_temp.t(86400), ARRAY['000000000000001'])),
  format('214 %s', pg_temp.steps(180)));
SELECT pg_temp.check('alarms',
  (SELECT string_agg(format('%s %s %s %s', day, alarm_type, coalesce(type_name, '?'), alarms), '; ')
   FROM fleetarc.report_alarms(pg_temp.t(0), pg_temp.t(2 * 86400))),
  '2026-11-01 1 sosAlarm 2; 2026-11-01 99 ? 1; 2026-11-02 3 powerDisconnectAlarm 1');
