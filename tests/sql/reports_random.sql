-- Stored and live reports agree on random tracks, ranges and zones (run with -v seed=S).
-- Eight devices over five days with sparse days, nearly empty evenings and mornings, an
-- empty day, spikes and engine alarms; fifteen ranges a zone (UTC, Europe/Berlin,
-- America/New_York, Asia/Kolkata) starting and ending anywhere. report_distance,
-- report_summary, report_trips and report_stops of every range, computed in a REPEATABLE
-- READ transaction (the live path: nothing stored or read), must equal the same reports
-- when they compute and store (first), read what they stored (again), after
-- refresh_device_days (refreshed), and after late rows and deletions on stored days
-- (late, against the live path over the new rows). Seeds 0.1 and 0.42 found
-- report_distance's short live head (sql/109: 4 rows each before it).
SET client_min_messages = warning;
CREATE FUNCTION pg_temp.check(label text, got anyelement, want anyelement) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF got IS DISTINCT FROM want THEN
    RAISE EXCEPTION 'FAIL %: got %, want %', label, got, want;
  END IF;
  RAISE NOTICE 'ok %', label;
END $$;
SELECT fleetarc.ensure_partitions('2026-10-01', '2026-12-31') \gset
TRUNCATE fleetarc.positions, fleetarc.alarms, fleetarc.motion_cache, fleetarc.device_day, fleetarc.device_day_done;
SELECT setseed(:seed) \gset
INSERT INTO fleetarc.positions (imei, gpstime, longitude, latitude, speed, course)
SELECT imei, ts, lon, lat, spd, 0 FROM (
  SELECT 'd' || d AS imei,
         timestamptz '2026-11-01 00:00:00+00' + s * interval '1 s' + (random() * 50)::int * interval '1 s' AS ts,
         8 + d * 0.1 + CASE WHEN random() < 0.01 THEN 1 ELSE 0 END
           + CASE WHEN (s / 3600) % 3 = 0 THEN 0 ELSE (s % 3600) * 0.00002 END AS lon,
         47 + CASE WHEN (s / 3600) % 5 = 1 THEN (s % 3600) * 0.00001 ELSE 0 END AS lat,
         (random() * 80)::int AS spd,
         random() AS keep, d, s
  FROM generate_series(1, 8) d, generate_series(0, 5 * 86400, 90) s) x
WHERE keep < CASE WHEN d = 1 THEN 0.02
                  WHEN d = 2 AND s % 86400 > 80000 THEN 0.01
                  WHEN d = 3 AND s % 86400 < 7200 THEN 0.03
                  WHEN d = 4 AND s BETWEEN 86400 AND 2 * 86400 THEN 0
                  WHEN d = 5 THEN 0.3
                  ELSE 0.9 END
ON CONFLICT DO NOTHING;
INSERT INTO fleetarc.alarms (imei, gpstime, systemtime, alarm_type, longitude, latitude, speed, course)
SELECT 'd' || (1 + (random() * 7)::int), ts, ts, CASE WHEN random() < 0.5 THEN 9 ELSE 10 END, 8, 47, 0, 0
FROM (SELECT date_trunc('second', timestamptz '2026-11-01' + (random() * 5 * 86400) * interval '1 s') AS ts
      FROM generate_series(1, 60)) a ON CONFLICT DO NOTHING;
CREATE TEMP TABLE cases AS
SELECT row_number() OVER () AS id, tz, timestamptz '2026-11-01 00:00:00+00' + a * interval '1 minute' AS f,
       timestamptz '2026-11-01 00:00:00+00' + (a + b) * interval '1 minute' AS t
FROM (VALUES ('UTC'), ('Europe/Berlin'), ('America/New_York'), ('Asia/Kolkata')) z(tz),
     LATERAL (SELECT (random() * 2000)::int AS a, (1500 + random() * 4000)::int AS b
              FROM generate_series(1, 5)) r;
