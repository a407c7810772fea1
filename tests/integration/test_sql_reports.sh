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
