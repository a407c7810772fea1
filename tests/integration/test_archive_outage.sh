#!/usr/bin/env bash
# Bounded memory under a database outage (issue 13): while the writer's queue is full,
# `fleetarc run` skips its /api/track polls (they would only grow a batch that cannot be
# written) and says so once; when PostgreSQL is back the polls resume and the run goes
# on. On a private cluster (scripts/pg-test-cluster): the shared server is never stopped.
. "$(dirname "$0")/archive_lib.sh"

private_pg fa_outage
sim_start --devices 300 --seed 3 --history 1 --no-traps
# A small queue: a parked device's unchanged track record is not written (issue 20), so
# an outage's polls add only the records that changed and the new points, a few dozen
# rows a second here (before, every device's row each poll filled 2000 in seconds).
{
  api_yaml
  demo_yaml "$SIM_PASSWORD"
  cat <<YAML
database:
  conninfo: "$CONN"
  batch_rows: 20
  queue_rows: 50
  flush_interval: 100ms
archive: {lookback: 1h, track_interval: 1s}
log: {level: info}
YAML
} >"$T/cfg.yaml"
"$FLEETARC_BIN" -c "$T/cfg.yaml" migrate >/dev/null
"$FLEETARC_BIN" -c "$T/cfg.yaml" run >/dev/null 2>"$T/fleetarc.err" &
FA_PID=$!
sleep 6
private_pg_stop
sleep 6 # the queue fills within a few polls
t1=$(sim_stat requests.track)
sleep 8
t2=$(sim_stat requests.track)
echo "track requests during 8 s of the outage: $((t2 - t1))"
[ $((t2 - t1)) -le 3 ] || fail "$((t2 - t1)) track polls during the outage: they should be skipped"
grep -q "track polls paused: the database writer is full" "$T/fleetarc.err" || fail "the pause was not logged"
kill -0 "$FA_PID" || fail "fleetarc died during the outage"
resumed=$(grep -c "track polls resumed" "$T/fleetarc.err" || true)
private_pg_start
for _ in $(seq 200); do
  [ "$(grep -c "track polls resumed" "$T/fleetarc.err" || true)" -gt "$resumed" ] && break
  sleep 0.2
done
[ "$(grep -c "track polls resumed" "$T/fleetarc.err" || true)" -gt "$resumed" ] ||
  fail "the polls did not resume after the outage"
t3=$(sim_stat requests.track)
sleep 4
t4=$(sim_stat requests.track)
echo "track requests in 4 s after the outage: $((t4 - t3))"
[ $((t4 - t3)) -gt 0 ] || fail "no track poll after the outage"
sigterm_run "$FA_PID"
FA_PID=""
finish
