#!/usr/bin/env bash
# SQL report functions (sql/050_reports.sql) against hand-made tracks with exact expected
# results (tests/sql/reports_handmade.sql), in a fresh database dropped afterwards.
# The schema comes from `fleetarc migrate` when that command exists, else from
# tests/sql/schema_stub.sql (PRODUCT.md's fixed tables) followed by sql/050_reports.sql.
set -euo pipefail
if [ -z "${PGHOST:-}" ]; then
  [ "${FLEETARC_REQUIRE_PG:-0}" = 1 ] && { echo "PGHOST unset but FLEETARC_REQUIRE_PG=1" >&2; exit 1; }
  echo "skip: no PostgreSQL (PGHOST unset)"; exit 77
fi
src=${FLEETARC_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$src/tests/sql/lib.sh"

sqltest_createdb reports
sqltest_schema
sqltest_partitions 2026-11-01 2026-11-03
psql -X -q -t -A -o /dev/null -v ON_ERROR_STOP=1 -d "$SQLTEST_DB" -f "$src/tests/sql/reports_handmade.sql"
echo "ok: hand-made report checks passed"
psql -X -q -t -A -o /dev/null -v ON_ERROR_STOP=1 -d "$SQLTEST_DB" -f "$src/tests/sql/reports_tz_summary.sql"
echo "ok: names, time zones, summary and cache checks passed"
psql -X -q -t -A -o /dev/null -v ON_ERROR_STOP=1 -d "$SQLTEST_DB" -c "TRUNCATE fleetarc.positions, fleetarc.alarms" \
  -f "$src/tests/sql/reports_device_day.sql"
echo "ok: per device-day summaries checks passed"
for seed in 0.1 0.42; do
  psql -X -q -t -A -o /dev/null -v ON_ERROR_STOP=1 -v seed=$seed -d "$SQLTEST_DB" -f "$src/tests/sql/reports_random.sql"
done
echo "ok: stored and live reports agree on random tracks and ranges"

# A report that stored cache entries and whose transaction is still open does not hold
# the writers (sql/102; before, its advisory lock made every write wait until it ended).
psql -X -q -d "$SQLTEST_DB" -c "TRUNCATE fleetarc.motion_cache"
psql -X -q -t -A -d "$SQLTEST_DB" -o /dev/null -c "BEGIN" \
  -c "SELECT count(*) FROM fleetarc.report_trips('2026-11-01', '2026-11-06')" \
  -c "SELECT pg_sleep(60) /* open report */" -c "COMMIT" 2>/dev/null &
report_pid=$!
end_report() {
  psql -X -q -t -A -d "$SQLTEST_DB" -o /dev/null -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity
    WHERE query LIKE '%pg_sleep(60) /* open report */%' AND pid <> pg_backend_pid()"
  wait "$report_pid" || true
}
for _ in $(seq 1 300); do
  n=$(psql -X -q -t -A -d "$SQLTEST_DB" -c "SELECT count(*) FROM pg_stat_activity
        WHERE query LIKE '%pg_sleep(60) /* open report */%' AND pid <> pg_backend_pid()")
  [ "$n" = 1 ] && break
  sleep 0.2
done
[ "$n" = 1 ] || { echo "FAIL: the open report did not start"; end_report; exit 1; }
psql -X -q -t -A -d "$SQLTEST_DB" -v ON_ERROR_STOP=1 -o /dev/null -c "SET lock_timeout = '5s'" \
  -c "INSERT INTO fleetarc.positions VALUES ('990000000000001', '2026-11-05 12:00:05Z', 12, 45.01, 0, 0)" ||
  { echo "FAIL: a write waited for an open report"; end_report; exit 1; }
end_report
echo "ok: an open report does not hold the writers"
