#!/usr/bin/env bash
# `fleetarc run` stores the reports' finished days ahead (reports.store_ahead, issue 22):
# its first maintenance pass (30 s after the start) computes and stores the device-day
# summaries of the finished days it archived, without any report asking: afterwards
# yesterday's device-days are in fleetarc.device_day, one per device with points, each
# with that device's points of the day, and the log says so. With store_ahead 0d nothing
# is stored. Fails on a build without the pass (no device_day row).
. "$(dirname "$0")/archive_lib.sh"
q() { psql -d "$DB" -qAt -v ON_ERROR_STOP=1 -c "$1"; }

sim_start --devices 6 --seed 11 --history 2

# run_for AHEAD: a `run` (lookback 2d) until its first maintenance pass logged, stopped
run_for() {
  fresh_db "$1"
  write_config "archive: {lookback: 2d, track_interval: 2s, discovery_interval: 1m}
reports: {store_ahead: $2}"
  : >"$T/fleetarc.err"
  "$FLEETARC_BIN" -c "$T/cfg.yaml" run 2>"$T/fleetarc.err" &
  local pid=$!
  for _ in $(seq 600); do  # up to 60 s: the pass starts 30 s after the start
    grep -q "retention\|reports: " "$T/fleetarc.err" && grep -q "partitions ahead\|stored ahead\|nothing" "$T/fleetarc.err" && break
    sleep 0.1
  done
  sleep 1
  sigterm_run "$pid"
}

run_for fa_ops_ahead 3d
grep "reports: " "$T/fleetarc.err" | sed 's/^/  /'
grep -q "reports: 3 finished days (UTC) stored ahead: [1-9][0-9]* device-days" "$T/fleetarc.err" ||
  fail "no 'stored ahead' line for 3 days"
want=$(q "SELECT count(DISTINCT imei) FROM fleetarc.positions
          WHERE gpstime >= current_date - 1 AND gpstime < current_date")
have=$(q "SELECT count(*) FROM fleetarc.device_day WHERE tz = 'UTC' AND day = current_date - 1
          AND points > 0 AND min_distance_m = 200")
echo "yesterday: $want devices with points, $have device-days stored"
[ "$want" -gt 0 ] || fail "nothing archived for yesterday"
[ "$have" = "$want" ] || fail "device-days stored for yesterday: $have, devices with points: $want"
bad=$(q "SELECT count(*) FROM fleetarc.device_day d WHERE d.tz = 'UTC' AND d.day = current_date - 1
         AND d.min_distance_m = 200 AND d.points > (SELECT count(*) FROM fleetarc.positions p
           WHERE p.imei = d.imei AND p.gpstime >= d.day_start AND p.gpstime < d.day_end)")
[ "$bad" = 0 ] || fail "$bad device-days count more points than archived"

run_for fa_ops_ahead_off 0d
grep -q "stored ahead" "$T/fleetarc.err" && fail "store_ahead 0d still stored ahead"
[ "$(q "SELECT count(*) FROM fleetarc.device_day")" = 0 ] || fail "store_ahead 0d stored device-days"
finish
