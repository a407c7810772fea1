#!/usr/bin/env bash
# Report functions against the simulator's truth: fleetarc-sim --truth writes every
# position and the trips it drove (200 devices, 2 days); the positions go into a fresh
# database and report_trips / report_distance must find those trips and that distance.
# Tolerances, and why:
#  * trip count: exactly one reported trip per true trip (the model parks >= several
#    minutes between trips, far above min_duration 180 s);
#  * start: 0..45 s after the truth. The trip starts at the last report within 200 m of
#    the stop, so it trails departure by the time to cover 200 m (< 30 s at the model's
#    speeds) plus at most one report interval (7..13 s);
#  * end: 0..45 s before the truth, by the same argument at arrival (the trip ends at the
#    first report of the final 200 m circle, confirmed 180 s later);
#  * trip km: at most 0.5 km below the truth (the <= 200 m cut at each end, each plus
#    one step), never above (but for 0.1 m of rounding: 6-decimal coordinates and km);
#  * distance per device and day: within 1 % of the sum of the true trips' km that day
#    (heartbeats repeat the parking position: they add nothing);
#  * glitches: a (0,0) point and spikes ~400 km away, inserted while moving and while
#    parked, change neither the distance (to 1e-9 km) nor the trips.
set -euo pipefail
if [ -z "${PGHOST:-}" ]; then
  [ "${FLEETARC_REQUIRE_PG:-0}" = 1 ] && { echo "PGHOST unset but FLEETARC_REQUIRE_PG=1" >&2; exit 1; }
  echo "skip: no PostgreSQL (PGHOST unset)"; exit 77
