#!/usr/bin/env bash
# Throughput and memory of fleetarc-sim: /api/track requests/s (100 IMEIs each) and
# /api/playback pages/s (1000 records each) with wrk, the simulator pinned to one core,
# and its RSS with 100k devices. Figures are printed, never asserted.
# Track is measured twice:
#  - same batch: one request of 100 IMEIs repeated, clock frozen (--speed 0), so the
#    simulator's per-second state cache answers nearly every lookup (a ceiling);
#  - rotating batches: a real poll cycle, 1000 different requests of 100 IMEIs covering
#    every device, cycled by a wrk Lua script, with the clock moving (--speed 100 from
#    15:00 UTC, when vehicles are on trips): a device comes back after 1000 requests,
#    i.e. >= 1 simulated second later at any rate below 100k req/s, so every lookup
#    misses the cache, as it does for a poller that asks each device once per cycle.
#    A 3 s warm-up (the first cycle fills per-device day caches) is reported apart.
# Usage: bench/sim_bench.sh [SECONDS]   (env: DEVICES=100000 CONNECTIONS=32)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
. scripts/lib.sh
need_packages "${FLEETARC_BUILD_PACKAGES[@]}" libcmocka-dev wrk curl

secs=${1:-10}
devices=${DEVICES:-100000}
conns=${CONNECTIONS:-32}
build=${FLEETARC_BENCH_BUILD:-$root/build-bench}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DFLEETARC_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target fleetarc-sim >/dev/null

tmp=$(mktemp -d)
pid=""
stop_sim() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
  fi
}
trap 'stop_sim; rm -rf "$tmp"' EXIT
cores=$(nproc)
pin_sim=() pin_wrk=()
if [ "$cores" -ge 2 ] && command -v taskset >/dev/null; then
  pin_sim=(taskset -c 0)
  pin_wrk=(taskset -c 1-$((cores - 1)))
fi

md5() { printf '%s' "$1" | md5sum | cut -d' ' -f1; }

# start_sim NOW SPEED: starts the simulator, sets pid, base and token
start_sim() {
  local out=$tmp/sim.out
  "${pin_sim[@]}" "$build/fleetarc-sim" --listen 127.0.0.1:0 --devices "$devices" \
    --now "$1" --speed "$2" >"$out" &
  pid=$!
  for _ in $(seq 1 600); do grep -q '^ready' "$out" && break; sleep 0.1; done
  grep -q '^ready' "$out" || { echo "simulator did not start" >&2; exit 1; }
  local port account password t sig
  port=$(sed -n 's/^listen .*:\([0-9]*\)$/\1/p' "$out")
  account=$(sed -n 's/^account //p' "$out")
  password=$(sed -n 's/^password //p' "$out")
  base=http://127.0.0.1:$port
  t=$(date +%s)
  sig=$(md5 "$(md5 "$password")$t")
  token=$(curl -s "$base/api/authorization?time=$t&account=$account&signature=$sig" |
    sed -n 's/.*"access_token":"\([0-9a-f]*\)".*/\1/p')
  [ -n "$token" ] || { echo "login failed" >&2; exit 1; }
}

wrk_run() { "${pin_wrk[@]}" wrk -t1 -c"$conns" -d"${secs}s" "$@" | grep -E 'Requests/sec|Transfer/sec|Latency|Non-2xx'; }

# ---- frozen clock: same batch, playback, memory ----
start_sim 2026-11-01 0
rss_start=$(awk '/^VmRSS/{print $2}' /proc/$pid/status)
# the first customer account holds up to 400 devices: take 100 of them
cust=$(curl -s "$base/api/user/list?access_token=$token" | grep -o '"account":"cust[0-9]*"' |
  awk -F'"' 'NR == 1 {print $4}')
imeis=$(curl -s "$base/api/device/list?access_token=$token&account=$cust" |
  grep -o '"imei":"[0-9]*"' | awk -F'"' 'NR <= 100 {print $4}' | paste -sd, -)
