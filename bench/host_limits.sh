#!/usr/bin/env bash
# scripts/bench's "under the host limits" rows (issue 20): fleetarc-sim with HL_DEVICES
# devices and two days of history (fleetarc looks back one), its clock at HL_SPEED x, the
# documented per-account limits of one host (authorization 12 s, list 6 s, track 10 s,
# playback 12 s; other endpoints 6 s) divided by HL_SPEED at the simulator and in
# fleetarc's api.rate_limits alike, and `fleetarc run` from an empty database for
# HL_SECONDS real seconds (lookback 1 day, streams playback and alarms, track_interval =
# the fleet's chunks x the track spacing: the fastest cycle the limit allows). Then the
# truth of [fleetarc's window begin, the platform's present at the stop) from a second
# simulator (same fleet, clock frozen, --truth-until) and bench/host_limits.py.
# Prints rows "figure|fleetarc|reference|ratio|target" on stdout (scripts/bench's table);
# the details go to stderr and to $HL_OUT (JSON) when set.
# Env: FA, SIM (binaries; default build-bench/), PG* (else a throw-away PostgreSQL),
#      HL_DEVICES (2000) HL_SPEED (60) HL_SECONDS (480) HL_DB (hostlimits) HL_KEEP (keep
#      the scratch folder) HL_EXTRA_CONF (YAML lines added to the archive section).
#      Takes HL_SECONDS + about 60 s.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib.sh"
PY=/usr/bin/python3
FA=${FA:-$root/build-bench/fleetarc}
SIM=${SIM:-$root/build-bench/fleetarc-sim}
. "$root/bench/lib.sh"
db=${HL_DB:-hostlimits}
devices=${HL_DEVICES:-2000}
speed=${HL_SPEED:-60}
seconds=${HL_SECONDS:-480}
[ -n "${PGHOST:-}" ] || pg_start_throwaway

