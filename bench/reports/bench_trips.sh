#!/usr/bin/env bash
# Benchmark of the trip report (sql/050_reports.sql): fills a fresh database with
# 200 devices x 24 h of 10 s points (1.73 M rows, the worst case: parked vehicles keep
# reporting too) and one device x 30 days of 10 s points (259 k rows), then runs
# report_trips with EXPLAIN (ANALYZE, BUFFERS) and prints timings and plans. Then the
# realistic case: the simulator's fleet (FLEETARC_SIM_BIN, 200 devices, 2 days: reports
# every 7..13 s while moving, heartbeats every 5..30 min while parked) in a second
# database. Figures are printed, never asserted. Needs PG* variables (e.g. from
# scripts/lib.sh's pg_start_throwaway); FLEETARC_BIN, if set, provides `fleetarc migrate`.
# Usage: bench/reports/bench_trips.sh [DEVICES] [DAYS_OF_THE_LONG_DEVICE]
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
devices=${1:-200}
days=${2:-30}
. "$src/tests/sql/lib.sh"
: "${PGHOST:?set PG* variables for the PostgreSQL to use}"

sqltest_createdb bench
sqltest_schema
sqltest_partitions 2026-10-01 2026-12-01

# Every device drives 40 min at ~48 km/h (0.0012 degree per 10 s along its heading), then
# stands 80 min with a few metres of jitter, in 2-hour cycles, out and back: 12 trips a day.
gen() {  # gen IMEI_PREFIX DEVICES SECONDS
  psql -X -q -v ON_ERROR_STOP=1 -d "$SQLTEST_DB" <<SQL
INSERT INTO fleetarc.positions (imei, gpstime, longitude, latitude, speed, course)
SELECT imei, timestamptz '2026-11-01 00:00:00+00' + s * interval '1 s',
       round((10 + d * 0.01 + moved * 0.0012 * cos(h) + jit)::numeric, 6)::float8,
       round((45 + d * 0.001 + moved * 0.0012 * sin(h) + jit)::numeric, 6)::float8,
       CASE WHEN s % 7200 < 2400 THEN 48 ELSE 0 END, 90
FROM (
  SELECT '$1' || lpad(d::text, 15 - length('$1'), '0') AS imei, d, s,
         radians((d * 37) % 360) AS h,
         CASE WHEN (s / 7200) % 2 = 0 THEN least(s % 7200, 2400) / 10 ELSE 240 - least(s % 7200, 2400) / 10 END AS moved,
         CASE WHEN s % 7200 >= 2400 THEN ((s::bigint * 7919 + d * 104729) % 5 - 2) * 0.00001 ELSE 0 END AS jit
  FROM generate_series(1, $2) d, generate_series(0, $3 - 10, 10) s
) g;
SQL
}
t0=$(date +%s.%N)
gen 86 "$devices" 86400
gen 87 1 $((days * 86400))
psql -X -q -d "$SQLTEST_DB" -c "VACUUM ANALYZE fleetarc.positions"
t1=$(date +%s.%N)
printf 'filled in %.1f s: ' "$(echo "$t1 - $t0" | bc)"
psql -X -t -A -d "$SQLTEST_DB" -c "SELECT count(*) || ' rows' FROM fleetarc.positions"

