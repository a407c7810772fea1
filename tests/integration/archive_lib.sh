# Shared by the shell integration tests (tests/integration/test_*.sh): a fresh database
# on the shared PostgreSQL or a private cluster, fleetarc-sim, a config pointing at both,
# `fleetarc run` stopped by SIGTERM, and the SQL that compares the database with the
# sim's truth. Sourcing it makes $T and the EXIT trap that cleans up after the test.
# shellcheck shell=bash
set -euo pipefail
: "${FLEETARC_BIN:?}" "${FLEETARC_SIM_BIN:?}" "${FLEETARC_SOURCE_DIR:?}"
T=$(mktemp -d /tmp/fleetarc-archive.XXXXXX)
chmod 755 "$T"
# Each test its own token store (api.token_dir's default): parallel tests must not adopt
# each other's tokens when a port is reused.
export RUNTIME_DIRECTORY="$T/run"
SIM_PID="" FA_PID="" DB="" PG=""
# (every step || true: under set -e a failing last step would end the trap before the
# private cluster is stopped and $T removed)
cleanup() {
  [ -n "$FA_PID" ] && { kill "$FA_PID" 2>/dev/null && wait "$FA_PID" 2>/dev/null || true; }
  [ -n "$SIM_PID" ] && { kill "$SIM_PID" 2>/dev/null && wait "$SIM_PID" 2>/dev/null || true; }
  [ -n "$DB" ] && { psql -d postgres -qAtc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true; }
  [ -n "$PG" ] && { bash "$FLEETARC_SOURCE_DIR/scripts/pg-test-cluster" destroy "$PG" >/dev/null 2>&1 || true; }
  rm -rf "$T"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# fresh_db NAME: drops and creates the database NAME on the shared PostgreSQL (PG*
# variables; sets DB). Without one: skipped (exit 77), or failed when FLEETARC_REQUIRE_PG=1.
fresh_db() {
  if [ -z "${PGHOST:-}" ]; then
    [ "${FLEETARC_REQUIRE_PG:-0}" = 1 ] && { echo "FAIL: no PostgreSQL (PGHOST unset)" >&2; exit 1; }
    echo "skipped: no PostgreSQL" >&2
    exit 77
  fi
  DB=$1
  psql -d postgres -qAtc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
  psql -d postgres -qAtc "CREATE DATABASE $DB" >/dev/null
}

# private_pg NAME: a PostgreSQL cluster of the test's own in $T/pg (scripts/pg-test-cluster:
# the test may stop and start it, the shared server is never touched) holding the
# database NAME; sets PG and CONN (the database's conninfo). Without one: skipped (exit
# 77), or failed when FLEETARC_REQUIRE_PG=1.
private_pg() {
  PG=$T/pg
  if ! bash "$FLEETARC_SOURCE_DIR/scripts/pg-test-cluster" init "$PG"; then
    echo "cannot start a private PostgreSQL cluster" >&2
    [ "${FLEETARC_REQUIRE_PG:-0}" = 1 ] && exit 1
    exit 77
  fi
  local base
  base=$(cat "$PG/conninfo")
  psql "$base" -qAtc "CREATE DATABASE $1" >/dev/null
  CONN=${base/dbname=postgres/dbname=$1}
}

# private_pg_stop, private_pg_start: the private cluster goes down, comes back
private_pg_stop() { bash "$FLEETARC_SOURCE_DIR/scripts/pg-test-cluster" stop "$PG"; }
private_pg_start() { bash "$FLEETARC_SOURCE_DIR/scripts/pg-test-cluster" start "$PG"; }

# sim_start ARGS...: starts fleetarc-sim on a free port (sets SIM_PID SIM_URL SIM_PASSWORD)
sim_start() {
  rm -f "$T/sim.out" # a previous sim's "ready" must not pass for this one's
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

# api_yaml [MAX_ATTEMPTS MAX_DELAY]: the api: section for the sim at $SIM_URL: a 3 s
# timeout, no pacing (the sim has none unless --limits), short retries (default 2, 200ms)
# so that faults cost little time
api_yaml() {
  cat <<YAML
api:
  base_url: $SIM_URL
  timeout: 3s
  retry: {max_attempts: ${1:-2}, base_delay: 50ms, max_delay: ${2:-200ms}}
  rate_limits: {default: 0s, authorization: 0s, track: 0s, playback: 0s, alarm/list: 0s,
                device/list: 0s, user/list: 0s, device/detail: 0s, device/mileage: 0s}
YAML
}

# demo_yaml PASSWORD: the accounts: section, the sim's account demo
demo_yaml() {
  cat <<YAML
accounts:
  - account: demo
    password: "$1"
YAML
}

# write_config [EXTRA_YAML]: $T/cfg.yaml for the sim and $DB (api_yaml with 6 attempts up
# to 1 s apart, 8 requests in flight), migrated
write_config() {
  {
    api_yaml 6 1s
    echo "  max_in_flight: 8"
    demo_yaml "$SIM_PASSWORD"
    cat <<YAML
database:
  conninfo: "dbname=$DB"
  batch_rows: 5000
  flush_interval: 200ms
log:
  level: info
${1:-}
YAML
  } >"$T/cfg.yaml"
  "$FLEETARC_BIN" -c "$T/cfg.yaml" migrate >/dev/null
}

# ops_port [LOG]: the port of the metrics listener `fleetarc run` logged in LOG (default
# $T/fleetarc.err), waiting up to 10 s for the line; empty when there is none
ops_port() {
  local log=${1:-$T/fleetarc.err}
  for _ in $(seq 100); do grep -q "ops: listening" "$log" && break; sleep 0.1; done
  sed -n 's/.*ops: listening on .* port \([0-9]*\):.*/\1/p' "$log" | head -n 1
}

# sigterm_run PID [WHAT]: SIGTERM to a `fleetarc run` (or another service command) and
# wait; it must exit 0 ("WHAT exited N after SIGTERM", WHAT defaulting to "run")
sigterm_run() {
  kill -TERM "$1"
  local st=0
  wait "$1" || st=$?
  [ $st -eq 0 ] || fail "${2:-run} exited $st after SIGTERM"
}

# sigterm_timed PID [NOTE]: the shutdown contract of `fleetarc run`: after SIGTERM it
# exits 0 in under 10 s; prints the status and the time (and NOTE)
sigterm_timed() {
  local t0 took st=0
  t0=$(date +%s.%N)
  kill -TERM "$1"
  wait "$1" || st=$?
  took=$(echo "$(date +%s.%N) - $t0" | bc)
  echo "SIGTERM: exit $st after ${took}s${2:+ ($2)}"
  [ $st -eq 0 ] || fail "run exited $st after SIGTERM"
  awk -v t="$took" 'BEGIN{exit !(t < 10)}' || fail "run took ${took}s to stop"
}

# compare FROM TO [SYSTO]: the database ($DB, or private_pg's $CONN) equals the truth
# CSVs in $T/truth over gpstime
# [FROM, TO) (positions and alarms, row for row; alarms also with systemtime < SYSTO);
# prints the counts, fails on any difference
compare() {
  local out
  out=$(cd "$T" && psql -d "${CONN:-$DB}" -qAt -F' ' -v ON_ERROR_STOP=1 -v from="$1" -v to="$2" -v systo="${3:-9999999999}" <<'SQL'
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
