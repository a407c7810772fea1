#!/usr/bin/env bash
# Issue 23: `fleetarc run` against a platform whose trackers upload windows of their
# fixes late (fleetarc-sim --late-uploads): after the windows have been uploaded and
# settled, the database equals the truth, points of late windows included. The clock
# moves 60x; the truth comes from a second simulator at the stop's present.
# Without gap healing it fails (the playback cursor passes a window before its points
# are uploaded: 109 of 13069 positions missing on the code before it).
. "$(dirname "$0")/archive_lib.sh"

NOW=1772798400 # 2026-03-06T12:00:00Z: trips happen from 05:00 to 23:00 UTC
LATE="share=1,window=5m,delay=10m"
fresh_db fa_late
sim_start --devices 60 --seed 8 --history 3 --no-traps --now $NOW --speed 60 --late-uploads "$LATE"
# settle 12 sim-minutes: after the simulator's 10-minute upload delay; gap_min 1m: the
# simulator's windows (up to 5 min) are shorter than the default 5m
write_config "archive: {lookback: 1d, track_interval: 2s, discovery_interval: 1m, gap_settle: 12m, gap_min: 1m}"
"$FLEETARC_BIN" -c "$T/cfg.yaml" run >"$T/fleetarc.out" 2>"$T/fleetarc.err" &
pid=$!
sleep "${LATE_RUN_SECONDS:-60}"
kill -0 $pid || fail "fleetarc run ended by itself"
present=$(sim_stat present)
sigterm_run $pid
sim_stop

sim_start --devices 60 --seed 8 --history 3 --no-traps --now "$present" --speed 0 --late-uploads "$LATE" \
  --truth "$T/truth"
sim_stop
# every window starting before TO was uploaded (visible_at <= TO + 15 min) at least
# 15 sim-minutes before the stop: TO = present - 15 min (window) - 10 min (delay) - 15 min
FROM=$((NOW - 86400 + 600)) TO=$((present - 2400))
# the windows uploaded while run was running, inside the compared range: the case at stake
late_live=$(awk -F, -v now=$NOW -v from=$FROM -v to=$TO \
  'NR > 1 && $4 > now && $2 >= from && $2 < to {n++} END {print n + 0}' "$T/truth/late.csv")
late_pts=$(awk -F, -v now=$NOW -v from=$FROM -v to=$TO '
  FNR == NR { if (FNR > 1 && $4 > now && $2 >= from && $2 < to) { k[++w] = $1; s[w] = $2; e[w] = $3 } next }
  FNR > 1 { for (i = 1; i <= w; i++) if ($1 == k[i] && $2 >= s[i] && $2 < e[i]) n++ }
  END { print n + 0 }' "$T/truth/late.csv" "$T/truth/positions.csv")
echo "late windows uploaded during the run, in range: $late_live ($late_pts positions); present $present"
[ "$late_live" -ge 2 ] || fail "too few late windows in range ($late_live): the test proves nothing"
compare $FROM $TO $TO
asked=$(grep -c "asked again: " "$T/fleetarc.err" || true)
healed=$(grep -c "asked again: .*, healed" "$T/fleetarc.err" || true)
echo "gap asks: $asked, healed: $healed"
[ "$healed" -ge "$late_live" ] || fail "fewer gaps healed ($healed) than late windows in range"
# the gaps are recorded, healed ones with what they recovered
psql -d "$DB" -qAtc "SELECT count(*) FILTER (WHERE healed_at IS NOT NULL), sum(recovered) FROM fleetarc.gaps" \
  | sed 's/^/  gaps healed, positions recovered: /'
finish
