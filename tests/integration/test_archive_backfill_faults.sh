#!/usr/bin/env bash
# `fleetarc backfill` against a faulty simulator (every fault kind), killed with SIGKILL
# twice at random moments and run again until it exits 0: then positions and alarms
# equal the simulator's truth row for row (exactly once, nothing lost).
. "$(dirname "$0")/archive_lib.sh"

NOW=1772798400 # 2026-03-06T12:00:00Z
fresh_db fa_bf_faults
sim_start --devices 200 --seed 7 --history 3 --now $NOW --truth "$T/truth" \
  --faults http500=0.02,http502=0.02,slow=0.01,timeout=0.01,reset=0.02,truncate=0.02,syserr=0.02,ratelimit=0.02,revoke=0.01
write_config
# [from, to): from an hour after the platform's window starts (it slides with the sim's
# clock), to 6 h before its present (alarms may be uploaded up to 6 h late)
FROM=$((NOW - 3 * 86400 + 3600)) TO=$((NOW - 6 * 3600))
bf() { "$FLEETARC_BIN" -c "$T/cfg.yaml" backfill --from $FROM --to $TO "$@"; }

kills=0 status=1 runs=0
start=$SECONDS
while [ $runs -lt 12 ]; do
  runs=$((runs + 1))
  # the binary itself in the background (not a subshell), so that SIGKILL hits it
  "$FLEETARC_BIN" -c "$T/cfg.yaml" backfill --from $FROM --to $TO >>"$T/fleetarc.out" 2>>"$T/fleetarc.err" &
  pid=$!
  if [ $kills -lt 2 ]; then
    sleep "$(awk -v r=$RANDOM 'BEGIN{printf "%.1f", 0.5 + (r % 25) / 10}')"
    if kill -KILL $pid 2>/dev/null; then kills=$((kills + 1)); fi
    wait $pid || true
    pgrep -f "$T/cfg.yaml" >/dev/null && fail "a killed backfill is still running"
    continue
  fi
  status=0
  wait $pid || status=$?
  [ $status -eq 0 ] && break
done
echo "backfill: $runs runs, $kills killed, last exit $status, $((SECONDS - start)) s"
[ $kills -eq 2 ] || fail "expected 2 SIGKILLs, did $kills (the backfill ended too fast?)"
[ $status -eq 0 ] || fail "backfill never exited 0"
grep -q 'summary: devices' "$T/fleetarc.err" || fail "no summary line"
echo "sim: $(curl -s "$SIM_URL/sim/stats" | head -c 400)"
compare $FROM $TO

# resumable and complete: a run of the same range after success asks no playback/alarms
before=$(sim_stat requests.playback)
bf >>"$T/fleetarc.out" 2>>"$T/fleetarc.err" || fail "a second complete run did not exit 0"
after=$(sim_stat requests.playback)
[ "$before" = "$after" ] || fail "a complete range asked playback again ($before -> $after)"

# bad usage: --from >= --to
st=0
"$FLEETARC_BIN" -c "$T/cfg.yaml" backfill --from $TO --to $FROM 2>/dev/null || st=$?
[ $st -eq 2 ] || fail "--from >= --to exited $st, expected 2"
finish