CREATE TEMP TABLE res (pass text, id bigint, kind text, r text);
CREATE FUNCTION pg_temp.collect(p text) RETURNS void LANGUAGE sql AS $$
  INSERT INTO res SELECT p, c.id, 'distance', format('%s %s %s %s', x.imei, x.day, round(x.km::numeric, 6), x.points)
  FROM cases c, fleetarc.report_distance(c.f, c.t, NULL, 250, c.tz) x;
  INSERT INTO res SELECT p, c.id, 'summary', format('%s %s %s %s %s %s %s %s %s %s %s %s', x.imei, x.day, round(x.distance_km::numeric, 6),
         x.max_speed_kmh, round(x.avg_speed_kmh::numeric, 6), x.moving, x.stopped, x.engine, x.trips, x.alarms, x.first_time, x.last_time)
  FROM cases c, fleetarc.report_summary(c.f, c.t, NULL, c.tz) x;
  INSERT INTO res SELECT p, c.id, 'trips', format('%s %s %s %s', x.imei, x.start_time, x.end_time, round(x.distance_km::numeric, 6))
  FROM cases c, fleetarc.report_trips(c.f, c.t) x;
  INSERT INTO res SELECT p, c.id, 'stops', format('%s %s %s', x.imei, x.start_time, x.end_time)
  FROM cases c, fleetarc.report_stops(c.f, c.t) x;
$$;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT pg_temp.collect('live') \gset
COMMIT;
SELECT pg_temp.collect('first') \gset
SELECT pg_temp.collect('again') \gset
SELECT pg_temp.check('days stored by the reports', (SELECT count(*) > 0 FROM fleetarc.device_day WHERE points > 0), true);
SELECT pg_temp.check('days refreshed', (SELECT count(*) > 0 FROM (VALUES ('UTC'), ('Europe/Berlin'), ('America/New_York'), ('Asia/Kolkata')) z(tz),
  fleetarc.refresh_device_days('2026-10-31', '2026-11-07', tz)), true);
SELECT pg_temp.collect('refreshed') \gset
-- late rows for finished, stored days: 40 points and 5 deletions at random, then the
-- reports again (late) against the live path over the new rows (live_late)
INSERT INTO fleetarc.positions (imei, gpstime, longitude, latitude, speed, course)
SELECT 'd' || (1 + (random() * 7)::int),
       date_trunc('second', timestamptz '2026-11-01' + (random() * 5 * 86400) * interval '1 s'),
       8 + random(), 47 + random() * 0.05, (random() * 80)::int, 0
FROM generate_series(1, 40) ON CONFLICT DO NOTHING;
DELETE FROM fleetarc.positions p USING (
  SELECT 'd' || (1 + (random() * 7)::int) AS imei,
         timestamptz '2026-11-01' + (random() * 5 * 86400) * interval '1 s' AS at
  FROM generate_series(1, 5)) x
WHERE p.imei = x.imei AND p.gpstime = (SELECT min(q.gpstime) FROM fleetarc.positions q
                                       WHERE q.imei = x.imei AND q.gpstime >= x.at);
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT pg_temp.collect('live_late') \gset
COMMIT;
SELECT pg_temp.collect('late') \gset
SELECT pg_temp.check('the late rows changed some report',
  (SELECT count(*) > 0 FROM ((SELECT id, kind, r FROM res WHERE pass = 'live' EXCEPT ALL
                              SELECT id, kind, r FROM res WHERE pass = 'live_late')) x), true);
SELECT pg_temp.check('rows of each report to compare',
  (SELECT array_agg(kind ORDER BY kind) FROM (SELECT kind FROM res WHERE pass = 'live' GROUP BY 1 HAVING count(*) >= 50) x),
  ARRAY['distance', 'stops', 'summary', 'trips']);
SELECT pg_temp.check(format('seed %s: rows differing from the live path (pass, report, rows, first range)', :'seed'),
  (SELECT string_agg(format('%s %s %s %s', pass, kind, n, first_case), '; ') FROM (
     SELECT p.pass, r.kind, count(*) AS n, min(r.id) AS first_case
     FROM (VALUES ('first', 'live'), ('again', 'live'), ('refreshed', 'live'), ('late', 'live_late')) p(pass, want)
     CROSS JOIN LATERAL (
       (SELECT id, kind, r FROM res WHERE pass = p.want EXCEPT ALL SELECT id, kind, r FROM res WHERE pass = p.pass)
       UNION ALL
       (SELECT id, kind, r FROM res WHERE pass = p.pass EXCEPT ALL SELECT id, kind, r FROM res WHERE pass = p.want)) r
     GROUP BY 1, 2) d),
  NULL::text);