work=$(mktemp -d /tmp/fleetarc-hl.XXXXXX)
chmod 755 "$work"
sim_pid="" fa_pid=""
hl_cleanup() {
  [ -n "$fa_pid" ] && kill "$fa_pid" 2>/dev/null && wait "$fa_pid" 2>/dev/null
  sim_stop
  if [ -n "${HL_KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap 'hl_cleanup; pg_stop_throwaway' EXIT

# the documented spacings (ms), scaled: real ms = documented / speed
scaled() { awk -v s="$1" -v x="$speed" 'BEGIN { printf "%d", s / x }'; }
sp_auth=$(scaled 12000) sp_list=$(scaled 6000) sp_track=$(scaled 10000)
sp_pb=$(scaled 12000) sp_default=$(scaled 6000)
limits="authorization=${sp_auth}ms,track=${sp_track}ms,playback=${sp_pb}ms"
limits+=",alarm/list=${sp_list}ms,device/list=${sp_list}ms,user/list=${sp_list}ms"
limits+=",default=${sp_default}ms"

# --history 2: the platform holds two days, so that the day fleetarc looks back over is
# still there when it asks (the platform's window slides an hour a minute at --speed 60)
fleet=(--devices "$devices" --history 2 --now "$(sim_now_behind "$speed" "$seconds")" --no-traps
  --seed 1)
sim_start sim "${fleet[@]}" --speed "$speed" --limits "$limits"
export HL_PASSWORD=$sim_password

chunks=$(((devices + 99) / 100))
track_interval=$((chunks * sp_track))
[ "$track_interval" -ge 1000 ] || track_interval=1000  # the key's least value
psql -d postgres -qAtc "DROP DATABASE IF EXISTS $db" -qAtc "CREATE DATABASE $db" >/dev/null 2>&1
cat >"$work/hl.yaml" <<YAML
api:
  base_url: $sim_url
  rate_limits: {default: ${sp_default}ms, authorization: ${sp_auth}ms, track: ${sp_track}ms,
                playback: ${sp_pb}ms, alarm/list: ${sp_list}ms, device/list: ${sp_list}ms,
                user/list: ${sp_list}ms}
accounts:
  - account: $sim_account
    password: "\${HL_PASSWORD}"
database:
  conninfo: "dbname=$db"
archive:
  track_interval: ${track_interval}ms
  lookback: 1d
  streams: [playback, alarms]
${HL_EXTRA_CONF:-}
log:
  level: info
YAML
"$FA" -c "$work/hl.yaml" migrate >/dev/null 2>"$work/migrate.log" ||
  { cat "$work/migrate.log" >&2; exit 1; }

echo "== under the host limits: $devices devices, --speed $speed, limits $limits," \
  "track_interval ${track_interval}ms, $seconds s" >&2
p0=$(sim_get present)
"$FA" -c "$work/hl.yaml" run 2>"$work/run.log" &
fa_pid=$!
load=()
for i in 1 2 3 4; do
  sleep "$(awk -v s="$seconds" 'BEGIN { printf "%.1f", s / 4 }')"
  load+=("$(load1)")
  echo "   $((i * 25))%: load $(cut -d' ' -f1 /proc/loadavg)," \
    "points $(psql -d "$db" -qAtc 'SELECT count(*) FROM fleetarc.positions')" >&2
done
curl -s "$sim_url/sim/stats" >"$work/stats.json"
t_end=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['present'])" "$work/stats.json")
kill -TERM "$fa_pid"
wait "$fa_pid" || true
fa_pid=""
sim_stop

psql -d "$db" -qAtc "\\copy (SELECT imei, extract(epoch FROM gpstime)::bigint FROM fleetarc.positions) TO '$work/pos.csv' (FORMAT csv)"
psql -d "$db" -qAtc "\\copy (SELECT imei, extract(epoch FROM systemtime)::bigint FROM fleetarc.alarms) TO '$work/alm.csv' (FORMAT csv)"
# fleetarc's window of a device begins at its own present less the lookback when the
# device got its cursor, a little after p0 (a second or two of start-up and the first
# track cycle: minutes on the platform's clock). The scope of each device begins there
# (its first covered interval, when that starts within 3 h of p0 less a day: one from
# playback, not a single track fix); the others' at the latest such begin.
psql -d "$db" -qAtc "\\copy (SELECT imei, extract(epoch FROM min(\"from\"))::bigint FROM fleetarc.coverage
  WHERE stream = 'playback' GROUP BY imei HAVING min(\"from\") < to_timestamp($((p0 - 86400 + 10800))))
  TO '$work/begins.csv' (FORMAT csv)"
begin=$(awk -F, -v d=$((p0 - 86400)) '$2 > d { d = $2 } END { print d }' "$work/begins.csv")
# the truth up to the platform's present at the stop: the same fleet, clock frozen
sim_truth "$work/truth" "$t_end" "${fleet[@]}"

cat >"$work/params.json" <<JSON
{"begin": $begin, "start": $p0, "end": $t_end, "seconds": $seconds, "speed": $speed,
 "spacing_ms": {"playback": $sp_pb, "alarm/list": $sp_list, "track": $sp_track}}
JSON
$PY "$root/bench/host_limits.py" "$work/truth" "$work/pos.csv" "$work/alm.csv" \
  "$work/stats.json" "$work/params.json" "$work/begins.csv" >"$work/result.json"
[ -n "${HL_OUT:-}" ] && cp "$work/result.json" "$HL_OUT"
{
  echo "   run log: $(grep -c 10009 "$work/run.log" || true) lines naming 10009;" \
    "responses $($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['responses'])" "$work/stats.json")"
  cat "$work/result.json"
} >&2

$PY - "$work/result.json" "$devices" "$speed" "$seconds" "$(IFS=/; echo "${load[*]}")" "$t_end" "$p0" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
dev, speed, secs, load = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
hours = (int(sys.argv[6]) - int(sys.argv[7])) / 3600.0
q = r["requests"]
b = r["budget"]
def h(s): return "%.1f h" % (s / 3600.0) if s >= 3600 else "%.0f min" % (s / 60.0)
def ratio(a, c): return "%.2f" % (a / c) if c else "n/a"
head = ("under the host limits: %s devices, a day of lookback + %.1f h live at --speed %s "
        "(%d s real; load average at 1/4, 2/4, 3/4, end: %s)" % (dev, hours, speed, secs, load))
print("%s, points archived / in the truth (%d of %d; alarms %d of %d)|%.3f|%.3f (optimum: %d points)|%s|>= 0.9 of the optimum"
      % (head, r["archived"], r["truth_points"], r["archived_alarms"], r["truth_alarms"],
         r["share"], r["opt_share"], r["opt_points"], ratio(r["share"], r["opt_share"])))
print("under the host limits: alarms archived / in the truth (%d of %d; alarm/list %d requests of a budget of %d)|%.3f|%.3f (optimum asking the devices in turn: %d alarms, %d requests)|%s|>= 0.9 of the optimum"
      % (r["archived_alarms"], r["truth_alarms"], q["alarm/list"], b["alarm/list"], r["alarm_share"],
         r["opt_alarm_share"], r["opt_alarms"], r["opt_alarm_requests"], ratio(r["alarm_share"], r["opt_alarm_share"])))
print("under the host limits: lag behind the platform p50 / p95 / max (%d devices)|%s / %s / %s|%s / %s / %s (optimum)|-|-"
      % (r["devices"], h(r["lag_p50"]), h(r["lag_p95"]), h(r["lag_max"]),
         h(r["opt_lag_p50"]), h(r["opt_lag_p95"]), h(r["opt_lag_max"])))
print("under the host limits: playback requests per archived point (playback %d of a budget of %d, alarm/list %d of %d, track %d of %d; all requests %d: %.4f per point; %d answered 10009)|%.4f|%.4f (optimum: %d requests)|%s|<= 1.1"
      % (q["playback"], b["playback"], q["alarm/list"], b["alarm/list"], q["track"], b["track"],
         q["total"], r["total_per_point"], r["refused_10009"], r["playback_per_point"], r["opt_per_point"],
         r["opt_requests"], ratio(r["playback_per_point"], r["opt_per_point"])))
PYEOF
