#!/usr/bin/env bash
# deploy/: `systemd-analyze verify` of fleetarc.service (when systemd-analyze exists;
# the ExecStart paths pointed at the built binary), then deploy/roles.sql on a fresh,
# migrated database (twice: idempotent): the reporter reads tables, partitions made
# later by the writer and report functions, but cannot write nor do DDL; the writer
# (a non-superuser) migrates, writes, creates and drops partitions.
. "$(dirname "$0")/archive_lib.sh"
checked=0

if command -v systemd-analyze >/dev/null; then
  sed "s|/usr/bin/fleetarc|$FLEETARC_BIN|g" "$FLEETARC_SOURCE_DIR/deploy/fleetarc.service" \
    >"$T/fleetarc.service"
  if systemd-analyze verify --man=no "$T/fleetarc.service" >"$T/verify" 2>&1 && [ ! -s "$T/verify" ]; then
    echo "systemd-analyze verify: clean"
  else
    cat "$T/verify" >&2
    fail "systemd-analyze verify reports problems"
  fi
  checked=1
else
  echo "systemd-analyze not installed: unit file not verified"
fi

if [ -z "${PGHOST:-}" ]; then
  [ "${FLEETARC_REQUIRE_PG:-0}" = 1 ] && { echo "FAIL: no PostgreSQL (PGHOST unset)" >&2; exit 1; }
  [ $checked = 1 ] || exit 77
  [ "$failures" -eq 0 ] || exit 1
  echo "PASS (no PostgreSQL: roles.sql not checked)"
  exit 0
fi

fresh_db fa_ops_deploy
"$FLEETARC_BIN" migrate --database "dbname=$DB" >/dev/null 2>&1 || { echo "FAIL: migrate" >&2; exit 1; }
for i in 1 2; do
  psql -d "$DB" -qAt -v ON_ERROR_STOP=1 -f "$FLEETARC_SOURCE_DIR/deploy/roles.sql" >"$T/roles$i" 2>&1 ||
    { cat "$T/roles$i" >&2; fail "roles.sql run $i failed"; }
done
[ "$(psql -d "$DB" -qAtc "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'fleetarc' AND c.relkind IN ('r','p') AND pg_get_userbyid(c.relowner) <> 'fleetarc'")" = 0 ] ||
  fail "tables not owned by the writer"

# as ROLE: runs SQL with that role's rights (the superuser switches to it)
as() { psql -d "$DB" -qAt -v ON_ERROR_STOP=1 -c "SET ROLE $1" -c "$2" 2>&1; }
as fleetarc "INSERT INTO fleetarc.positions VALUES ('42', now(), 57.5, -20.2, 30, 90)" >/dev/null ||
  fail "the writer cannot INSERT"
[ "$(as fleetarc_reporter "SELECT count(*) FROM fleetarc.positions")" = 1 ] || fail "the reporter cannot SELECT"
as fleetarc_reporter "SELECT count(*) FROM fleetarc.alarms, fleetarc.devices, fleetarc.device_state,
                      fleetarc.daily_mileage, fleetarc.alarm_types, fleetarc.cursors" >/dev/null ||
  fail "the reporter cannot SELECT every table"
as fleetarc_reporter "SELECT * FROM fleetarc.report_distance(now() - interval '1 day', now() + interval '1 day')" >/dev/null ||
  fail "the reporter cannot run a report function: $(as fleetarc_reporter "SELECT * FROM fleetarc.report_distance(now() - interval '1 day', now() + interval '1 day')")"
out=$(as fleetarc_reporter "INSERT INTO fleetarc.positions VALUES ('43', now(), 1, 2, 3, 4)") &&
  fail "the reporter could INSERT"
echo "$out" | grep -q "permission denied" || fail "reporter INSERT: '$out'"
out=$(as fleetarc_reporter "DELETE FROM fleetarc.positions") && fail "the reporter could DELETE"
out=$(as fleetarc_reporter "SELECT fleetarc.ensure_partitions('2031-01-01Z', '2031-01-01Z')") &&
  fail "the reporter could create partitions"
echo "$out" | grep -q "permission denied" || fail "reporter ensure_partitions: '$out'"
# a partition made later by the writer is readable directly (default privileges)
as fleetarc "SELECT fleetarc.ensure_partitions('2030-05-01Z', '2030-05-01Z')" >/dev/null ||
  fail "the writer cannot create partitions"
as fleetarc_reporter "SELECT count(*) FROM fleetarc.positions_203005" >/dev/null ||
  fail "a new partition is not readable by the reporter"
as fleetarc "SELECT * FROM fleetarc.drop_partitions_before('positions', '2030-06-01Z', true)" | grep -q positions_203005 ||
  fail "the writer cannot list expired partitions"
# the service's own login: migrate (a no-op now) and retention as the writer
"$FLEETARC_BIN" migrate --database "dbname=$DB user=fleetarc" >/dev/null 2>&1 || fail "migrate as the writer"
[ "$failures" -eq 0 ] || exit 1
echo PASS
