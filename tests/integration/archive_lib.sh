# Shared by tests/integration/test_archive_*.sh: a fresh database, fleetarc-sim, a
# config pointing at both, and the SQL that compares the database with the sim's truth.
# shellcheck shell=bash
set -euo pipefail
: "${FLEETARC_BIN:?}" "${FLEETARC_SIM_BIN:?}" "${FLEETARC_SOURCE_DIR:?}"
if [ -z "${PGHOST:-}" ]; then
  [ "${FLEETARC_REQUIRE_PG:-0}" = 1 ] && { echo "FAIL: no PostgreSQL (PGHOST unset)" >&2; exit 1; }
  echo "skipped: no PostgreSQL" >&2
  exit 77
fi
T=$(mktemp -d /tmp/fleetarc-archive.XXXXXX)
chmod 755 "$T"
# Each test its own token store (api.token_dir's default): parallel tests must not adopt
# each other's tokens when a port is reused.
export RUNTIME_DIRECTORY="$T/run"
SIM_PID=""
cleanup() {
  [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null && wait "$SIM_PID" 2>/dev/null
  psql -d postgres -qAtc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$T"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# fresh_db NAME: drops and creates the database NAME (sets DB)
fresh_db() {
  DB=$1
  psql -d postgres -qAtc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
  psql -d postgres -qAtc "CREATE DATABASE $DB" >/dev/null
}

# sim_start ARGS...: starts fleetarc-sim on a free port (sets SIM_PID SIM_URL SIM_PASSWORD)
sim_start() {
  "$FLEETARC_SIM_BIN" --listen 127.0.0.1:0 "$@" >"$T/sim.out" 2>"$T/sim.err" &
  SIM_PID=$!
  for _ in $(seq 100); do grep -q '^ready' "$T/sim.out" 2>/dev/null && break; sleep 0.1; done
  grep -q '^ready' "$T/sim.out" || { cat "$T/sim.err" >&2; echo "FAIL: sim did not start" >&2; exit 1; }
  SIM_URL=http://$(awk '/^listen/{print $2}' "$T/sim.out")
  SIM_PASSWORD=$(awk '/^password/{print $2}' "$T/sim.out")
}

sim_stop() { kill "$SIM_PID"; wait "$SIM_PID" || true; SIM_PID=""; }

# sim_stat PATH: a number of GET /sim/stats, e.g. sim_stat requests.playback
sim_stat() {
  curl -s "$SIM_URL/sim/stats" | python3 -c "import json,sys
v=json.load(sys.stdin)
for k in '$1'.split('.'): v=v[k]
print(v)"
}

# write_config [EXTRA_YAML]: $T/cfg.yaml for the sim and $DB, no pacing (the sim has none
# unless --limits), short retries so that faults cost little time
write_config() {
  cat >"$T/cfg.yaml" <<YAML
api:
  base_url: $SIM_URL
  timeout: 3s
  max_in_flight: 8
  retry: {max_attempts: 6, base_delay: 50ms, max_delay: 1s}
  rate_limits: {default: 0s, authorization: 0s, track: 0s, playback: 0s, alarm/list: 0s,
                device/list: 0s, user/list: 0s, device/detail: 0s, device/mileage: 0s}
accounts:
  - account: demo
    password: "$SIM_PASSWORD"
database:
  conninfo: "dbname=$DB"
  batch_rows: 5000
  flush_interval: 200ms
log:
  level: info
${1:-}
YAML
  "$FLEETARC_BIN" -c "$T/cfg.yaml" migrate >/dev/null
}

# compare FROM TO [SYSTO]: the database equals the truth CSVs in $T/truth over gpstime
# [FROM, TO) (positions and alarms, row for row; alarms also with systemtime < SYSTO);
# prints the counts, fails on any difference
compare() {
  local out
  out=$(cd "$T" && psql -d "$DB" -qAt -F' ' -v ON_ERROR_STOP=1 -v from="$1" -v to="$2" -v systo="${3:-9999999999}" <<'SQL'
CREATE TEMP TABLE tp (imei text, gpstime bigint, longitude double precision, latitude double precision, speed int, course int);
CREATE TEMP TABLE ta (imei text, alarm_type int, gpstime bigint, systemtime bigint, longitude double precision, latitude double precision, speed int, course int, geofence_id bigint);
\copy tp FROM 'truth/positions.csv' CSV HEADER
\copy ta FROM 'truth/alarms.csv' CSV HEADER
CREATE TEMP VIEW want_p AS SELECT imei, gpstime, round(longitude::numeric, 6) lo, round(latitude::numeric, 6) la, speed, course FROM tp WHERE gpstime >= :from AND gpstime < :to;
CREATE TEMP VIEW have_p AS SELECT imei, extract(epoch FROM gpstime)::bigint g, round(longitude::numeric, 6) lo, round(latitude::numeric, 6) la, speed, course FROM fleetarc.positions WHERE gpstime >= to_timestamp(:from) AND gpstime < to_timestamp(:to);
CREATE TEMP VIEW want_a AS SELECT imei, alarm_type, gpstime, systemtime, round(longitude::numeric, 6) lo, round(latitude::numeric, 6) la, speed, course, geofence_id FROM ta WHERE gpstime >= :from AND gpstime < :to AND systemtime < :systo;
CREATE TEMP VIEW have_a AS SELECT imei, alarm_type, extract(epoch FROM gpstime)::bigint g, extract(epoch FROM systemtime)::bigint s, round(longitude::numeric, 6) lo, round(latitude::numeric, 6) la, speed, course, geofence_id FROM fleetarc.alarms WHERE gpstime >= to_timestamp(:from) AND gpstime < to_timestamp(:to) AND systemtime < to_timestamp(:systo);
SELECT 'positions_want', count(*) FROM want_p;
SELECT 'positions_have', count(*) FROM have_p;
SELECT 'positions_missing', count(*) FROM (SELECT * FROM want_p EXCEPT SELECT * FROM have_p) x;
SELECT 'positions_extra', count(*) FROM (SELECT * FROM have_p EXCEPT SELECT * FROM want_p) x;
SELECT 'alarms_want', count(*) FROM want_a;
SELECT 'alarms_have', count(*) FROM have_a;
SELECT 'alarms_missing', count(*) FROM (SELECT * FROM want_a EXCEPT SELECT * FROM have_a) x;
SELECT 'alarms_extra', count(*) FROM (SELECT * FROM have_a EXCEPT SELECT * FROM want_a) x;
SQL
)
  echo "$out" | sed 's/^/  /'
  local v
  v() { echo "$out" | awk -v k="$1" '$1 == k {print $2}'; }
  [ "$(v positions_want)" -gt 0 ] || fail "the truth holds no positions in range"
  [ "$(v positions_want)" = "$(v positions_have)" ] || fail "positions: count differs"
  [ "$(v positions_missing)" = 0 ] || fail "positions: $(v positions_missing) missing"
  [ "$(v positions_extra)" = 0 ] || fail "positions: $(v positions_extra) not in the truth"
  [ "$(v alarms_want)" -gt 0 ] || fail "the truth holds no alarms in range"
  [ "$(v alarms_want)" = "$(v alarms_have)" ] || fail "alarms: count differs"
  [ "$(v alarms_missing)" = 0 ] || fail "alarms: $(v alarms_missing) missing"
  [ "$(v alarms_extra)" = 0 ] || fail "alarms: $(v alarms_extra) not in the truth"
}

finish() {
  if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s); last fleetarc log:" >&2
    tail -n 30 "$T/fleetarc.err" >&2 2>/dev/null || true
    exit 1
  fi
  echo "PASS"
}
