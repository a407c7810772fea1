#!/usr/bin/env bash
# One bad value from the platform stops nothing else (issue 13). fleetarc-sim --inject
# damages one device's answers at a time; every other device is archived completely and
# equal to the truth, the bad record is logged (once, with IMEI and field) and counted
# (fleetarc_records_rejected_total{endpoint,field}).
#  A. backfill: a bad course in one /api/track record, a bad group in one device's
#     playback pages, a bad field in one device of /api/device/list, a gpstime of
#     2^53 - 1 and an accstatus of 40000 (smallint) in track records.
#  B. run: the same track damages in the same poll as every other device: all the
#     others get their state, cursors and points; the metric counts them; the device
#     whose gpstime was refused still gets its playback.
#  C. run: servertime almost a day ahead (86000 s, within the bounds at ingest: only
#     the servertime check can catch it) for 20 s: ignored and logged; no mileage day,
#     cursor or device state past the real present.
#  D. run: a user/list that lists 20 new sub-accounts on every call, without end: the
#     discovery stops at archive.max_subaccounts (logged), every real device is found.
. "$(dirname "$0")/archive_lib.sh"

NOW=1772798400 # 2026-03-06T12:00:00Z
E=$((NOW - 2 * 86400))
FROM=$((E + 3600)) TO=$((NOW - 6 * 3600))
INJ='course=#1,group=#2,device=#4,hugetime=#5,status=#6'
inj() { awk -v k="$1" '$1 == "inject" && $2 == k {print $3}' "$T/sim.out"; }

# ---- A. backfill
fresh_db fa_badvalues
sim_start --devices 20 --seed 13 --history 2 --now $NOW --speed 0 --no-traps --truth "$T/truth" \
  --inject "$INJ"
write_config
I_COURSE=$(inj course) I_GROUP=$(inj group) I_DEVICE=$(inj device) I_HUGE=$(inj hugetime) I_STATUS=$(inj status)
echo "damaged: course $I_COURSE, group $I_GROUP, device $I_DEVICE, hugetime $I_HUGE, status $I_STATUS"
st=0
timeout 240 "$FLEETARC_BIN" -c "$T/cfg.yaml" backfill --from $FROM --to $TO \
  >"$T/fleetarc.out" 2>"$T/fleetarc.err" || st=$?
echo "backfill exit $st"
[ $st -eq 0 ] || fail "backfill exited $st"
# the truth as it can be archived: the unlisted device is not, the damaged group (the
# first point of the device's range: later pages repeat their boundary) is lost
python3 - "$T/truth" "$I_DEVICE" "$I_GROUP" $FROM $TO <<'PY'
import csv, sys
d, bad_dev, bad_group, lo, hi = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
for name in ('positions.csv', 'alarms.csv'):
    rows = list(csv.reader(open(f'{d}/{name}')))
    head, body = rows[0], [r for r in rows[1:] if r[0] != bad_dev]
    if name == 'positions.csv':
        first = min((int(r[1]) for r in body if r[0] == bad_group and lo <= int(r[1]) < hi), default=None)
        body = [r for r in body if not (r[0] == bad_group and int(r[1]) == first)]
    w = csv.writer(open(f'{d}/{name}', 'w', newline=''), lineterminator='\n')
    w.writerow(head)
    w.writerows(body)
