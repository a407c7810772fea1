# Shared by tests/integration/test_sql_*.sh and bench/reports/: a fresh database with the
# schema and the report functions. Needs PG* variables and $src (the source tree).
# shellcheck shell=bash

# sqltest_createdb NAME: creates a database with a unique name, exported as SQLTEST_DB
# (and PGDATABASE), dropped when the shell exits unless FLEETARC_KEEP_DB=1.
sqltest_createdb() {
  SQLTEST_DB="fleetarc_$1_$$_${RANDOM}"
  createdb "$SQLTEST_DB"
  export SQLTEST_DB PGDATABASE=$SQLTEST_DB
  if [ "${FLEETARC_KEEP_DB:-0}" != 1 ]; then
    trap 'dropdb --if-exists "$SQLTEST_DB" >/dev/null 2>&1 || true' EXIT
  fi
}

# sqltest_schema: `fleetarc migrate` when it is built (it applies every sql/*.sql), else
# the stand-in schema plus sql/05x_*.sql.
sqltest_schema() {
  local bin=${FLEETARC_BIN:-}
  if [ -n "$bin" ] && [ -x "$bin" ] && "$bin" migrate --help >/dev/null 2>&1; then
    "$bin" migrate --database "dbname=$SQLTEST_DB" >/dev/null 2>&1 && return 0
    echo "fleetarc migrate failed; using the stand-in schema" >&2
  fi
  psql -X -q -v ON_ERROR_STOP=1 -d "$SQLTEST_DB" -c 'SET client_min_messages = warning' \
    -f "$src/tests/sql/schema_stub.sql" >/dev/null
  local f
  for f in "$src"/sql/05*.sql "$src"/sql/08*.sql "$src"/sql/1[01]*.sql; do
    PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 -d "$SQLTEST_DB" -f "$f" >/dev/null
  done
}

# sqltest_partitions FROM TO: the monthly partitions covering [FROM, TO] (migrate's
# ensure_partitions; the stand-in schema has a default partition instead).
sqltest_partitions() {
  psql -X -q -v ON_ERROR_STOP=1 -d "$SQLTEST_DB" -o /dev/null -c \
    "DO \$\$ BEGIN IF to_regproc('fleetarc.ensure_partitions') IS NOT NULL THEN
       PERFORM fleetarc.ensure_partitions('$1', '$2'); END IF; END \$\$"
}
