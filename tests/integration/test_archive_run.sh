#!/usr/bin/env bash
# `fleetarc run` with the simulator's clock moving 60x: after it has caught up, the
# database equals the truth from the lookback start to the present (minus a margin),
# computed by a second simulator with the same seed at the stop's present; SIGTERM
# ends it with exit 0 in under 10 s.
. "$(dirname "$0")/archive_lib.sh"

NOW=1772798400 # 2026-03-06T12:00:00Z
fresh_db fa_run
sim_start --devices 30 --seed 5 --history 3 --now $NOW --speed 60
write_config "archive: {lookback: 1d, track_interval: 2s, discovery_interval: 1m}"
"$FLEETARC_BIN" -c "$T/cfg.yaml" run >"$T/fleetarc.out" 2>"$T/fleetarc.err" &
pid=$!
sleep 25
kill -0 $pid || fail "fleetarc run ended by itself"
present=$(sim_stat present)
sigterm_timed $pid "sim present $present"
grep -q "device .* added" "$T/fleetarc.err" || fail "no 'device added' line"
sim_stop

# the truth at the stop's present, from a second sim (same seed: same fleet)
sim_start --devices 30 --seed 5 --history 3 --now "$present" --speed 0 --truth "$T/truth"
sim_stop
# from well after the lookback start (cursors start at the first poll's present - 1d)
# to the present minus 15 sim-minutes (what the last polls may not have made due yet)
FROM=$((NOW - 86400 + 600)) TO=$((present - 900))
compare $FROM $TO $TO
finish
