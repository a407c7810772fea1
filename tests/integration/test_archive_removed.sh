#!/usr/bin/env bash
# Devices no longer listed: `fleetarc run` first with subaccounts: true (every device of
# the sim's account tree), then with subaccounts: false (only the root's own devices).
# The second run sets fleetarc.devices.removed_at for exactly the sub-accounts' devices,
# keeps their history, archives them no more, and says so in one info line (no line
# per device); a third run listing them again clears removed_at.
. "$(dirname "$0")/archive_lib.sh"

NOW=1772798400 # 2026-03-06T12:00:00Z
fresh_db fa_removed
sim_start --devices 30 --seed 5 --history 2 --now $NOW --speed 60

q() { psql -d "$DB" -qAtc "$1"; }

# run_until SUBACCOUNTS SQL: runs fleetarc run until SQL answers t (at most 60 s), then
# SIGTERM; its log is $T/fleetarc.err
run_until() {
  write_config "archive: {lookback: 6h, track_interval: 2s, discovery_interval: 1h}"
  sed -i "s/^    password: .*/&\n    subaccounts: $1/" "$T/cfg.yaml"
  "$FLEETARC_BIN" -c "$T/cfg.yaml" run >"$T/fleetarc.out" 2>"$T/fleetarc.err" &
  local pid=$! ok=0
  for _ in $(seq 120); do
    [ "$(q "$2")" = t ] && { ok=1; break; }
    kill -0 $pid 2>/dev/null || break
    sleep 0.5
  done
  sleep 1 # what is in flight is written before the stop anyway; let a poll or two land
  kill -TERM $pid 2>/dev/null || true
  local st=0
  wait $pid || st=$?
  [ $st -eq 0 ] || fail "run (subaccounts: $1) exited $st"
  [ $ok = 1 ] || { fail "run (subaccounts: $1): never reached: $2"; tail -20 "$T/fleetarc.err" >&2; }
}

# 1: the whole tree; until most devices have coverage (a few of the sim's devices never
# report: those stay without one, known from fleetarc.devices only)
run_until true "SELECT count(DISTINCT imei) >= 25 FROM fleetarc.coverage"
n_all=$(q "SELECT count(*) FROM fleetarc.devices")
n_root=$(q "SELECT count(*) FROM fleetarc.devices WHERE account = 'demo'")
n_sub=$((n_all - n_root))
echo "run 1: $n_all devices, $n_root of demo itself, $n_sub of sub-accounts"
[ "$n_root" -gt 0 ] && [ "$n_sub" -gt 0 ] || fail "the sim's tree needs devices at both levels"
[ "$(q "SELECT count(*) FROM fleetarc.devices WHERE removed_at IS NOT NULL")" = 0 ] ||
  fail "removed_at set after a complete first run"
sub_points=$(q "SELECT count(*) FROM fleetarc.positions WHERE imei IN
                (SELECT imei FROM fleetarc.devices WHERE account <> 'demo')")
[ "$sub_points" -gt 0 ] || fail "no positions of sub-account devices"

# 2: only demo's own devices are listed
run_until false "SELECT count(*) > 0 FROM fleetarc.devices WHERE removed_at IS NOT NULL"
cp "$T/fleetarc.err" "$T/run2.err"
echo "run 2: $(grep -c . "$T/run2.err") log lines"
got=$(q "SELECT string_agg(imei, ',' ORDER BY imei) FROM fleetarc.devices WHERE removed_at IS NOT NULL")
want=$(q "SELECT string_agg(imei, ',' ORDER BY imei) FROM fleetarc.devices WHERE account <> 'demo'")
[ "$got" = "$want" ] || fail "removed_at set for [$got], expected exactly [$want]"
[ "$(q "SELECT count(*) FROM fleetarc.positions WHERE imei IN
        (SELECT imei FROM fleetarc.devices WHERE account <> 'demo')")" -ge "$sub_points" ] ||
  fail "the removed devices' history shrank"
grep -q "info  $n_sub known devices not listed by any account: inactive$" "$T/run2.err" ||
  fail "no single info line with the count $n_sub of inactive devices"
grep -q "device .* removed" "$T/run2.err" && fail "a line per removed device at startup"
grep -q "device .* added" "$T/run2.err" && fail "known devices announced as added"
# not archived any more: no cursor or coverage of a removed device moved during run 2
moved=$(q "SELECT (SELECT count(*) FROM fleetarc.cursors c JOIN fleetarc.devices d USING (imei)
                   WHERE d.removed_at IS NOT NULL AND c.updated_at > d.removed_at)
                + (SELECT count(*) FROM fleetarc.coverage_intervals c JOIN fleetarc.devices d USING (imei)
                   WHERE d.removed_at IS NOT NULL AND c.updated_at > d.removed_at)")
[ "$moved" = 0 ] || fail "$moved cursors or coverage of removed devices moved after their removal"
removed_at1=$(q "SELECT max(removed_at) FROM fleetarc.devices")

# 2b: again without sub-accounts: nothing new to say, removed_at keeps its first time
run_until false "SELECT count(*) > 0 FROM fleetarc.device_state WHERE updated_at > '$removed_at1'"
[ "$(q "SELECT max(removed_at) FROM fleetarc.devices")" = "$removed_at1" ] ||
  fail "a second run moved removed_at"

# 3: the whole tree again: listed devices come back
run_until true "SELECT count(*) = 0 FROM fleetarc.devices WHERE removed_at IS NOT NULL"
finish
