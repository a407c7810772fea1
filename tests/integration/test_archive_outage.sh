#!/usr/bin/env bash
# Bounded memory under a database outage (issue 13): while the writer's queue is full,
# `fleetarc run` skips its /api/track polls (they would only grow a batch that cannot be
# written) and says so once; when PostgreSQL is back the polls resume and the run goes
# on. On a private cluster (scripts/pg-test-cluster): the shared server is never stopped.
set -euo pipefail
: "${FLEETARC_BIN:?}" "${FLEETARC_SIM_BIN:?}" "${FLEETARC_SOURCE_DIR:?}"
required=${FLEETARC_REQUIRE_PG:-0}
T=$(mktemp -d /tmp/fleetarc-outage.XXXXXX)
chmod 755 "$T"
export RUNTIME_DIRECTORY="$T/run"
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
psql "$base" -qAtc "CREATE DATABASE fa_outage" >/dev/null
CONN=${base/dbname=postgres/dbname=fa_outage}

"$FLEETARC_SIM_BIN" --listen 127.0.0.1:0 --devices 300 --seed 3 --history 1 --no-traps >"$T/sim.out" 2>"$T/sim.err" &
SIM_PID=$!
for _ in $(seq 100); do grep -q '^ready' "$T/sim.out" 2>/dev/null && break; sleep 0.1; done
SIM_URL=http://$(awk '/^listen/{print $2}' "$T/sim.out")
SIM_PASSWORD=$(awk '/^password/{print $2}' "$T/sim.out")
tracks() { curl -s "$SIM_URL/sim/stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['requests']['track'])"; }

cat >"$T/cfg.yaml" <<YAML
api:
  base_url: $SIM_URL
  timeout: 3s
  retry: {max_attempts: 2, base_delay: 50ms, max_delay: 200ms}
  rate_limits: {default: 0s, authorization: 0s, track: 0s, playback: 0s, alarm/list: 0s,
                device/list: 0s, user/list: 0s, device/detail: 0s, device/mileage: 0s}
accounts:
  - account: demo
    password: "$SIM_PASSWORD"
database:
  conninfo: "$CONN"
  batch_rows: 200
  queue_rows: 2000
  flush_interval: 100ms
archive: {lookback: 1h, track_interval: 1s}
log: {level: info}
YAML
"$FLEETARC_BIN" -c "$T/cfg.yaml" migrate >/dev/null
"$FLEETARC_BIN" -c "$T/cfg.yaml" run >/dev/null 2>"$T/fleetarc.err" &
FA_PID=$!
sleep 6
bash "$FLEETARC_SOURCE_DIR/scripts/pg-test-cluster" stop "$PG"
sleep 6 # the queue fills within a few polls
t1=$(tracks)
sleep 8
t2=$(tracks)
echo "track requests during 8 s of the outage: $((t2 - t1))"
[ $((t2 - t1)) -le 3 ] || fail "$((t2 - t1)) track polls during the outage: they should be skipped"
grep -q "track polls paused: the database writer is full" "$T/fleetarc.err" || fail "the pause was not logged"
kill -0 "$FA_PID" || fail "fleetarc died during the outage"
resumed=$(grep -c "track polls resumed" "$T/fleetarc.err" || true)
bash "$FLEETARC_SOURCE_DIR/scripts/pg-test-cluster" start "$PG"
for _ in $(seq 200); do
  [ "$(grep -c "track polls resumed" "$T/fleetarc.err" || true)" -gt "$resumed" ] && break
  sleep 0.2
done
[ "$(grep -c "track polls resumed" "$T/fleetarc.err" || true)" -gt "$resumed" ] ||
  fail "the polls did not resume after the outage"
t3=$(tracks)
sleep 4
t4=$(tracks)
echo "track requests in 4 s after the outage: $((t4 - t3))"
[ $((t4 - t3)) -gt 0 ] || fail "no track poll after the outage"
kill -TERM "$FA_PID"
st=0
wait "$FA_PID" || st=$?
FA_PID=""
[ $st -eq 0 ] || fail "run exited $st after SIGTERM"
if [ "$failures" -ne 0 ]; then
  tail -n 30 "$T/fleetarc.err" >&2
  exit 1
fi
echo PASS
