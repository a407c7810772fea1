#!/usr/bin/env bash
# Back-pressure on every batch: a tiny writer queue (queue_rows = batch_rows = 20) so
# that nearly every submit is refused or reports "no longer full" from inside; the
# run of `fleetarc run` and a backfill must neither crash (a batch once was queued twice
# and freed once under this) nor lose or double a row: the backfill equals the truth.
. "$(dirname "$0")/archive_lib.sh"

NOW=1772798400 # 2026-03-06T12:00:00Z
fresh_db fa_pressure
sim_start --devices 300 --seed 11 --history 2 --now $NOW --speed 0 --truth "$T/truth"
write_config "archive: {lookback: 6h, track_interval: 1s}"
sed -i 's/^  batch_rows: 5000$/  batch_rows: 20\n  queue_rows: 20/; s/^  flush_interval: 200ms$/  flush_interval: 5ms/' "$T/cfg.yaml"
grep -q 'queue_rows: 20' "$T/cfg.yaml" || fail "the config was not narrowed"

# run: discovery, polls and playback under constant pressure, then SIGTERM
"$FLEETARC_BIN" -c "$T/cfg.yaml" run >"$T/fleetarc.out" 2>"$T/fleetarc.err" &
pid=$!
sleep 12
kill -TERM $pid 2>/dev/null || fail "run died under back-pressure"
st=0
wait $pid || st=$?
[ $st -eq 0 ] || fail "run exited $st"
grep -q "AddressSanitizer\|runtime error" "$T/fleetarc.err" && fail "sanitizer report from run"
dups=$(psql -d "$DB" -qAtc "SELECT count(*) - count(DISTINCT (imei, gpstime)) FROM fleetarc.positions")
[ "$dups" = 0 ] || fail "$dups duplicate positions"
[ "$(psql -d "$DB" -qAtc "SELECT count(*) FROM fleetarc.positions")" -gt 0 ] || fail "run wrote nothing"

# backfill of 12 hours under the same pressure: exactly the truth
FROM=$((NOW - 30 * 3600)) TO=$((NOW - 18 * 3600))
st=0
"$FLEETARC_BIN" -c "$T/cfg.yaml" backfill --from $FROM --to $TO >>"$T/fleetarc.out" 2>>"$T/fleetarc.err" || st=$?
[ $st -eq 0 ] || fail "backfill exited $st"
grep -q "AddressSanitizer\|runtime error" "$T/fleetarc.err" && fail "sanitizer report from backfill"
compare $FROM $TO
finish
