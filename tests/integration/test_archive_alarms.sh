#!/usr/bin/env bash
# Alarms the platform makes by itself, and the paging rules without exception (issue 12):
#  1. a backfill whose device's /api/track systemtime stays behind its alarms
#     (--track-behind) still archives all of them: a full page of 100 is followed
#     whatever /api/track says;
#  2. `run` archives the offline alarm (type 28) of a device gone silent (--silence,
#     --offline-after) before its lookback started, soon after the platform flips its
#     datastatus: within a few track intervals (measured: the sim present when the row
#     is committed);
#  3. with rate limits 0, alarm requests per device over 10+ sim-minutes of `run` stay
#     at the cadence (archive.alarm_interval 10m, alarm_idle_interval 6h), not one per
#     poll.
. "$(dirname "$0")/archive_lib.sh"

# 1. --track-behind: the LATE_ALARMS trap's 360 alarms of its first day, 4+ full pages,
#    all after the systemtime /api/track reports
NOW=1772755200 # 2026-03-06T00:00:00Z
L=$((NOW - 3 * 86400))
fresh_db fa_alarms
sim_start --devices 10 --seed 3 --history 3 --now $NOW --speed 0 --truth "$T/truth" \
  --track-behind 999000000000003@$((L + 600))
write_config
"$FLEETARC_BIN" -c "$T/cfg.yaml" backfill --from $L --to $((L + 86400)) --imei 999000000000003 \
  --streams alarms >>"$T/fleetarc.out" 2>>"$T/fleetarc.err" || fail "backfill failed"
n=$(psql -d "$DB" -qAtc "SELECT count(*) FROM fleetarc.alarms WHERE imei = '999000000000003'
  AND gpstime >= to_timestamp($L) AND gpstime < to_timestamp($((L + 86400)))")
w=$(awk -F, -v lo=$L -v hi=$((L + 86400)) '$1 == "999000000000003" && $3 >= lo && $3 < hi' "$T/truth/alarms.csv" | wc -l)
echo "track behind its alarms: $n alarms stored, truth $w, $(sim_stat requests.alarm/list) alarm requests"
[ "$w" -ge 300 ] || fail "the truth holds $w alarms (expected the trap's 360)"
[ "$n" = "$w" ] || fail "backfill with /api/track behind: $n alarms stored, truth $w"
sim_stop

# 2 and 3: one `run`, the sim's clock 60x (1 real second = 1 sim minute)
NOW=1772798400 # 2026-03-06T12:00:00Z
SILENT=999000000000002
# Silent since 150 sim-minutes before the start (its last heartbeat up to 30 min earlier),
# so /api/track's times stay before the lookback hour; the platform flips it offline 3 h
# after its last report, in the first 30 sim-minutes of the run.
SIMFLAGS="--devices 20 --seed 5 --history 2 --offline-after 3h --silence $SILENT@$((NOW - 9000))"
fresh_db fa_alarms
sim_start $SIMFLAGS --now $NOW --speed 60
write_config "archive: {lookback: 1h, track_interval: 2s, discovery_interval: 1h}"
"$FLEETARC_BIN" -c "$T/cfg.yaml" run >"$T/fleetarc.out" 2>"$T/fleetarc.err" &
pid=$!
# the sim's present, fast (no python per sample: the loop's resolution is the measure)
present_now() { curl -s "$SIM_URL/sim/stats" | grep -o '"present":[0-9]*' | cut -d: -f2; }
stored_at=""
a0="" p0=""
for _ in $(seq 480); do
  sleep 0.25
  present=$(present_now)
  if [ -z "$a0" ] && [ "$present" -ge $((NOW + 900)) ]; then # the lookback hour caught up
    a0=$(sim_stat requests.alarm/list) p0=$present
  fi
  if [ -z "$stored_at" ]; then
    k=$(psql -d "$DB" -qAtc "SELECT count(*) FROM fleetarc.alarms WHERE imei = '$SILENT' AND alarm_type = 28")
    [ "$k" -gt 0 ] && stored_at=$(present_now) # read after the row: an upper bound
  fi
  [ -n "$stored_at" ] && [ -n "$p0" ] && [ "$present" -ge $((p0 + 1200)) ] && break
  [ "$present" -ge $((NOW + 3600)) ] && break # an hour of sim time: the flip is long past
done
a1=$(sim_stat requests.alarm/list) p1=$(sim_stat present)
sigterm_run $pid
sim_stop
sim_start $SIMFLAGS --now "$p1" --speed 0 --truth "$T/truth2"
sim_stop
flip=$(awk -F, -v i=$SILENT '$1 == i && $2 == 28 {print $4}' "$T/truth2/alarms.csv" | head -n 1)
[ -n "$flip" ] || fail "the truth holds no offline alarm of $SILENT"
if [ -z "$stored_at" ]; then
  fail "the offline alarm of $SILENT (system time $flip) was not archived by sim time $p1"
else
  echo "offline alarm: datastatus flipped at sim $flip, row committed by sim $stored_at ($((stored_at - flip)) sim-s; track interval 120 sim-s)"
  # one poll sees the flip within a track interval; the rest is the request, the batch's
  # commit and this loop's sampling, slow on a loaded machine: 4 intervals at most
  [ $((stored_at - flip)) -le 480 ] || fail "offline alarm archived $((stored_at - flip)) sim-s after the flip (> 4 track intervals)"
fi
k=$(psql -d "$DB" -qAtc "SELECT count(*) FROM fleetarc.alarms WHERE imei = '$SILENT' AND alarm_type = 28
  AND systemtime = to_timestamp($flip) AND gpstime = to_timestamp($flip)")
[ "$k" = 1 ] || fail "the offline alarm stored differs from the truth"

if [ -z "$p0" ]; then
  fail "the run never caught up"
else
  mins=$(( (p1 - p0) / 60 ))
  devs=$(psql -d "$DB" -qAtc "SELECT count(*) FROM fleetarc.devices WHERE removed_at IS NULL")
  bound=$(( devs * (mins / 10 + 2) ))
  echo "alarm requests over $mins sim-minutes after the catch-up: $((a1 - a0)) for $devs devices (cadence bound $bound)"
  [ "$mins" -ge 10 ] || fail "only $mins sim-minutes measured"
  [ $((a1 - a0)) -le "$bound" ] || fail "$((a1 - a0)) alarm requests in $mins sim-minutes for $devs devices: not at the cadence (bound $bound)"
fi
finish