PY
compare $FROM $TO
n=$(psql -d "$DB" -qAtc "SELECT count(*) FROM fleetarc.devices")
[ "$n" = 19 ] || fail "devices: $n rows, expected the 19 listed correctly"
n=$(psql -d "$DB" -qAtc "SELECT count(*) FROM fleetarc.positions WHERE imei = '$I_GROUP'")
[ "$n" -gt 0 ] || fail "the device with a bad playback group has no positions"
logged() { # ENDPOINT IMEI FIELD
  local c
  c=$(grep -c "rejected $1 record of device $2: $3: " "$T/fleetarc.err" || true)
  [ "$c" = 1 ] || fail "'rejected $1 record of device $2: $3' logged $c times, expected once"
}
logged track "$I_COURSE" course
logged playback "$I_GROUP" course
logged device/list "$I_DEVICE" onlinetime
logged track "$I_HUGE" gpstime
logged track "$I_STATUS" accstatus
grep -q "batch .*: " "$T/fleetarc.err" && fail "a batch failed: $(grep -m1 'batch .*: ' "$T/fleetarc.err")"
n=$(psql -d "$DB" -qAtc "SELECT count(*) FROM fleetarc.device_state WHERE imei = '$I_STATUS' AND accstatus IS NULL")
[ "$n" = 1 ] || fail "accstatus 40000 not stored as NULL"
n=$(psql -d "$DB" -qAtc "SELECT count(*) FROM fleetarc.device_state WHERE imei = '$I_HUGE' AND gpstime IS NULL")
[ "$n" = 1 ] || fail "gpstime 2^53-1 not stored as NULL"
sim_stop

# ---- B. run: the damaged records travel in the same /api/track answer as the others
fresh_db fa_badvalues
sim_start --devices 20 --seed 13 --history 1 --no-traps --inject "$INJ"
write_config "archive: {lookback: 2h, track_interval: 1s, discovery_interval: 1h}
metrics: {listen: 127.0.0.1:0}"
I_COURSE=$(inj course) I_DEVICE=$(inj device) I_HUGE=$(inj hugetime) I_STATUS=$(inj status)
"$FLEETARC_BIN" -c "$T/cfg.yaml" run >"$T/fleetarc.out" 2>"$T/fleetarc.err" &
pid=$!
URL=http://127.0.0.1:$(ops_port)
# every device listed but the one with the bad track record has its state
want=18
for _ in $(seq 150); do
  n=$(psql -d "$DB" -qAtc "SELECT count(*) FROM fleetarc.device_state")
  [ "$n" -ge $want ] && break
  sleep 0.2
done
sleep 4
curl -s "$URL/metrics" >"$T/metrics"
kill -TERM $pid
wait $pid || true
n=$(psql -d "$DB" -qAtc "SELECT count(*) FROM fleetarc.device_state WHERE imei NOT IN ('$I_COURSE', '$I_DEVICE')")
[ "$n" = $want ] || fail "run: device_state of $n devices, expected $want"
# every device that reported within the lookback has its playback cursor
w=$(psql -d "$DB" -qAtc "SELECT count(*) FROM fleetarc.device_state WHERE gpstime > now() - interval '2 hours'")
n=$(psql -d "$DB" -qAtc "SELECT count(DISTINCT imei) FROM fleetarc.coverage_intervals WHERE stream = 'playback'")
echo "run: playback coverage of $n devices, $w reported within the lookback"
[ "$w" -gt 10 ] && [ "$n" -ge "$w" ] || fail "run: playback coverage of $n devices, expected $w or more"
# the device whose gpstime was refused is still heard: its playback is archived from its
# coverage on (it had none on the code before: 0 positions)
n=$(psql -d "$DB" -qAtc "SELECT count(*) FROM fleetarc.positions WHERE imei = '$I_HUGE'")
c=$(psql -d "$DB" -qAtc "SELECT count(*) FROM fleetarc.coverage WHERE imei = '$I_HUGE' AND stream = 'playback'")
echo "run: the device with a refused gpstime: $n positions, $c covered intervals"
[ "$n" -gt 0 ] && [ "$c" -gt 0 ] || fail "run: the device with a refused gpstime got no playback ($n positions)"
moved=$(psql -d "$DB" -qAtc "SELECT count(DISTINCT imei) FROM fleetarc.positions")
echo "run: devices with positions: $moved"
[ "$moved" -gt 0 ] || fail "run: no positions at all"
grep -E '^fleetarc_records_rejected_total\{endpoint="track",field="course"\} [1-9]' "$T/metrics" ||
  fail "metric of the rejected course missing"
grep -E '^fleetarc_records_rejected_total\{endpoint="track",field="accstatus"\} [1-9]' "$T/metrics" ||
  fail "metric of the NULLed accstatus missing"
grep -E '^fleetarc_records_rejected_total\{endpoint="device/list",field="onlinetime"\} [1-9]' "$T/metrics" ||
  fail "metric of the rejected device missing"
