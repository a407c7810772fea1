#!/usr/bin/env bash
# The console (issue 17), driven by headless Chromium against `fleetarc run` on
# fleetarc-sim (clock frozen, so the database stops changing once the backfill is done):
# the status page (/) lists the account and the device counts by status as the
# database has them; /map, with the tile server unreachable, has a Leaflet container and
# one marker per device with a known position; a device's route for a day (UTC and
# another time zone) draws as many vertices as report_route holds for that day; no
# JavaScript error. Screenshots go to $FLEETARC_TEST_OUTPUT/console/.
. "$(dirname "$0")/archive_lib.sh"

CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
  [ "${FLEETARC_REQUIRE_CHROMIUM:-0}" = 1 ] && { echo "FAIL: no chromium" >&2; exit 1; }
  echo "skipped: no chromium (scripts/lib.sh installs it)" >&2
  exit 77
fi
[ -f /usr/share/javascript/leaflet/leaflet.js ] || { echo "FAIL: libjs-leaflet is not installed" >&2; exit 1; }
OUT=${FLEETARC_TEST_OUTPUT:-$T/out}/console
mkdir -p "$OUT"
FA_PID=""
stop_run() { [ -n "$FA_PID" ] && kill "$FA_PID" 2>/dev/null && wait "$FA_PID" 2>/dev/null; FA_PID=""; }
trap 'stop_run; cleanup' EXIT

NOW=2026-11-03T21:30:00Z
DAY=2026-11-03
fresh_db fa_console
sim_start --devices 12 --seed 11 --history 2 --now $NOW --speed 0
# tiles on a port where nothing listens: the map must draw without them
write_config "archive: {lookback: 1d, track_interval: 2s, discovery_interval: 1m}
metrics: {listen: 127.0.0.1:0}
console: {tiles: 'http://127.0.0.1:9/{z}/{x}/{y}.png'}"
"$FLEETARC_BIN" -c "$T/cfg.yaml" run >"$T/fleetarc.out" 2>"$T/fleetarc.err" &
FA_PID=$!
PORT=$(ops_port)
[ -n "$PORT" ] || { cat "$T/fleetarc.err" >&2; fail "no listener"; finish; }
URL=http://127.0.0.1:$PORT
q() { psql -d "$DB" -qAt -v ON_ERROR_STOP=1 -c "$1"; }

