#!/usr/bin/env bash
# `fleetarc backfill` writes over two connections (issue 20). PostgreSQL stopped in the
# middle of one and started again: both writers lose their connection, reconnect and
# write their batches again, and the backfill ends (exit 0) with positions and alarms
# equal to the truth, row for row (nothing lost, nothing twice: a batch either committed
# with its coverage or is written again). On a private cluster (scripts/pg-test-cluster).
. "$(dirname "$0")/archive_lib.sh"

NOW=1772798400 # 2026-03-06T12:00:00Z
private_pg fa_bf_pgrestart
sim_start --devices 300 --seed 11 --history 2 --now $NOW --no-traps --truth "$T/truth"
# playback paced at 20 ms so that the backfill lasts long enough to be cut in the middle;
# small batches, so that several are out when PostgreSQL stops
{
  cat <<YAML
api:
  base_url: $SIM_URL
  timeout: 3s
  retry: {max_attempts: 6, base_delay: 50ms, max_delay: 1s}
  rate_limits: {default: 0s, authorization: 0s, track: 0s, playback: 20ms, alarm/list: 0s,
                device/list: 0s, user/list: 0s, device/detail: 0s, device/mileage: 0s}
YAML
  demo_yaml "$SIM_PASSWORD"
  cat <<YAML
database:
  conninfo: "$CONN"
  batch_rows: 2000
  flush_interval: 100ms
log: {level: info}
YAML
} >"$T/cfg.yaml"
"$FLEETARC_BIN" -c "$T/cfg.yaml" migrate >/dev/null
FROM=$((NOW - 2 * 86400 + 3600)) TO=$((NOW - 6 * 3600))
"$FLEETARC_BIN" -c "$T/cfg.yaml" backfill --from $FROM --to $TO >"$T/fleetarc.out" 2>"$T/fleetarc.err" &
FA_PID=$!
# both writers connected and rows committed: then the server goes away for 3 s
for _ in $(seq 300); do
  n=$(psql "$CONN" -qAtc "SELECT count(*) FROM fleetarc.positions" 2>/dev/null || echo 0)
  [ "${n:-0}" -gt 0 ] && break
  sleep 0.05
done
writers=$(psql "$CONN" -qAtc "SELECT count(*) FROM pg_stat_activity
  WHERE datname = 'fa_bf_pgrestart' AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
echo "positions committed before the stop: $n; connections of the backfill: $writers"
[ "$writers" -ge 2 ] || fail "the backfill writes over $writers connection(s), not two"
private_pg_stop
sleep 3
kill -0 "$FA_PID" 2>/dev/null || fail "backfill ended while PostgreSQL was down"
private_pg_start
st=0
wait "$FA_PID" || st=$?
FA_PID=""
echo "backfill exit $st"
[ $st -eq 0 ] || fail "backfill exited $st"
lost=$(grep -c "lost the connection to PostgreSQL" "$T/fleetarc.err" || true)
back=$(grep -c "pgw: connected to PostgreSQL after" "$T/fleetarc.err" || true)
echo "connections lost: $lost, reconnected: $back"
[ "$back" -ge 1 ] || fail "no writer reconnected: PostgreSQL's stop was not seen"
grep -q "summary: .*errors 0" "$T/fleetarc.err" || fail "the backfill's summary counts errors"
compare $FROM $TO
finish
