#!/usr/bin/env bash
# Throughput and memory of fleetarc-sim: /api/track requests/s (100 IMEIs each) and
# /api/playback pages/s (1000 records each) with wrk, the simulator pinned to one core,
# and its RSS with 100k devices. Figures are printed, never asserted.
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

out=$(mktemp)
cores=$(nproc)
pin_sim=() pin_wrk=()
if [ "$cores" -ge 2 ] && command -v taskset >/dev/null; then
  pin_sim=(taskset -c 0)
  pin_wrk=(taskset -c 1-$((cores - 1)))
fi
"${pin_sim[@]}" "$build/fleetarc-sim" --listen 127.0.0.1:0 --devices "$devices" \
  --now 2026-11-01 --speed 0 >"$out" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 1 600); do grep -q '^ready' "$out" && break; sleep 0.1; done
grep -q '^ready' "$out" || { echo "simulator did not start" >&2; exit 1; }
port=$(sed -n 's/^listen .*:\([0-9]*\)$/\1/p' "$out")
account=$(sed -n 's/^account //p' "$out")
password=$(sed -n 's/^password //p' "$out")
base=http://127.0.0.1:$port
rss_start=$(awk '/^VmRSS/{print $2}' /proc/$pid/status)

md5() { printf '%s' "$1" | md5sum | cut -d' ' -f1; }
t=$(date +%s)
sig=$(md5 "$(md5 "$password")$t")
token=$(curl -s "$base/api/authorization?time=$t&account=$account&signature=$sig" |
  sed -n 's/.*"access_token":"\([0-9a-f]*\)".*/\1/p')
[ -n "$token" ] || { echo "login failed" >&2; exit 1; }
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

echo "--- /api/track, 100 IMEIs per request"
"${pin_wrk[@]}" wrk -t1 -c"$conns" -d"${secs}s" "$base/api/track?access_token=$token&imeis=$imeis" |
  grep -E 'Requests/sec|Transfer/sec|Latency|Non-2xx'
if [ -n "$purl" ]; then
  echo "--- /api/playback, 1000 records per page"
  "${pin_wrk[@]}" wrk -t1 -c"$conns" -d"${secs}s" "$purl" | grep -E 'Requests/sec|Transfer/sec|Latency|Non-2xx'
else
  echo "--- no device with a full playback page found"
fi
rss_end=$(awk '/^VmRSS/{print $2}' /proc/$pid/status)
echo "--- RSS: ${rss_start} kB after start, ${rss_end} kB after the load ($devices devices)"
curl -s "$base/sim/stats" | grep -o '"responses":{[^}]*}'