# bounds at ingest stop every injected value: the database refuses no row
grep -E '^fleetarc_rows_rejected_total\{table="positions"\} 0$' "$T/metrics" ||
  fail "metric of the rows the database refused missing (or not 0)"
r=$(psql -d "$DB" -qAtc "SELECT count(*) FROM fleetarc.rejected")
[ "$r" = 0 ] || fail "run: $r rows in fleetarc.rejected, expected none"
c=$(grep -c "rejected track record of device $I_COURSE: course: " "$T/fleetarc.err" || true)
[ "$c" = 1 ] || fail "run: the bad course logged $c times over many polls, expected once"
grep -q "batch .*: " "$T/fleetarc.err" && fail "run: a batch failed: $(grep -m1 'batch .*: ' "$T/fleetarc.err")"
sim_stop

# ---- C. a servertime jump of 86000 s for the first 20 s
fresh_db fa_badvalues
sim_start --devices 10 --seed 13 --history 3 --no-traps --inject jump=86000,jump_after=0,jump_for=20
write_config "archive: {lookback: 1d, track_interval: 1s, discovery_interval: 1h}"
"$FLEETARC_BIN" -c "$T/cfg.yaml" run >"$T/fleetarc.out" 2>"$T/fleetarc.err" &
pid=$!
sleep 12
kill -TERM $pid
wait $pid || true
j=$(sim_stat injected)
echo "servertime jumps sent: $j"
[ "$j" -gt 0 ] || fail "the sim sent no servertime jump"
grep -q "servertime .* ahead of the local clock and the Date header: ignored" "$T/fleetarc.err" ||
  fail "the servertime jump was not logged"
n=$(psql -d "$DB" -qAtc "SELECT count(*) FROM fleetarc.daily_mileage WHERE day >= (now() AT TIME ZONE 'UTC')::date")
[ "$n" = 0 ] || fail "$n daily_mileage rows for days that have not ended"
n=$(psql -d "$DB" -qAtc "SELECT count(*) FROM fleetarc.cursors WHERE cursor > now() + interval '5 minutes'")
[ "$n" = 0 ] || fail "$n cursors past the real present"
n=$(psql -d "$DB" -qAtc "SELECT count(*) FROM fleetarc.coverage_intervals WHERE to_time > now() + interval '5 minutes'")
[ "$n" = 0 ] || fail "$n covered intervals past the real present"
n=$(psql -d "$DB" -qAtc "SELECT count(*) FROM fleetarc.device_state WHERE servertime > now() + interval '5 minutes'")
[ "$n" = 0 ] || fail "$n device states with a servertime past the real present"
n=$(psql -d "$DB" -qAtc "SELECT (SELECT count(*) FROM fleetarc.cursors) + (SELECT count(*) FROM fleetarc.coverage_intervals)")
[ "$n" -gt 0 ] || fail "no cursors nor coverage at all: nothing was archived"
sim_stop

# ---- D. an endless sub-account tree
fresh_db fa_badvalues
sim_start --devices 30 --seed 13 --history 1 --no-traps --inject fanout=20
write_config "archive: {lookback: 1h, track_interval: 5s, discovery_interval: 1h, max_subaccounts: 300}"
"$FLEETARC_BIN" -c "$T/cfg.yaml" run >"$T/fleetarc.out" 2>"$T/fleetarc.err" &
pid=$!
sleep 10
kill -0 $pid || fail "run died under the fan-out"
kill -TERM $pid
wait $pid || true
u=$(sim_stat requests.user/list)
echo "fan-out: $u user/list requests in 10 s"
grep -q "discovery stopped at the sub-account cap (archive.max_subaccounts 300)" "$T/fleetarc.err" ||
  fail "the sub-account cap was not logged"
[ "$u" -le 320 ] || fail "$u user/list requests: the cap of 300 sub-accounts did not hold"
n=$(psql -d "$DB" -qAtc "SELECT count(*) FROM fleetarc.devices")
[ "$n" = 30 ] || fail "fan-out: $n devices found, expected 30"
finish
