#!/usr/bin/env bash
# Issues 23 and 13, gap healing across a restart (fleetarc-sim --late-uploads, clock 60x):
#  A. a silence that spans a restart of fleetarc (the device went quiet before the stop
#     and resumed after the start) is a gap too: its late fixes are asked and stored,
#     the database equals the truth. `run` is stopped while devices are inside their
#     late windows and started again after they resumed.
#  B. a record the lenient parser refuses in a gap's answer is logged and counted like
#     in any other answer: fleetarc_records_rejected_total{endpoint="playback",
#     field="course"} counts every bad group the simulator wrote (--inject group=K on a
#     device whose gap is asked after the restart).
. "$(dirname "$0")/archive_lib.sh"

NOW=1772798400 # 2026-03-06T12:00:00Z: trips happen from 05:00 to 23:00 UTC
LATE="share=1,window=20m,delay=10m"
SIM=(--devices 60 --seed 8 --history 3 --no-traps --late-uploads "$LATE")
P1=$((NOW + 1500)) P2=$((NOW + 2000)) # stop run 1 at, start run 2 at (platform time)

# the late windows, known ahead from a simulator at a later present
fresh_db fa_late_restart
sim_start "${SIM[@]}" --now $((NOW + 5400)) --speed 0 --truth "$T/pre"
sim_stop
# K: a device whose window ends before the stop (its gap found by run 1) and is asked
# only after it (gap_settle 12m): its gap's answer reaches run 2
K=$(awk -F, -v now=$NOW -v p1=$P1 'NR > 1 && $2 > now + 60 && $3 < p1 - 60 && $3 + 720 > p1 + 60 {print $2, $1}' \
  "$T/pre/late.csv" | sort -n | awk 'NR == 1 {print $2}')
[ -n "$K" ] || { echo "FAIL: no device fits part B" >&2; exit 1; }

sim_start "${SIM[@]}" --now $NOW --speed 60 --inject "group=$K"
write_config "archive: {lookback: 1d, track_interval: 2s, discovery_interval: 1m, gap_settle: 12m, gap_min: 1m}
metrics: {listen: 127.0.0.1:0}"
wait_present() { while [ "$(sim_stat present)" -lt "$1" ]; do sleep 0.5; done; }

"$FLEETARC_BIN" -c "$T/cfg.yaml" run >/dev/null 2>"$T/run1.err" &
pid=$!
wait_present $P1
stop1=$(sim_stat present)
kill -TERM $pid
wait $pid || fail "run 1 exited $?"
wait_present $P2
inj0=$(sim_stat injected)
start2=$(sim_stat present)
"$FLEETARC_BIN" -c "$T/cfg.yaml" run >/dev/null 2>"$T/fleetarc.err" &
pid=$!
for _ in $(seq 100); do grep -q "ops: listening" "$T/fleetarc.err" && break; sleep 0.1; done
URL=http://127.0.0.1:$(sed -n 's/.*ops: listening on .* port \([0-9]*\):.*/\1/p' "$T/fleetarc.err" | head -n 1)

# ---- B: once K's gap has been asked (at the restart: it was due during the stop)
for _ in $(seq 120); do grep -q "device $K: gap .* asked again" "$T/fleetarc.err" && break; sleep 0.5; done
grep "device $K: gap .* asked again" "$T/fleetarc.err" | sed 's/^/  B: /'
grep -q "device $K: gap .* asked again: [1-9]" "$T/fleetarc.err" || fail "B: K's gap brought nothing: proves nothing"
# the bad groups the simulator wrote against those fleetarc counted: fleetarc paused (its
# answers so far are in its sockets), then read at once after it goes on
kill -STOP $pid
sleep 1.5
inj=$(( $(sim_stat injected) - inj0 ))
kill -CONT $pid
curl -s "$URL/metrics" >"$T/metrics"
counted=$(sed -n 's/^fleetarc_records_rejected_total{endpoint="playback",field="course"} \([0-9]*\)$/\1/p' "$T/metrics")
echo "B: bad groups written since the restart: $inj, counted: ${counted:-0}"
[ "$inj" -ge 1 ] || fail "B: the simulator wrote no bad group"
[ "${counted:-0}" -ge "$inj" ] || fail "B: $inj bad groups written, ${counted:-0} counted"

# ---- A: run on until the windows of the compared range are uploaded and settled
wait_present $((NOW + 4800))
present=$(sim_stat present)
kill -TERM $pid
wait $pid || fail "run 2 exited $?"
sim_stop
sim_start "${SIM[@]}" --now "$present" --speed 0 --truth "$T/truth"
sim_stop
# K lost the first group of every page to injection: compared without it
for f in positions alarms; do
  awk -F, -v k="$K" '$1 != k' "$T/truth/$f.csv" >"$T/truth/$f.tmp" && mv "$T/truth/$f.tmp" "$T/truth/$f.csv"
done
psql -d "$DB" -qAtc "DELETE FROM fleetarc.positions WHERE imei = '$K'; DELETE FROM fleetarc.alarms WHERE imei = '$K'"
FROM=$((NOW - 86400 + 600)) TO=$((present - 2400))
# the windows silent at the stop whose device resumed before it was settled at the
# restart: only the stored track across the restart shows them
span=$(awk -F, -v a=$stop1 -v b=$start2 -v to=$TO -v k="$K" \
  'NR > 1 && $1 != k && $2 < a && $3 > a && $3 + 720 > b && $2 < to {n++} END {print n + 0}' "$T/truth/late.csv")
echo "A: run 1 stopped at $stop1, run 2 started at $start2; late windows silent across the restart: $span"
[ "$span" -ge 1 ] || fail "A: no late window spans the restart: the test proves nothing"
compare $FROM $TO $TO
grep -h "no position from" "$T/run1.err" "$T/fleetarc.err" | wc -l | sed 's/^/  gaps found: /'
finish
