#!/usr/bin/env bash
# device_state under `fleetarc run` (issue 20): a parked device's record differs poll
# after poll only in the platform's clock (servertime, and acctime growing with it), and
# its row is not written again (updated_at stays; src/archive/poller.c,
# state_unchanged); a record that changed in any other field is written: every device's
# row holds the gpstime of its latest stored poll point.
. "$(dirname "$0")/archive_lib.sh"

NOW=1772798400 # 2026-03-06T12:00:00Z
fresh_db fa_state
sim_start --devices 30 --seed 7 --history 1 --now $NOW --speed 60
write_config "archive: {lookback: 0s, streams: [mileage], track_interval: 1s, discovery_interval: 1h}"
"$FLEETARC_BIN" -c "$T/cfg.yaml" run >"$T/fleetarc.out" 2>"$T/fleetarc.err" &
FA_PID=$!
q() { psql -d "$DB" -qAtc "$1"; }
rows="SELECT (SELECT count(*) FROM fleetarc.device_state) = (SELECT count(*) FROM fleetarc.devices)
        AND (SELECT count(*) FROM fleetarc.devices) > 0"
for _ in $(seq 150); do
  [ "$(q "$rows")" = t ] && break
  sleep 0.2
done
[ "$(q "$rows")" = t ] || fail "not every device got its row"
sleep 3 # a few polls: every row written by now
q "CREATE TABLE snap AS SELECT * FROM fleetarc.device_state" >/dev/null
sleep 5 # five more polls of every device (4 sim-minutes at 60x)
kill -0 $FA_PID || fail "fleetarc run ended by itself"
# rows whose record is the same but for the clock fields: parked devices
same="FROM fleetarc.device_state s JOIN snap p USING (imei)
      WHERE (s.gpstime, s.hearttime, s.systemtime, s.longitude, s.latitude, s.course,
             s.speed, s.datastatus, s.accstatus, s.battery, s.mileage, s.todaymileage,
             s.servertime - make_interval(secs => s.acctime))
        IS NOT DISTINCT FROM
            (p.gpstime, p.hearttime, p.systemtime, p.longitude, p.latitude, p.course,
             p.speed, p.datastatus, p.accstatus, p.battery, p.mileage, p.todaymileage,
             p.servertime - make_interval(secs => p.acctime))"
parked=$(q "SELECT count(*) $same")
rewritten=$(q "SELECT count(*) $same AND s.updated_at <> p.updated_at")
echo "parked devices: $parked, their rows written again: $rewritten"
[ "$parked" -ge 3 ] || q "SELECT * FROM snap ORDER BY imei LIMIT 4; SELECT * FROM fleetarc.device_state ORDER BY imei LIMIT 4" >&2
[ "$parked" -ge 3 ] || fail "only $parked parked devices: the test shows nothing"
[ "$rewritten" = 0 ] || fail "$rewritten unchanged records of parked devices written again"
sigterm_run $FA_PID
FA_PID=""
# changed records are written: each row has its device's latest stored poll point
moved=$(q "SELECT count(DISTINCT imei) FROM fleetarc.positions")
stale=$(q "SELECT count(*) FROM fleetarc.device_state s
           JOIN (SELECT imei, max(gpstime) AS g FROM fleetarc.positions GROUP BY imei) p
           USING (imei) WHERE s.gpstime IS DISTINCT FROM p.g")
echo "devices with new points: $moved, rows behind their latest point: $stale"
[ "$moved" -ge 1 ] || fail "no device moved: the test shows nothing"
[ "$stale" = 0 ] || fail "$stale rows do not hold their device's latest point"
sim_stop
finish
