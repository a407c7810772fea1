#!/usr/bin/env bash
# Benchmark of the cached reports (sql/080, sql/081), the rows of bench/RESULTS.md:
#  1. "trips 200 devices × 24 h at 10 s": 200 devices x 24 h of 10 s points (1.73 M rows,
#     bench_trips.sh's shape), report_trips of the day against one ordered lag() scan of
#     the same rows (the ceiling): cold (cache empty) and warm (cache filled, median of 5);
#  2. "summary 1,000 devices × 30 days": 1,000 devices x 30 days, each day 4 h driving
#     with a point a minute and a point every 30 min while parked (8.6 M rows);
#     report_summary and report_distance of the 30 days, cold and warm (the days stored
#     by sql/100's device_day after the first call).
# Prints one line per measure: "name<TAB>seconds"; figures are never asserted.
# Needs PG* variables (e.g. scripts/lib.sh's pg_start_throwaway); FLEETARC_BIN, if set,
# provides `fleetarc migrate`. Usage: bench/reports/bench_cache.sh [trips|summary|all]
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
what=${1:-all}
. "$src/tests/sql/lib.sh"
: "${PGHOST:?set PG* variables for the PostgreSQL to use}"

sqltest_createdb benchcache
sqltest_schema
sqltest_partitions 2026-10-01 2026-12-31
q() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$SQLTEST_DB" "$@"; }

# seconds of one statement (server side, \timing)
timed() {
  psql -X -q -d "$SQLTEST_DB" -v ON_ERROR_STOP=1 -c '\timing on' -c "$1" -o /dev/null |
    sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | awk '{printf "%.3f\n", $1 / 1000}'
}
median5() {
  local i; for i in 1 2 3 4 5; do timed "$1"; done | sort -n | sed -n 3p
}

if [ "$what" = trips ] || [ "$what" = all ]; then
  q <<'SQL'
INSERT INTO fleetarc.positions (imei, gpstime, longitude, latitude, speed, course)
SELECT imei, timestamptz '2026-11-01 00:00:00+00' + s * interval '1 s',
       round((10 + d * 0.01 + moved * 0.0012 * cos(h) + jit)::numeric, 6)::float8,
       round((45 + d * 0.001 + moved * 0.0012 * sin(h) + jit)::numeric, 6)::float8,
       CASE WHEN s % 7200 < 2400 THEN 48 ELSE 0 END, 90
FROM (
  SELECT '86' || lpad(d::text, 13, '0') AS imei, d, s,
         radians((d * 37) % 360) AS h,
         CASE WHEN (s / 7200) % 2 = 0 THEN least(s % 7200, 2400) / 10 ELSE 240 - least(s % 7200, 2400) / 10 END AS moved,
         CASE WHEN s % 7200 >= 2400 THEN ((s::bigint * 7919 + d * 104729) % 5 - 2) * 0.00001 ELSE 0 END AS jit
  FROM generate_series(1, 200) d, generate_series(0, 86390, 10) s
) g;
VACUUM ANALYZE fleetarc.positions;
SQL
  echo "rows_trips	$(q -c "SELECT count(*) FROM fleetarc.positions")"
  scan="SELECT count(*), sum(dt) FROM (SELECT date_part('epoch', gpstime) - lag(date_part('epoch', gpstime)) OVER (PARTITION BY imei ORDER BY gpstime) AS dt, lag(longitude) OVER (PARTITION BY imei ORDER BY gpstime) AS plon FROM fleetarc.positions WHERE gpstime >= '2026-11-01' AND gpstime < '2026-11-02') s"
  trips="SELECT count(*), sum(distance_km) FROM fleetarc.report_trips('2026-11-01', '2026-11-02')"
  stops="SELECT count(*) FROM fleetarc.report_stops('2026-11-01', '2026-11-02')"
  echo "scan	$(median5 "$scan")"
  old="SELECT count(*), sum(km) FROM fleetarc.motion_segments('2026-11-01', '2026-11-02') WHERE kind = 'trip'"
  echo "trips_uncached_050	$(timed "$old")"
  q -c "TRUNCATE fleetarc.motion_cache"
  echo "trips_cold	$(timed "$trips")"
  echo "trips_warm	$(median5 "$trips")"
  echo "stops_warm	$(median5 "$stops")"
  echo "trips_result	$(q -c "$trips")"
  # one late row for one device: only that device-range is computed again
  q -c "INSERT INTO fleetarc.positions VALUES ('860000000000001', '2026-11-01 23:59:59.5+00', 10.01, 45.001, 0, 0)"
  echo "trips_after_late_row	$(timed "$trips")"
  q -c "TRUNCATE fleetarc.positions"
fi

if [ "$what" = summary ] || [ "$what" = all ]; then
  q <<'SQL'
INSERT INTO fleetarc.positions (imei, gpstime, longitude, latitude, speed, course)
SELECT '87' || lpad(d::text, 13, '0'), timestamptz '2026-11-01 00:00:00+00' + (day * 86400 + s) * interval '1 s',
       round((10 + d * 0.001 + CASE WHEN s BETWEEN 28800 AND 36000 THEN (s - 28800) * 0.00002 ELSE 0 END)::numeric, 6)::float8,
       round((45 + d * 0.0001)::numeric, 6)::float8,
       CASE WHEN s BETWEEN 28800 AND 36000 THEN 60 ELSE 0 END, 90
FROM generate_series(1, 1000) d, generate_series(0, 29) day,
     (SELECT s FROM generate_series(0, 86399, 60) s
      WHERE s BETWEEN 28800 AND 36000 OR s % 1800 = 0) ss;
VACUUM ANALYZE fleetarc.positions;
SQL
  echo "rows_summary	$(q -c "SELECT count(*) FROM fleetarc.positions")"
  summ="SELECT count(*), sum(distance_km), sum(trips) FROM fleetarc.report_summary('2026-11-01', '2026-12-01', NULL, 'Europe/Berlin')"
  dist="SELECT count(*), sum(km) FROM fleetarc.report_distance('2026-11-01', '2026-12-01', NULL, 250, 'Europe/Berlin')"
  scan="SELECT count(*), sum(dt) FROM (SELECT date_part('epoch', gpstime) - lag(date_part('epoch', gpstime)) OVER (PARTITION BY imei ORDER BY gpstime) AS dt FROM fleetarc.positions WHERE gpstime >= '2026-11-01' AND gpstime < '2026-12-01') s"
  echo "scan30	$(timed "$scan")"
  q -c "TRUNCATE fleetarc.motion_cache"
  echo "summary_cold	$(timed "$summ")"
  echo "summary_warm	$(median5 "$summ")"
  echo "distance	$(timed "$dist")"
  echo "distance_warm	$(median5 "$dist")"
  echo "summary_result	$(q -c "$summ")"
fi
