#!/usr/bin/env bash
# /healthz of `fleetarc run` follows the database: 200 while it is up, 503 "database
# unreachable for Ns" once PostgreSQL has been stopped longer than metrics.unhealthy_after,
# 200 again after it is back. Runs on a private cluster (scripts/pg-test-cluster) so the
# shared server of the parallel tests is never stopped. Then an account with a wrong
# password: 503 naming the account and code 20001.
set -euo pipefail
: "${FLEETARC_BIN:?}" "${FLEETARC_SIM_BIN:?}" "${FLEETARC_SOURCE_DIR:?}"
required=${FLEETARC_REQUIRE_PG:-0}
T=$(mktemp -d /tmp/fleetarc-opsh.XXXXXX)
chmod 755 "$T"
PG=$T/pg
SIM_PID="" FA_PID=""
cleanup() {
  [ -n "$FA_PID" ] && kill "$FA_PID" 2>/dev/null && wait "$FA_PID" 2>/dev/null
  [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null && wait "$SIM_PID" 2>/dev/null
  bash "$FLEETARC_SOURCE_DIR/scripts/pg-test-cluster" destroy "$PG" >/dev/null 2>&1 || true
  rm -rf "$T"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

if ! bash "$FLEETARC_SOURCE_DIR/scripts/pg-test-cluster" init "$PG"; then
  echo "cannot start a private PostgreSQL cluster" >&2
  [ "$required" = 1 ] && exit 1
  exit 77
fi
base=$(cat "$PG/conninfo")
psql "$base" -qAtc "CREATE DATABASE fa_ops_health" >/dev/null
CONN=${base/dbname=postgres/dbname=fa_ops_health}

"$FLEETARC_SIM_BIN" --listen 127.0.0.1:0 --devices 5 --seed 3 --history 1 >"$T/sim.out" 2>"$T/sim.err" &
SIM_PID=$!
for _ in $(seq 100); do grep -q '^ready' "$T/sim.out" 2>/dev/null && break; sleep 0.1; done
SIM_URL=http://$(awk '/^listen/{print $2}' "$T/sim.out")
SIM_PASSWORD=$(awk '/^password/{print $2}' "$T/sim.out")

# start_run PASSWORD: fleetarc run on the private cluster; sets FA_PID and URL
start_run() {
  cat >"$T/cfg.yaml" <<YAML
api:
  base_url: $SIM_URL
  timeout: 3s
  retry: {max_attempts: 2, base_delay: 50ms, max_delay: 200ms}
  rate_limits: {default: 0s, authorization: 0s, track: 0s, playback: 0s, alarm/list: 0s,
                device/list: 0s, user/list: 0s, device/detail: 0s, device/mileage: 0s}
accounts:
  - account: demo
    password: "$1"
database:
  conninfo: "$CONN"
archive: {lookback: 1h, track_interval: 2s}
metrics: {listen: 127.0.0.1:0, unhealthy_after: 3s}
YAML
  "$FLEETARC_BIN" -c "$T/cfg.yaml" migrate >/dev/null 2>&1
  : >"$T/fleetarc.err"
  "$FLEETARC_BIN" -c "$T/cfg.yaml" run >/dev/null 2>"$T/fleetarc.err" &
  FA_PID=$!
  for _ in $(seq 100); do grep -q "ops: listening" "$T/fleetarc.err" && break; sleep 0.1; done
  URL=http://127.0.0.1:$(sed -n 's/.*ops: listening on .* port \([0-9]*\):.*/\1/p' "$T/fleetarc.err" | head -n 1)
}

# wait_health CODE SECONDS: polls /healthz until it answers CODE; prints the body
wait_health() {
  local code body
  for _ in $(seq $(($2 * 5))); do
    code=$(curl -s -o "$T/body" -w '%{http_code}' "$URL/healthz" || true)
    [ "$code" = "$1" ] && { cat "$T/body"; return 0; }
    sleep 0.2
  done
  echo "healthz: $code $(cat "$T/body" 2>/dev/null)" >&2
  return 1
}

start_run "$SIM_PASSWORD"
body=$(wait_health 200 15) || fail "never healthy at start"
[ "$body" = ok ] || fail "healthy body is '$body', not 'ok'"

t0=$(date +%s)
bash "$FLEETARC_SOURCE_DIR/scripts/pg-test-cluster" stop "$PG"
body=$(wait_health 503 20) || fail "not unhealthy with PostgreSQL stopped"
took=$(($(date +%s) - t0))
echo "unhealthy after ${took}s: $body"
[[ "$body" =~ ^database\ unreachable\ for\ [0-9]+s$ ]] || fail "reason is '$body'"
[ "$took" -ge 3 ] || fail "unhealthy after ${took}s, before unhealthy_after (3s)"
curl -s "$URL/metrics" | grep '^fleetarc_db_connected 0$' >/dev/null || fail "db_connected is not 0"
curl -s "$URL/metrics" | grep '^fleetarc_healthy 0$' >/dev/null || fail "healthy is not 0"

bash "$FLEETARC_SOURCE_DIR/scripts/pg-test-cluster" start "$PG"
body=$(wait_health 200 45) || fail "not healthy again after PostgreSQL came back"
[ "$body" = ok ] || fail "body after recovery is '$body'"
curl -s "$URL/metrics" | grep '^fleetarc_db_connection_losses_total [1-9]' >/dev/null || fail "no connection loss counted"
kill -0 "$FA_PID" || fail "fleetarc died while the database was down"
kill -TERM "$FA_PID"
st=0
wait "$FA_PID" || st=$?
FA_PID=""
[ $st -eq 0 ] || fail "run exited $st after SIGTERM"

# a wrong password: the account stops (20001) and /healthz names it
start_run "not-the-password"
body=$(wait_health 503 20) || fail "not unhealthy with a stopped account"
echo "stopped account: $body"
[[ "$body" =~ ^account\ demo\ stopped\ \(code\ 20001\)\ for\ [0-9]+s$ ]] || fail "reason is '$body'"
kill -TERM "$FA_PID"
wait "$FA_PID" || true
FA_PID=""

if [ "$failures" -ne 0 ]; then
  tail -n 30 "$T/fleetarc.err" >&2
  exit 1
fi
echo PASS
