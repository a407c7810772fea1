#!/usr/bin/env bash
# A backfill against an API that is gone gives up soon with exit 1, the last error and
# what is missing: archive.give_up_after (5 s here) after the last success, not after
# every stream's dozen backoffs. Two cases: nothing listens from the start (the device
# list fails: exit 1 at once), and the simulator killed mid-run.
. "$(dirname "$0")/archive_lib.sh"

NOW=1772798400 # 2026-03-06T12:00:00Z
fresh_db fa_giveup
sim_start --devices 200 --seed 7 --history 3 --now $NOW
# playback paced at 100 ms per call: the range takes far longer than the 3 s before the kill
write_config "archive: {give_up_after: 5s}"
sed -i 's/playback: 0s/playback: 100ms/' "$T/cfg.yaml"
sed -i 's/retry: {max_attempts: 6, base_delay: 50ms, max_delay: 1s}/retry: {max_attempts: 2, base_delay: 50ms, max_delay: 200ms}/' "$T/cfg.yaml"
grep -q 'playback: 100ms' "$T/cfg.yaml" && grep -q 'max_attempts: 2' "$T/cfg.yaml" || fail "config edit"
FROM=$((NOW - 3 * 86400 + 3600)) TO=$((NOW - 6 * 3600))

# 1: the simulator dies 3 s into the backfill
start=$SECONDS
"$FLEETARC_BIN" -c "$T/cfg.yaml" backfill --from $FROM --to $TO >"$T/fleetarc.out" 2>"$T/fleetarc.err" &
pid=$!
sleep 3
points=$(psql -d "$DB" -qAtc "SELECT count(*) FROM fleetarc.positions")
sim_stop
st=0
wait $pid || st=$?
took=$((SECONDS - start))
echo "killed sim: exit $st after ${took}s ($points positions before the kill)"
[ $st -eq 1 ] || fail "backfill exited $st, expected 1"
# 3 s + 5 s without success + the shutdown's wait for in-flight calls (5 s at most)
[ $took -le 20 ] || fail "took ${took}s to give up (bound: give_up_after 5s)"
grep -q "giving up: no API call has succeeded for [5-9]s (archive.give_up_after); last error: /api/.*: .*[Cc]onnect" "$T/fleetarc.err" ||
  fail "no give-up line naming the connection error"
grep -q "missing: device " "$T/fleetarc.err" || fail "no summary of what is missing"
grep -q "backfill incomplete: [0-9]* device streams; run it again to resume" "$T/fleetarc.err" ||
  fail "no 'backfill incomplete' line"
[ "$points" -gt 0 ] || fail "nothing was archived before the kill (the kill came too early?)"

# 2: nothing listens from the start: exit 1 soon, the failed device list named
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -i "s#base_url: .*#base_url: http://127.0.0.1:$port#" "$T/cfg.yaml"
start=$SECONDS st=0
"$FLEETARC_BIN" -c "$T/cfg.yaml" backfill --from $FROM --to $TO >"$T/fleetarc.out" 2>"$T/fleetarc.err" || st=$?
took=$((SECONDS - start))
echo "nothing listening: exit $st after ${took}s"
[ $st -eq 1 ] || fail "backfill against a closed port exited $st, expected 1"
[ $took -le 20 ] || fail "took ${took}s against a closed port"
grep -q "device/list of demo: .*[Cc]onnect" "$T/fleetarc.err" || fail "the failed device list is not named"
grep -q "account demo: a device list failed" "$T/fleetarc.err" || fail "no line saying the backfill cannot be whole"
finish