run() {  # run LABEL SQL
  echo "== $1"
  psql -X -t -A -d "$SQLTEST_DB" -c "$2" | head -n 3
  psql -X -d "$SQLTEST_DB" -c '\timing on' -c "$2" -o /dev/null | grep Time || true
  psql -X -d "$SQLTEST_DB" -c '\timing on' -c "$2" -o /dev/null | grep Time || true
  psql -X -d "$SQLTEST_DB" -c "EXPLAIN (ANALYZE, BUFFERS) SELECT count(*) FROM ($2) q"
}
fleet="SELECT count(*) || ' trips, ' || round(sum(distance_km)::numeric, 1) || ' km' FROM fleetarc.report_trips('2026-11-01', '2026-11-02')"
run "trips: $devices devices x 24 h" "$fleet"
one="SELECT count(*) || ' trips, ' || round(sum(distance_km)::numeric, 1) || ' km' FROM fleetarc.report_trips('2026-11-01', '2026-11-01'::timestamptz + interval '$days days', ARRAY['87' || lpad('1', 13, '0')])"
run "trips: 1 device x $days days" "$one"
run "stops: 1 device x $days days" "SELECT count(*) || ' stops' FROM fleetarc.report_stops('2026-11-01', '2026-11-01'::timestamptz + interval '$days days', ARRAY['87' || lpad('1', 13, '0')])"
run "distance: $devices devices x 24 h" "SELECT count(*) || ' device-days, ' || round(sum(km)::numeric, 1) || ' km' FROM fleetarc.report_distance('2026-11-01', '2026-11-02')"
run "trips: 20 devices x 24 h (imeis given)" "SELECT count(*) || ' trips' FROM fleetarc.report_trips('2026-11-01', '2026-11-02', ARRAY(SELECT '86' || lpad(g::text, 13, '0') FROM generate_series(1, 20) g))"

# ---- the realistic case: the simulator's fleet ----
sim=${FLEETARC_SIM_BIN:-$src/build/fleetarc-sim}
if [ ! -x "$sim" ]; then echo "no fleetarc-sim at $sim: realistic case skipped"; exit 0; fi
work=$(mktemp -d)
"$sim" --listen 127.0.0.1:0 --devices "$devices" --history 2 --now 2026-11-03 --no-traps \
  --speed 0 --truth "$work" >"$work/sim.out" 2>&1 &
sim_pid=$!
for _ in $(seq 1 600); do grep -q '^ready' "$work/sim.out" && break; sleep 0.1; done
kill "$sim_pid"; wait "$sim_pid" 2>/dev/null || true
bench_db=$SQLTEST_DB
sqltest_createdb bench_sim
trap 'dropdb --if-exists "$SQLTEST_DB" >/dev/null 2>&1; dropdb --if-exists "$bench_db" >/dev/null 2>&1; rm -rf "$work"' EXIT
[ "${FLEETARC_KEEP_DB:-0}" = 1 ] && trap 'rm -rf "$work"' EXIT
sqltest_schema
sqltest_partitions 2026-10-31 2026-11-04
psql -X -q -v ON_ERROR_STOP=1 -d "$SQLTEST_DB" <<SQL
CREATE TEMP TABLE pos_csv (imei text, gpstime bigint, longitude float8, latitude float8,
                           speed integer, course integer);
\copy pos_csv FROM '$work/positions.csv' WITH (FORMAT csv, HEADER true)
INSERT INTO fleetarc.positions (imei, gpstime, longitude, latitude, speed, course)
SELECT imei, to_timestamp(gpstime), longitude, latitude, speed, course FROM pos_csv;
VACUUM ANALYZE fleetarc.positions;
SQL
psql -X -t -A -d "$SQLTEST_DB" -c "SELECT 'simulated fleet: ' || count(*) || ' rows, ' || count(*) FILTER (WHERE gpstime < '2026-11-02') || ' on 2026-11-01' FROM fleetarc.positions"
run "realistic trips: $devices simulated devices x 24 h" "SELECT count(*) || ' trips, ' || round(sum(distance_km)::numeric, 1) || ' km' FROM fleetarc.report_trips('2026-11-01', '2026-11-02')"
run "realistic stops: $devices simulated devices x 24 h" "SELECT count(*) || ' stops' FROM fleetarc.report_stops('2026-11-01', '2026-11-02')"
run "realistic distance: $devices simulated devices x 48 h" "SELECT count(*) || ' device-days, ' || round(sum(km)::numeric, 1) || ' km' FROM fleetarc.report_distance('2026-11-01', '2026-11-03')"
