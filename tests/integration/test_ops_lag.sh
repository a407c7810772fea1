#!/usr/bin/env bash
# fleetarc_stream_lag_seconds over the devices that have data: `fleetarc run` against a
# frozen fleetarc-sim (--speed 0) whose fleet has devices that never reported. Once
# caught up, the playback lag is small (not pinned at the lookback by a device without
# a position), those devices are counted apart (fleetarc_devices_without_position), the
# device families do not mix a total with its parts, and the summary line that SIGTERM
# logs agrees with the last scrape (lag, devices, points).
. "$(dirname "$0")/archive_lib.sh"
PARSE="/usr/bin/python3 $(dirname "$0")/ops_promparse.py"
NOW=1772798400 # 2026-03-06T12:00:00Z
fresh_db fa_ops_lag
sim_start --devices 50 --seed 5 --history 2 --now $NOW --speed 0
write_config "archive: {lookback: 2d, track_interval: 2s, discovery_interval: 1h}
metrics: {listen: 127.0.0.1:0}"
"$FLEETARC_BIN" -c "$T/cfg.yaml" run >"$T/run.out" 2>"$T/run.err" &
pid=$!
port=$(ops_port "$T/run.err")
[ -n "$port" ] || { cat "$T/run.err" >&2; echo "FAIL: no 'ops: listening' line" >&2; exit 1; }
value() { awk -v k="$1" '$1 == k {print $2; f=1} END {if (!f) print 0}' "$2"; }
scrape() { curl -s "http://127.0.0.1:$port/metrics" >"$T/m" && $PARSE "$T/m" >"$T/p" || fail "scrape"; }

# caught up: nothing due and the points counter still for two scrapes in a row
last=-1
for i in $(seq 120); do
  sleep 1
  scrape
  due=$(value 'fleetarc_streams{state=due}' "$T/p")
  pts=$(value 'fleetarc_points_written_total{}' "$T/p")
  [ "$due" = 0 ] && [ "$pts" != 0 ] && [ "$pts" = "$last" ] && break
  last=$pts
done
echo "caught up after ${i}s: $pts points"
sleep 1
scrape
lag=$(value 'fleetarc_stream_lag_seconds{stream=playback}' "$T/p")
without=$(value 'fleetarc_devices_without_position{}' "$T/p")
active=$(value 'fleetarc_devices{state=active}' "$T/p")
points=$(value 'fleetarc_points_written_total{}' "$T/p")
echo "metrics: lag playback ${lag}s alarms $(value 'fleetarc_stream_lag_seconds{stream=alarms}' "$T/p")s mileage $(value 'fleetarc_stream_lag_seconds{stream=mileage}' "$T/p")s, active $active, without a position $without, points $points"
silent=$(psql -d "$DB" -qAtc "SELECT count(*) FROM fleetarc.devices d WHERE NOT EXISTS
                              (SELECT 1 FROM fleetarc.device_state s WHERE s.imei = d.imei AND s.gpstime IS NOT NULL
                               AND s.gpstime > 'epoch')" 2>/dev/null || echo "?")
echo "devices without a position in device_state: $silent"
[ "$without" -ge 1 ] || fail "no device counted without a position (the sim has never-online ones)"
awk -v l="$lag" 'BEGIN{exit !(l < 3600)}' || fail "the playback lag is ${lag}s: pinned by a device without data"
grep -q '^fleetarc_devices{state="failing"}' "$T/m" && fail "failing mixed with active/removed"
sigterm_run $pid
summary=$(grep ' summary: ' "$T/run.err" | tail -n 1)
echo "$summary"
s_lag=$(sed -n 's/.* lag \([0-9-]*\)s,.*/\1/p' <<<"$summary")
s_dev=$(sed -n 's/.*summary: devices \([0-9]*\),.*/\1/p' <<<"$summary")
s_pts=$(sed -n 's/.* points \([0-9]*\),.*/\1/p' <<<"$summary")
[ "$s_lag" = "${lag%.*}" ] || fail "summary lag ${s_lag}s != metric ${lag}s"
[ "$s_dev" = "${active%.*}" ] || fail "summary devices $s_dev != metric $active"
[ "$s_pts" = "${points%.*}" ] || fail "summary points $s_pts != metric $points"
finish