count=$(echo "$imeis" | tr ',' '\n' | wc -l)
echo "devices=$devices track IMEIs per request=$count connections=$conns duration=${secs}s"

# a playback URL whose answer is a full page of 1000 records
begin=$((1793491200 - 7 * 86400))
purl=""
for imei in $(echo "$imeis" | tr ',' ' '); do
  n=$(curl -s "$base/api/playback?access_token=$token&imei=$imei&begintime=$begin&endtime=1793491200" |
    grep -o ';' | wc -l)
  if [ "$n" -eq 999 ]; then
    purl="$base/api/playback?access_token=$token&imei=$imei&begintime=$begin&endtime=1793491200"
    break
  fi
done

echo "--- /api/track, same batch of 100 IMEIs, clock frozen (--speed 0)"
wrk_run "$base/api/track?access_token=$token&imeis=$imeis"
if [ -n "$purl" ]; then
  echo "--- /api/playback, 1000 records per page"
  wrk_run "$purl"
else
  echo "--- no device with a full playback page found"
fi
rss_end=$(awk '/^VmRSS/{print $2}' /proc/$pid/status)
echo "--- RSS: ${rss_start} kB after start, ${rss_end} kB after the load ($devices devices)"
curl -s "$base/sim/stats" | grep -o '"responses":{[^}]*}'
stop_sim

# ---- moving clock: rotating batches over the whole fleet ----
start_sim 2026-11-01T15:00:00Z 100
# every account, breadth first from the login's (user/list gives direct sub-accounts)
queue=(demo) all_imeis=$tmp/imeis
: >"$all_imeis"
while [ ${#queue[@]} -gt 0 ]; do
  acc=${queue[0]}
  queue=("${queue[@]:1}")
  curl -s "$base/api/device/list?access_token=$token&account=$acc" |
    { grep -o '"imei":"[0-9]*"' || true; } | awk -F'"' '{print $4}' >>"$all_imeis"
  mapfile -t kids < <(curl -s "$base/api/user/list?access_token=$token&account=$acc" |
    { grep -o '"account":"[^"]*"' || true; } | awk -F'"' '{print $4}')
  [ ${#kids[@]} -eq 0 ] || queue+=("${kids[@]}")
done
# whole batches of 100 distinct IMEIs, one request path per line
sort -u "$all_imeis" | shuf --random-source=<(yes) |
  awk -v tok="$token" '{ b = b (n ? "," : "") $0; n++ }
    n == 100 { print "/api/track?access_token=" tok "&imeis=" b; b = ""; n = 0 }' >"$tmp/paths"
nbatch=$(wc -l <"$tmp/paths")
ndev=$(sort -u "$all_imeis" | wc -l)
codes=$(curl -s "$base$(head -n 1 "$tmp/paths")" | grep -o '"imei"' | wc -l)
[ "$codes" -eq 100 ] || { echo "a rotating batch did not answer 100 records ($codes)" >&2; exit 1; }
cat >"$tmp/rotate.lua" <<'EOF'
-- cycles through the request paths of the file given after "--", one per request
local paths, i = {}, 0
function init(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
end
function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
EOF
# The simulator keeps each device's day plan from its first request of a UTC day on:
# a warm-up shows the first cycle's cost, then the steady state.
echo "--- /api/track, warm-up: the first 3 s (every device's first request of the day is cold)"
"${pin_wrk[@]}" wrk -t1 -c"$conns" -d3s -s "$tmp/rotate.lua" "$base" -- "$tmp/paths" |
  grep -E 'Requests/sec'
echo "--- /api/track, $nbatch rotating batches of 100 IMEIs ($ndev devices listed), clock moving (--speed 100)"
wrk_run -s "$tmp/rotate.lua" "$base" -- "$tmp/paths"
echo "--- RSS: $(awk '/^VmRSS/{print $2}' /proc/$pid/status) kB after the rotating load ($devices devices)"
curl -s "$base/sim/stats" | grep -o '"responses":{[^}]*}'
stop_sim
