#!/usr/bin/env bash
# /healthz of `fleetarc run` follows the database: 200 while it is up, 503 "database
# unreachable for Ns" once PostgreSQL has been stopped longer than metrics.unhealthy_after,
# 200 again after it is back. Runs on a private cluster (scripts/pg-test-cluster) so the
# shared server of the parallel tests is never stopped. Then an account with a wrong
# password: 503 naming the account and code 20001.
. "$(dirname "$0")/archive_lib.sh"

private_pg fa_ops_health
sim_start --devices 5 --seed 3 --history 1

# start_run PASSWORD: fleetarc run on the private cluster; sets FA_PID and URL
start_run() {
  {
    api_yaml
    demo_yaml "$1"
    cat <<YAML
database:
  conninfo: "$CONN"
archive: {lookback: 1h, track_interval: 2s}
metrics: {listen: 127.0.0.1:0, unhealthy_after: 3s}
YAML
  } >"$T/cfg.yaml"
  "$FLEETARC_BIN" -c "$T/cfg.yaml" migrate >/dev/null 2>&1
  : >"$T/fleetarc.err"
  "$FLEETARC_BIN" -c "$T/cfg.yaml" run >/dev/null 2>"$T/fleetarc.err" &
  FA_PID=$!
  URL=http://127.0.0.1:$(ops_port)
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
private_pg_stop
body=$(wait_health 503 20) || fail "not unhealthy with PostgreSQL stopped"
took=$(($(date +%s) - t0))
echo "unhealthy after ${took}s: $body"
[[ "$body" =~ ^database\ unreachable\ for\ [0-9]+s$ ]] || fail "reason is '$body'"
[ "$took" -ge 3 ] || fail "unhealthy after ${took}s, before unhealthy_after (3s)"
curl -s "$URL/metrics" | grep '^fleetarc_db_connected 0$' >/dev/null || fail "db_connected is not 0"
curl -s "$URL/metrics" | grep '^fleetarc_healthy 0$' >/dev/null || fail "healthy is not 0"

private_pg_start
body=$(wait_health 200 45) || fail "not healthy again after PostgreSQL came back"
[ "$body" = ok ] || fail "body after recovery is '$body'"
curl -s "$URL/metrics" | grep '^fleetarc_db_connection_losses_total [1-9]' >/dev/null || fail "no connection loss counted"
kill -0 "$FA_PID" || fail "fleetarc died while the database was down"
sigterm_run "$FA_PID"
FA_PID=""

# a wrong password: the account stops (20001) and /healthz names it
start_run "not-the-password"
body=$(wait_health 503 20) || fail "not unhealthy with a stopped account"
echo "stopped account: $body"
[[ "$body" =~ ^account\ demo\ stopped\ \(code\ 20001\)\ for\ [0-9]+s$ ]] || fail "reason is '$body'"
kill -TERM "$FA_PID"
wait "$FA_PID" || true
FA_PID=""

finish
