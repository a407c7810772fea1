#!/usr/bin/env bash
# Backfill progress: with stderr not a terminal, a line every 10 s says how much of
# the range is covered (by time, over every device stream) and an ETA, next to the
# streams complete; the summary ends at 100% and ETA 0s. The simulator spaces playback
# calls (--limits) so that the backfill lasts long enough for progress lines: 600 ms (with
# 250 ms it once took 8.8 s, under the 10 s of the first line, after the pacer stopped
# doubling a lane for a refusal at its floor).
. "$(dirname "$0")/archive_lib.sh"
fresh_db fa_progress
sim_start --devices 20 --history 3 --now 2026-11-08 --limits playback=600ms
write_config
sed -i 's/playback: 0s/playback: 600ms/' "$T/cfg.yaml"
"$FLEETARC_BIN" -c "$T/cfg.yaml" backfill --from 2026-11-05 --to 2026-11-08 >"$T/out" 2>"$T/err" ||
  { cat "$T/err" >&2; fail "backfill"; }
grep -E ' (progress|summary): ' "$T/err"
line=$(grep ' progress: ' "$T/err" | head -n 1)
[ -n "$line" ] || fail "no progress line"
pct=$(sed -n 's/.*, \([0-9.]*\)% of the range covered, ETA \([0-9]*\)s$/\1/p' <<<"$line")
eta=$(sed -n 's/.*, \([0-9.]*\)% of the range covered, ETA \([0-9]*\)s$/\2/p' <<<"$line")
[ -n "$pct" ] && [ -n "$eta" ] || fail "the progress line lacks the percentage or the ETA: $line"
awk -v p="$pct" 'BEGIN{exit !(p > 0 && p < 100)}' || fail "progress $pct% is not between 0 and 100"
grep ' summary: ' "$T/err" | grep -q ', 100.0% of the range covered, ETA 0s$' || fail "the summary is not at 100%, ETA 0s"
finish
