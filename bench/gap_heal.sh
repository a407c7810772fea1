#!/usr/bin/env bash
# scripts/bench's "gap healing" rows (issue 23): fleetarc-sim with late uploads on
# (--late-uploads HEAL_LATE: that share of devices loses coverage once in each long enough
# trip and its window reaches playback only 'delay' after it ends), HEAL_DEVICES devices,
# a day of history, its clock at HEAL_SPEED x; `fleetarc run` from an empty database, no
# rate limits, lookback 1 day, archive.gap_* at their defaults (gap_settle 30m on the
# platform's clock), for HEAL_SECONDS real seconds. The healing asks are counted from the
# log ("gap ... asked again: N positions", one line per answer), the late windows and
# their points from the simulator's truth (late.csv) up to the platform's present at the
# stop. Figures: healing requests per device-day, points they recovered per request, and
# the late points archived against those the truth holds (windows whose delay and
# gap_settle had passed by the stop, the ones healing could have reached).
# Prints rows "figure|fleetarc|reference|ratio|target" on stdout; details on stderr.
# Env: FA, SIM (binaries; default build-bench/), PG* (else a throw-away PostgreSQL),
#      HEAL_DEVICES (500) HEAL_SPEED (60) HEAL_SECONDS (240)
#      HEAL_LATE ("share=0.2,window=20m,delay=15m"). Takes HEAL_SECONDS + about 30 s.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib.sh"
PY=/usr/bin/python3
FA=${FA:-$root/build-bench/fleetarc}
SIM=${SIM:-$root/build-bench/fleetarc-sim}
. "$root/bench/lib.sh"
devices=${HEAL_DEVICES:-500}
speed=${HEAL_SPEED:-60}
seconds=${HEAL_SECONDS:-240}
late=${HEAL_LATE:-share=0.2,window=20m,delay=15m}
settle=1800 # archive.gap_settle's default, platform seconds
[ -n "${PGHOST:-}" ] || pg_start_throwaway

work=$(mktemp -d /tmp/fleetarc-heal.XXXXXX)
chmod 755 "$work"
sim_pid="" fa_pid=""
heal_cleanup() {
  [ -n "$fa_pid" ] && kill "$fa_pid" 2>/dev/null && wait "$fa_pid" 2>/dev/null
  sim_stop
  rm -rf "$work"
}
trap 'heal_cleanup; pg_stop_throwaway' EXIT

# by day (from 10:00 UTC): late windows come from trips, and nights have none
fleet=(--devices "$devices" --history 1 --now "$(sim_now_behind "$speed" "$seconds" 10)" --no-traps
  --seed 1 --late-uploads "$late")
sim_start sim "${fleet[@]}" --speed "$speed"
export HEAL_PASSWORD=$sim_password
psql -d postgres -qAtc "DROP DATABASE IF EXISTS gapheal" -qAtc "CREATE DATABASE gapheal" >/dev/null 2>&1
cat >"$work/heal.yaml" <<YAML
api:
  base_url: $sim_url
  rate_limits: {default: 0s, authorization: 0s, track: 0s, playback: 0s, alarm/list: 0s,
                device/list: 0s, user/list: 0s, device/detail: 0s, device/mileage: 0s}
accounts:
  - account: $sim_account
    password: "\${HEAL_PASSWORD}"
database:
  conninfo: "dbname=gapheal"
archive:
  track_interval: 1s
  lookback: 1d
  streams: [playback]
log:
  level: info
YAML
"$FA" -c "$work/heal.yaml" migrate >/dev/null 2>"$work/migrate.log" ||
  { cat "$work/migrate.log" >&2; exit 1; }
echo "== gap healing: $devices devices, --late-uploads $late, --speed $speed, $seconds s" >&2
p0=$(sim_get present)
"$FA" -c "$work/heal.yaml" run 2>"$work/run.log" &
fa_pid=$!
sleep $((seconds / 2))
load_a=$(load1)
sleep $((seconds - seconds / 2))
load_b=$(load1)
t_end=$(sim_get present)
playback=$(sim_get requests.playback)
kill -TERM "$fa_pid"
wait "$fa_pid" || true
fa_pid=""
sim_stop
psql -d gapheal -qAtc "\\copy (SELECT imei, extract(epoch FROM gpstime)::bigint FROM fleetarc.positions) TO '$work/pos.csv' (FORMAT csv)"
psql -d gapheal -qAtc "SELECT count(*), coalesce(sum(recovered), 0), count(healed_at) FROM fleetarc.gaps" \
  >"$work/gaps.txt"
sim_truth "$work/truth" "$t_end" "${fleet[@]}"
echo "   fleetarc.gaps: windows, recovered, healed: $(cat "$work/gaps.txt")" >&2

$PY - "$work" "$((p0 - 86400))" "$t_end" "$settle" "$devices" "$speed" "$seconds" \
  "$late" "$load_a/$load_b" "$playback" <<'PYEOF'
import collections, csv, re, sys
work, begin, end, settle = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
devices, speed, secs, late, load, playback = sys.argv[5:11]
asks, recovered = 0, 0
for line in open(work + "/run.log"):
    m = re.search(r"asked again: (\d+) positions", line)
    if m:
        asks += 1
        recovered += int(m.group(1))
have = collections.defaultdict(set)
for line in open(work + "/pos.csv"):
    imei, g = line.strip().split(",")
    have[imei].add(int(g))
windows = collections.defaultdict(list)   # imei -> [(from, to, visible_at)]
for r in csv.DictReader(open(work + "/truth/late.csv")):
    f, t, v = int(r["from"]), int(r["to"]), int(r["visible_at"])
    if begin <= f and t < end:
        windows[r["imei"]].append((f, t, v))
due = late_total = late_have = 0
reach_total = reach_have = 0
for r in csv.DictReader(open(work + "/truth/positions.csv")):
    ws = windows.get(r["imei"])
    if not ws:
        continue
    g = int(r["gpstime"])
    for f, t, v in ws:
        if f <= g <= t:
            got = g in have[r["imei"]]
            late_total += 1
            late_have += got
            if v + settle <= end:  # visible, and settled, before the stop
                reach_total += 1
                reach_have += got
            break
days = int(devices) * (end - begin) / 86400.0
nwin = sum(len(v) for v in windows.values())
head = ("gap healing: %s devices, --late-uploads %s, %.1f device-days (1 day of history + "
        "%.1f h live at --speed %s, %s s; load average half way / end: %s)"
        % (devices, late, days, (end - begin - 86400) / 3600.0, speed, secs, load))
print("%s, healing requests per device-day (%d asks of %s playback requests in all)|%.2f|-|-|-"
      % (head, asks, playback, asks / days))
print("gap healing: points recovered per healing request (%d points)|%.1f|-|-|-"
      % (recovered, recovered / asks if asks else 0))
print("gap healing: late points archived / in the truth, windows settled before the stop "
      "(%d windows in all, %d of %d late points archived)|%d|%d|%.3f|1.00"
      % (nwin, late_have, late_total, reach_have, reach_total,
         reach_have / reach_total if reach_total else 0))
PYEOF