fi
src=${FLEETARC_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
sim=${FLEETARC_SIM_BIN:-}
[ -x "$sim" ] || { echo "skip: FLEETARC_SIM_BIN not built"; exit 77; }
. "$src/tests/sql/lib.sh"

work=$(mktemp -d)
sim_pid=
cleanup() {
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null || true
  rm -rf "$work"
  [ "${FLEETARC_KEEP_DB:-0}" = 1 ] || dropdb --if-exists "${SQLTEST_DB:-none}" >/dev/null 2>&1 || true
}

# The truth of [2026-11-01, 2026-11-03): the simulator writes it before it serves; stop
# it once it says ready.
"$sim" --listen 127.0.0.1:0 --devices 200 --history 2 --now 2026-11-03 --no-traps \
  --speed 0 --truth "$work/truth" >"$work/sim.out" 2>&1 &
sim_pid=$!
trap cleanup EXIT
for _ in $(seq 1 300); do
  grep -q '^ready' "$work/sim.out" 2>/dev/null && break
  kill -0 "$sim_pid" 2>/dev/null || { cat "$work/sim.out" >&2; echo "fleetarc-sim died" >&2; exit 1; }
  sleep 0.1
done
grep -q '^ready' "$work/sim.out" || { echo "fleetarc-sim not ready" >&2; exit 1; }
kill "$sim_pid"; wait "$sim_pid" 2>/dev/null || true; sim_pid=

sqltest_createdb truth
trap cleanup EXIT   # sqltest_createdb set its own trap: keep ours, which also drops the db
sqltest_schema
sqltest_partitions 2026-10-31 2026-11-04

# (\copy takes its file name literally: no psql variables, hence the unquoted here-doc)
psql -X -q -v ON_ERROR_STOP=1 -d "$SQLTEST_DB" <<SQL
SET client_min_messages = warning;
CREATE TEMP TABLE pos_csv (imei text, gpstime bigint, longitude float8, latitude float8,
                           speed integer, course integer);
\copy pos_csv FROM '$work/truth/positions.csv' WITH (FORMAT csv, HEADER true)
INSERT INTO fleetarc.positions (imei, gpstime, longitude, latitude, speed, course)
SELECT imei, to_timestamp(gpstime), longitude, latitude, speed, course FROM pos_csv;
CREATE TABLE public.truth_trips (imei text, start bigint, "end" bigint, start_lon float8,
                                 start_lat float8, end_lon float8, end_lat float8, km float8);
\copy public.truth_trips FROM '$work/truth/trips.csv' WITH (FORMAT csv, HEADER true)
ANALYZE fleetarc.positions;
SQL

psql -X -q -t -A -o /dev/null -v ON_ERROR_STOP=1 -d "$SQLTEST_DB" <<'SQL'
SET client_min_messages = warning;
CREATE FUNCTION pg_temp.check(label text, got anyelement, want anyelement) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF got IS DISTINCT FROM want THEN
    RAISE EXCEPTION 'FAIL %: got %, want %', label, got, want;
  END IF;
END $$;

SELECT pg_temp.check('truth has trips', (SELECT count(*) > 500 FROM truth_trips), true);
CREATE TEMP TABLE rep AS SELECT * FROM fleetarc.report_trips('2026-11-01', '2026-11-03');
SELECT pg_temp.check('trip count', (SELECT count(*) FROM rep), (SELECT count(*) FROM truth_trips));
-- each true trip overlaps exactly one reported trip, within the tolerances
CREATE TEMP TABLE m AS
SELECT t.*, r.start_time, r.end_time, r.distance_km,
       (SELECT count(*) FROM rep r2 WHERE r2.imei = t.imei
          AND r2.start_time < to_timestamp(t."end") AND r2.end_time > to_timestamp(t.start)) AS n
FROM truth_trips t
LEFT JOIN LATERAL (SELECT * FROM rep r WHERE r.imei = t.imei
                     AND r.start_time < to_timestamp(t."end") AND r.end_time > to_timestamp(t.start)
                   ORDER BY r.start_time LIMIT 1) r ON true;
SELECT pg_temp.check('true trips not matched by exactly one reported trip',
  (SELECT count(*) FROM m WHERE n <> 1), 0::bigint);
SELECT pg_temp.check('starts off by more than 0..45 s',
  (SELECT string_agg(imei || '@' || start, ' ') FROM m
   WHERE extract(epoch FROM start_time) - start NOT BETWEEN 0 AND 45), NULL);
SELECT pg_temp.check('ends off by more than -45..0 s',
  (SELECT string_agg(imei || '@' || start, ' ') FROM m
   WHERE extract(epoch FROM end_time) - "end" NOT BETWEEN -45 AND 0), NULL);
SELECT pg_temp.check('trip km off by more than -0.5..0 km',
  (SELECT string_agg(imei || '@' || start, ' ') FROM m
   WHERE distance_km - km NOT BETWEEN -0.5 AND 1e-4), NULL);

-- distance per device and day: within 1 % of the true trips' km
CREATE TEMP TABLE dist AS SELECT * FROM fleetarc.report_distance('2026-11-01', '2026-11-03');
CREATE TEMP TABLE truth_day AS
  SELECT imei, (to_timestamp(start) AT TIME ZONE 'UTC')::date AS day, sum(km) AS km
  FROM truth_trips GROUP BY 1, 2;
SELECT pg_temp.check('device-days off by more than 1 %',
  (SELECT string_agg(imei || ' ' || day, ', ')
   FROM dist d FULL JOIN truth_day t USING (imei, day)
   WHERE abs(coalesce(d.km, 0) - coalesce(t.km, 0)) > 0.01 * coalesce(t.km, 0) + 1e-6), NULL);
SELECT pg_temp.check('fleet km within 0.1 %',
  (SELECT abs(sum(km) / (SELECT sum(km) FROM truth_trips) - 1) < 0.001 FROM dist), true);

-- glitches: a (0,0) point and a spike mid-trip, a spike while parked, for 5 devices
INSERT INTO fleetarc.positions (imei, gpstime, longitude, latitude, speed, course)
SELECT imei, to_timestamp((start + "end") / 2) + interval '0.5 s', 0, 0, 0, 0 FROM (
  SELECT DISTINCT ON (imei) * FROM truth_trips ORDER BY imei, start LIMIT 5) t
UNION ALL
SELECT imei, to_timestamp((start + "end") / 2) + interval '3.5 s', start_lon + 3, start_lat + 3, 50, 0 FROM (
  SELECT DISTINCT ON (imei) * FROM truth_trips ORDER BY imei, start LIMIT 5) t
UNION ALL
SELECT imei, to_timestamp(start - 300) + interval '0.5 s', start_lon - 3, start_lat, 0, 0 FROM (
  SELECT DISTINCT ON (imei) * FROM truth_trips ORDER BY imei, start LIMIT 5) t;
SELECT pg_temp.check('glitches stored', (SELECT count(*) FROM fleetarc.positions WHERE longitude = 0), 5::bigint);
SELECT pg_temp.check('glitches add no distance',
  (SELECT max(abs(d.km - n.km)) < 1e-9 AND count(*) = (SELECT count(*) FROM dist)
   FROM dist d JOIN fleetarc.report_distance('2026-11-01', '2026-11-03') n USING (imei, day)), true);
SELECT pg_temp.check('glitches change no trip',
  (SELECT count(*) FROM (
     (SELECT imei, start_time, end_time FROM fleetarc.report_trips('2026-11-01', '2026-11-03')
      EXCEPT SELECT imei, start_time, end_time FROM rep)
     UNION ALL
     (SELECT imei, start_time, end_time FROM rep
      EXCEPT SELECT imei, start_time, end_time FROM fleetarc.report_trips('2026-11-01', '2026-11-03'))) x),
  0::bigint);
SQL
echo "ok: reports match the simulator's truth"
