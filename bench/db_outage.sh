#!/usr/bin/env bash
# scripts/bench's "database outage" rows (issue 13): the RSS of `fleetarc run` polling
# OUT_DEVICES devices (real-time simulator, track_interval OUT_TRACK_INTERVAL, no history
# to fetch: the work is the /api/track polls, every device's device_state row and the new
# points) while PostgreSQL is stopped for OUT_SECONDS (pg_ctl stop -m fast) and started
# again. VmRSS is sampled every second: the figure is its peak during the outage against
# its peak over the OUT_BEFORE seconds before it (the baseline, same run), with RSS half way
# through the outage against its end (growth without bound shows as a slope), and after.
# Prints rows "figure|fleetarc|reference|ratio|target" on stdout; details on stderr.
# Env: FA, SIM (binaries; default build-bench/), PG* and PG_TMP (scripts/lib.sh's
# throw-away PostgreSQL, else one is started: this script stops and starts it),
# OUT_DEVICES (100000) OUT_SECONDS (120) OUT_BEFORE (30) OUT_AFTER (30)
# OUT_TRACK_INTERVAL (5s). Takes about OUT_BEFORE + OUT_SECONDS + OUT_AFTER + 60 s.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib.sh"
PY=/usr/bin/python3
FA=${FA:-$root/build-bench/fleetarc}
SIM=${SIM:-$root/build-bench/fleetarc-sim}
devices=${OUT_DEVICES:-100000}
outage=${OUT_SECONDS:-120}
before=${OUT_BEFORE:-30}
after=${OUT_AFTER:-30}
interval=${OUT_TRACK_INTERVAL:-5s}
[ -n "${PG_TMP:-}" ] || pg_start_throwaway

work=$(mktemp -d /tmp/fleetarc-out.XXXXXX)
chmod 755 "$work"
sim_pid="" fa_pid=""
out_cleanup() {
  [ -n "$fa_pid" ] && kill "$fa_pid" 2>/dev/null && wait "$fa_pid" 2>/dev/null
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
  rm -rf "$work"
}
trap 'out_cleanup; pg_stop_throwaway' EXIT

"$SIM" --listen 127.0.0.1:0 --devices "$devices" --history 1 --speed 1 \
  >"$work/sim.out" 2>"$work/sim.err" &
sim_pid=$!
for _ in $(seq 1 1200); do grep -q '^ready' "$work/sim.out" 2>/dev/null && break; sleep 0.1; done
grep -q '^ready' "$work/sim.out" || { cat "$work/sim.err" >&2; exit 1; }
sim_url=http://$(awk '/^listen/{print $2}' "$work/sim.out")
export OUT_PASSWORD
OUT_PASSWORD=$(awk '/^password/{print $2}' "$work/sim.out")
track() { curl -s "$sim_url/sim/stats" | $PY -c "import json,sys; print(json.load(sys.stdin)['requests']['track'])"; }

psql -d postgres -qAtc "DROP DATABASE IF EXISTS outage" -qAtc "CREATE DATABASE outage" >/dev/null 2>&1
cat >"$work/out.yaml" <<YAML
api:
  base_url: $sim_url
  rate_limits: {default: 0s, authorization: 0s, track: 0s, playback: 0s, alarm/list: 0s,
                device/list: 0s, user/list: 0s, device/detail: 0s, device/mileage: 0s}
accounts:
  - account: $(awk '/^account/{print $2}' "$work/sim.out")
    password: "\${OUT_PASSWORD}"
database:
  conninfo: "dbname=outage"
archive:
  track_interval: $interval
  lookback: 0s
  streams: [mileage]
  discovery_interval: 30d
log:
  level: info
YAML
"$FA" -c "$work/out.yaml" migrate >/dev/null 2>"$work/migrate.log" ||
  { cat "$work/migrate.log" >&2; exit 1; }
"$FA" -c "$work/out.yaml" run 2>"$work/run.log" &
fa_pid=$!
chunks=$(((devices + 99) / 100))
for _ in $(seq 1 1800); do  # discovery, then two full cycles
  [ "$(track)" -ge $((2 * chunks)) ] && break
  sleep 0.1
done

rss() { awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$fa_pid/status"; }
# sample SECONDS PHASE: one VmRSS line a second, "phase second MB"
sample() {
  local i
  for i in $(seq 1 "$1"); do echo "$2 $i $(rss)"; sleep 1; done >>"$work/rss.txt"
}
echo "== database outage: $devices devices, track_interval $interval, $outage s" >&2
load0=$(cut -d' ' -f1 /proc/loadavg)
rows0=$(psql -d outage -qAtc "SELECT count(*) FROM fleetarc.positions")
sample "$before" before
pg_pause_throwaway
tr0=$(track)
sample "$outage" outage
tr1=$(track)
load1=$(cut -d' ' -f1 /proc/loadavg)
pg_resume_throwaway
sample "$after" after
rows1=$(psql -d outage -qAtc "SELECT count(*) FROM fleetarc.positions")
load2=$(cut -d' ' -f1 /proc/loadavg)
hwm=$(awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$fa_pid/status")
kill -TERM "$fa_pid"; wait "$fa_pid" || true; fa_pid=""
echo "   track requests during the outage: $((tr1 - tr0)); positions $rows0 before, $rows1 after;" \
  "log lines naming the database: $(grep -ci 'database\|writer' "$work/run.log" || true)" >&2
grep -i 'pressure\|skipp\|collaps' "$work/run.log" | head -n 5 >&2 || true

$PY - "$work/rss.txt" "$devices" "$outage" "$interval" "$load0/$load1/$load2" "$hwm" \
  "$((tr1 - tr0))" <<'PYEOF'
import sys
rows = [l.split() for l in open(sys.argv[1])]
dev, outage, interval, load, hwm, polls = sys.argv[2:8]
ph = {p: [float(r[2]) for r in rows if r[0] == p] for p in ("before", "outage", "after")}
b, o, a = max(ph["before"]), max(ph["outage"]), ph["after"][-1]
half, end = ph["outage"][len(ph["outage"]) // 2 - 1], ph["outage"][-1]
head = ("database outage: fleetarc run, %s devices, track_interval %s, PostgreSQL stopped %s s "
        "(%s track requests meanwhile; load average before / at the end / after: %s)"
        % (dev, interval, outage, polls, load))
print("%s, peak RSS MB during the outage|%.1f|%.1f (peak in the %d s before)|%.2f|bounded"
      % (head, o, b, len(ph["before"]), o / b))
print("database outage: RSS MB at the outage's end against half way (a slope is growth "
      "without bound)|%.1f|%.1f|%.2f|1.00" % (end, half, end / half))
print("database outage: RSS MB %d s after PostgreSQL is back (VmHWM %s)|%.1f|%.1f (before)|%.2f|-"
      % (len(ph["after"]), hwm, a, b, a / b))
PYEOF
