#!/usr/bin/env bash
# "No data" in each form a host says it (fleetarc-sim --nodata: 20023, or code 0 with the
# record "", missing or null; spec/NOTES.md), through `fleetarc backfill` and
# `fleetarc run`:
#  - backfill of a range before the platform's window (every window empty) and of one
#    with data: both exit 0 within 120 s, the archive equals the truth, and no window,
#    device list or user list is taken for an error;
#  - run with the simulator's clock moving 60x (short windows, most alarm windows empty):
#    after 20 s (or more, until 20 no-data answers came) the archive equals the truth,
#    nothing was an error, and /metrics counts the empty answers as outcome="empty", none
#    as "error".
. "$(dirname "$0")/archive_lib.sh"
PARSE="/usr/bin/python3 $(dirname "$0")/ops_promparse.py"

NOW=1772798400 # 2026-03-06T12:00:00Z
value() { awk -v k="$1" '$1 == k {print $2; f=1} END {if (!f) print 0}' "$2"; }

# no_errors TAG: the log of the last fleetarc run shows no failed answer
no_errors() {
  if grep -E "bad response|record: |/api/(device|user)/list of|/api/track of|API error" "$T/fleetarc.err" | head -3 | grep .; then
    fail "$1: an answer was taken for an error"
  fi
  grep -q "errors 0," "$T/fleetarc.err" || fail "$1: the summary counts errors: $(grep summary "$T/fleetarc.err" | tail -1)"
}

for form in ${NODATA_FORMS:-20023 empty missing null}; do
  echo "== --nodata $form"
  fresh_db fa_nodata
  sim_start --devices 20 --seed 13 --history 2 --now $NOW --speed 0 --truth "$T/truth" --nodata $form
  write_config
  # 1. before the window: nothing anywhere
  t0=$(date +%s.%N)
  st=0
  timeout 120 "$FLEETARC_BIN" -c "$T/cfg.yaml" backfill --from $((NOW - 5 * 86400)) --to $((NOW - 4 * 86400)) \
    >"$T/fleetarc.out" 2>"$T/fleetarc.err" || st=$?
  took=$(echo "$(date +%s.%N) - $t0" | bc)
  nd=$(sim_stat nodata)
  echo "  empty range: exit $st after ${took}s, $nd no-data answers"
  [ $st -eq 0 ] || fail "$form: backfill of an empty range exited $st (124: still running after 120 s)"
  [ "$nd" -ge 40 ] || fail "$form: only $nd no-data answers for 20 devices x 2 streams"
  no_errors "$form, empty range"
  n=$(psql -d "$DB" -qAtc "SELECT (SELECT count(*) FROM fleetarc.positions) + (SELECT count(*) FROM fleetarc.alarms)")
  [ "$n" = 0 ] || fail "$form: $n rows from an empty range"
  # 2. a range with data, over the viewer's empty lists and the empty windows of some
  FROM=$((NOW - 2 * 86400 + 600)) TO=$((NOW - 6 * 3600))
  t0=$(date +%s.%N)
  st=0
  timeout 120 "$FLEETARC_BIN" -c "$T/cfg.yaml" backfill --from $FROM --to $TO \
    >"$T/fleetarc.out" 2>"$T/fleetarc.err" || st=$?
  took=$(echo "$(date +%s.%N) - $t0" | bc)
  echo "  range with data: exit $st after ${took}s, $(sim_stat nodata) no-data answers in all"
  [ $st -eq 0 ] || fail "$form: backfill exited $st (124: still running after 120 s)"
  no_errors "$form, backfill"
  compare $FROM $TO
  sim_stop

  # 3. run, the clock moving
  fresh_db fa_nodata
  # (no traps: their times move with the present, so that the second simulator below
  # would not hold the same; the backfill above has them)
  sim_start --devices 20 --seed 13 --history 3 --now $NOW --speed 60 --nodata $form --no-traps
  write_config "archive: {lookback: 1d, track_interval: 2s, discovery_interval: 1m}
metrics: {listen: 127.0.0.1:0}"
  "$FLEETARC_BIN" -c "$T/cfg.yaml" run >"$T/fleetarc.out" 2>"$T/fleetarc.err" &
  pid=$!
  # 20 s, then until the alarm cadence's second round has brought 20 no-data answers
  # (the first round covers the lookback, where most devices have alarms): up to 60 s
  sleep 20
  for _ in $(seq 80); do [ "$(sim_stat nodata)" -ge 20 ] && break; sleep 0.5; done
  kill -0 $pid || fail "$form: run ended by itself"
  port=$(ops_port)
  curl -sS -o "$T/m" "http://127.0.0.1:$port/metrics" && $PARSE "$T/m" >"$T/p" || fail "$form: no metrics"
  present=$(sim_stat present)
  nd=$(sim_stat nodata)
  sigterm_run $pid "$form: run"
  empty=$(value 'fleetarc_api_requests_total{endpoint=alarm/list,outcome=empty}' "$T/p")
  errors=$(awk '$1 ~ /^fleetarc_api_requests_total\{.*outcome=error\}$/ {s += $2} END {print s + 0}' "$T/p")
  echo "  run: $nd no-data answers, alarm/list outcome=empty $empty, outcome=error $errors (all endpoints)"
  [ "$nd" -ge 20 ] || fail "$form: run saw only $nd no-data answers"
  [ "${empty%.*}" -ge 10 ] || fail "$form: alarm/list outcome=empty is $empty"
  [ "$errors" = 0 ] || fail "$form: $errors calls counted as errors"
  [ "$(value 'fleetarc_api_calls_total{result=api}' "$T/p")" = 0 ] || fail "$form: result=api counted"
  no_errors "$form, run"
  sim_stop
  # the truth at the stop's present (a second simulator, same seed: same fleet)
  sim_start --devices 20 --seed 13 --history 3 --now "$present" --speed 0 --truth "$T/truth" --no-traps
  sim_stop
  FROM=$((NOW - 86400 + 600)) TO=$((present - 900))
  compare $FROM $TO $TO
done
finish