# the first poll, then a database that no longer changes (positions and device_state)
prev="" stable=0
for _ in $(seq 240); do
  cur=$(q "SELECT (SELECT count(*) FROM fleetarc.positions) || '/' || (SELECT count(*) FROM fleetarc.device_state) || '/' || (SELECT coalesce(max(gpstime)::text, '') FROM fleetarc.device_state)" 2>/dev/null || true)
  n_state=${cur#*/}; n_state=${n_state%%/*}
  if [ -n "$cur" ] && [ "${n_state:-0}" -gt 0 ] && [ "$cur" = "$prev" ]; then
    stable=$((stable + 1)); [ $stable -ge 6 ] && break
  else
    stable=0
  fi
  prev=$cur
  sleep 0.5
done
echo "database settled: positions/device_state = ${cur%/*}"
[ "${n_state:-0}" -gt 0 ] || fail "no device_state row after the first poll"

# chrome URL FILE [BUDGET]: the DOM after the page's scripts ran (its console on
# FILE.log). The status page goes without a virtual-time budget: its meta refresh would
# reload it within the budget, forever.
chrome() {
  timeout 180 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
    --user-data-dir="$T/chrome" --enable-logging=stderr --v=0 --window-size=1280,900 \
    ${3:+--virtual-time-budget=$3} --dump-dom "$1" >"$2" 2>"$2.log" || true
}
shot() {
  timeout 180 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
    --user-data-dir="$T/chrome" --hide-scrollbars --window-size=1280,900 \
    ${3:+--virtual-time-budget=$3} --screenshot="$2" "$1" >/dev/null 2>&1 || true
  [ -s "$2" ] || fail "no screenshot $2"
}
js_errors() { # console errors of a page: uncaught exceptions and console.error
  grep -E 'CONSOLE.*(Uncaught|Error)|"Uncaught' "$1.log" | grep -v 'Failed to load resource' || true
}
attr() { sed -n "s/.*<body[^>]* $2=\"\([^\"]*\)\".*/\1/p" "$1" | head -n 1; }

# ---- the status page
chrome "$URL/" "$T/status.html"
grep -q '<td class="account">demo</td>' "$T/status.html" || fail "status page: account demo not listed"
total=$(q "SELECT count(*) FROM fleetarc.devices WHERE removed_at IS NULL")
grep -q "id=\"fleet-total\">$total<" "$T/status.html" || fail "status page: total is not $total"
STATUS_SQL="CASE WHEN s.imei IS NULL OR s.datastatus IS NULL THEN 'unknown' WHEN s.datastatus = 1 THEN 'never_online' WHEN s.datastatus = 3 THEN 'expired' WHEN s.datastatus = 5 THEN 'blocked' WHEN s.datastatus = 4 THEN 'offline' WHEN s.datastatus = 2 AND coalesce(s.speed, 0) > 0 AND s.gpstime >= coalesce(s.hearttime, s.gpstime) - interval '10 minutes' THEN 'moving' WHEN s.datastatus = 2 THEN 'stopped' ELSE 'unknown' END"
summary=""
for st in moving stopped offline never_online expired blocked unknown; do
  want=$(q "SELECT count(*) FILTER (WHERE $STATUS_SQL = '$st') FROM fleetarc.devices d LEFT JOIN fleetarc.device_state s ON s.imei = d.imei WHERE d.removed_at IS NULL")
  got=$(sed -n "s/.*data-status=\"$st\">\([0-9]*\)<.*/\1/p" "$T/status.html")
  summary="$summary $st=$got"
  [ "$got" = "$want" ] || fail "status page: $st shows '$got', the database has $want"
done
echo "status page: account demo, $total devices:$summary"
[ "$(q "SELECT count(DISTINCT datastatus) FROM fleetarc.device_state")" -ge 2 ] ||
  echo "note: the fleet has a single datastatus"
grep -q '<meta http-equiv="refresh"' "$T/status.html" || fail "status page: no auto-refresh"
[ -z "$(js_errors "$T/status.html")" ] || fail "status page: console errors: $(js_errors "$T/status.html")"
shot "$URL/" "$OUT/status.png"

# ---- JSON endpoints
code=$(curl -s -o "$T/dev.json" -w '%{http_code}' "$URL/api/v1/devices")
[ "$code" = 200 ] || fail "/api/v1/devices answered $code"
python3 -c "import json,sys; d=json.load(open('$T/dev.json')); assert d['type']=='FeatureCollection'" ||
  fail "/api/v1/devices is not a FeatureCollection"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/v1/route?imei=1&date=$DAY&tz=Not/AZone")
[ "$code" = 400 ] || fail "a bad time zone answered $code, not 400"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/v1/route?imei=1&date=yesterday")
[ "$code" = 400 ] || fail "a bad date answered $code, not 400"

# ---- the map: one marker per device with a known position
want=$(q "SELECT count(*) FROM fleetarc.device_state s JOIN fleetarc.devices d ON d.imei = s.imei WHERE d.removed_at IS NULL AND s.longitude IS NOT NULL AND s.latitude IS NOT NULL AND NOT (s.longitude = 0 AND s.latitude = 0)")
chrome "$URL/map" "$T/map.html" 15000
grep -q 'class="leaflet-container' "$T/map.html" || grep -q 'id="map" class="[^"]*leaflet-container' "$T/map.html" ||
  fail "/map: no Leaflet container"
[ "$(attr "$T/map.html" data-ready)" = 1 ] || fail "/map: not ready ($(attr "$T/map.html" data-ready)): $(grep -o '<div id="info">.*</div>' "$T/map.html" | head -c 300)"
got=$(attr "$T/map.html" data-markers)
drawn=$(grep -o 'class="fa-marker' "$T/map.html" | wc -l)
echo "map: $got markers ($drawn SVG paths), device_state has $want positioned devices"
[ "$want" -gt 0 ] || fail "no device with a position"
[ "$got" = "$want" ] || fail "/map: $got markers, want $want"
[ "$drawn" = "$want" ] || fail "/map: $drawn marker paths drawn, want $want"
[ "$(attr "$T/map.html" data-errors)" = 0 ] || fail "/map: JavaScript errors: $(sed -n 's/.*<pre id="errors">\([^<]*\)<.*/\1/p' "$T/map.html")"
[ -z "$(js_errors "$T/map.html")" ] || fail "/map: console errors: $(js_errors "$T/map.html")"
shot "$URL/map" "$OUT/map.png" 15000

# ---- a device's route for a day: as many vertices as the database holds
for tz in UTC America/New_York; do
  row=$(q "WITH b AS (SELECT ('$DAY'::date::timestamp AT TIME ZONE '$tz') f, (('$DAY'::date + 1)::timestamp AT TIME ZONE '$tz') t)
           SELECT r.imei, count(*) FROM b, fleetarc.report_route(b.f, b.t) r GROUP BY r.imei ORDER BY count(*) DESC, r.imei LIMIT 1")
  imei=${row%|*} n=${row#*|}
  raw=$(q "SELECT count(*) FROM fleetarc.positions WHERE imei = '$imei' AND gpstime >= '$DAY'::date::timestamp AT TIME ZONE '$tz' AND gpstime < ('$DAY'::date + 1)::timestamp AT TIME ZONE '$tz'")
  [ -n "$imei" ] && [ "${n:-0}" -gt 1 ] || { fail "no route in the database for $DAY ($tz)"; continue; }
  tzq=${tz//\//%2F}
  chrome "$URL/map?imei=$imei&date=$DAY&tz=$tzq" "$T/route.html" 15000
  got=$(attr "$T/route.html" data-route-vertices)
  trips=$(attr "$T/route.html" data-route-trips)
  stops=$(attr "$T/route.html" data-route-stops)
  wtrips=$(q "SELECT count(*) FROM fleetarc.report_trips('$DAY'::date::timestamp AT TIME ZONE '$tz', ('$DAY'::date + 1)::timestamp AT TIME ZONE '$tz', ARRAY['$imei'])")
  echo "route $imei $DAY $tz: $got vertices drawn, report_route has $n ($raw stored positions); trips $trips (db $wtrips), stops $stops"
  [ "$got" = "$n" ] || fail "route ($tz): $got vertices drawn, the database holds $n"
  [ "$trips" = "$wtrips" ] || fail "route ($tz): $trips trips drawn, report_trips has $wtrips"
  grep -q 'class="[^"]*fa-route' "$T/route.html" || fail "route ($tz): no polyline drawn"
  [ "$(attr "$T/route.html" data-errors)" = 0 ] || fail "route ($tz): JavaScript errors"
  [ -z "$(js_errors "$T/route.html")" ] || fail "route ($tz): console errors: $(js_errors "$T/route.html")"
  [ "$tz" = UTC ] && shot "$URL/map?imei=$imei&date=$DAY&tz=$tzq" "$OUT/route.png" 15000
done

kill -0 "$FA_PID" || fail "fleetarc run ended"
ls -l "$OUT"
finish
