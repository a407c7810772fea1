#!/usr/bin/env bash
# `fleetarc report` and `fleetarc export` against the hand-made tracks of
# tests/sql/reports_handmade.sql: exact values in table, CSV and JSON, names, --tz and the
# knobs; GPX, KML and GeoJSON parsed by python3 (xml.etree / json) and checked point by
# point, GPX and KML read back by gpsbabel (times and speed).
set -euo pipefail
if [ -z "${PGHOST:-}" ]; then
  [ "${FLEETARC_REQUIRE_PG:-0}" = 1 ] && { echo "PGHOST unset but FLEETARC_REQUIRE_PG=1" >&2; exit 1; }
  echo "skip: no PostgreSQL (PGHOST unset)"; exit 77
fi
src=${FLEETARC_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${FLEETARC_BIN:-}
[ -x "$bin" ] || { echo "skip: FLEETARC_BIN not built"; exit 77; }
py=/usr/bin/python3
[ -x "$py" ] || { echo "skip: no /usr/bin/python3 to validate the exports"; exit 77; }
. "$src/tests/sql/lib.sh"
sqltest_createdb cli
sqltest_schema
sqltest_partitions 2026-11-01 2026-11-03
psql -X -q -t -A -o /dev/null -v ON_ERROR_STOP=1 -d "$SQLTEST_DB" -f "$src/tests/sql/reports_handmade.sql"
psql -X -q -v ON_ERROR_STOP=1 -d "$SQLTEST_DB" -c \
  "INSERT INTO fleetarc.devices (imei, account, devicename, platenumber) VALUES ('000000000000001', 'acc', 'Truck, 1', 'B-AB 123')"
db="dbname=$SQLTEST_DB"
fail() { echo "FAIL: $*" >&2; exit 1; }
A=000000000000001

# trips, CSV: exact rows (times UTC, km to 3 decimals)
out=$("$bin" report trips --from 2026-11-01 --to 2026-11-02 --imei $A --format csv --database "$db")
want=$'imei,name,plate,start,end,km,duration_s,avg_kmh,max_kmh,start_lon,start_lat,end_lon,end_lat\r
000000000000001,"Truck, 1",B-AB 123,2026-11-01T00:10:10Z,2026-11-01T00:19:50Z,6.449,580,40.0,120,10.001,0,10.059,0\r
000000000000001,"Truck, 1",B-AB 123,2026-11-01T00:30:10Z,2026-11-01T00:39:50Z,6.449,580,40.0,40,10.061,0,10.119,0\r
000000000000001,"Truck, 1",B-AB 123,2026-11-01T02:40:10Z,2026-11-01T02:49:40Z,6.338,570,40.0,40,10.122,0,10.179,0\r'
[ "$out" = "$want" ] || fail "trips csv: got"$'\n'"$out"

# --tz: times with the zone's offset; --min-distance and --gap reach the SQL
out=$("$bin" report trips --from 2026-11-01 --to 2026-11-02 --imei $A --tz Asia/Shanghai --format csv --database "$db")
echo "$out" | grep -q ',2026-11-01T08:10:10+08:00,2026-11-01T08:19:50+08:00,6.449,' || fail "trips --tz: $out"
out=$("$bin" report trips --from 2026-11-01 --to 2026-11-02 --imei $A --min-distance 10000 --format csv --database "$db")
[ "$(echo "$out" | wc -l)" = 1 ] || fail "trips --min-distance 10000: $out"
out=$("$bin" report trips --from 2026-11-01 --to 2026-11-02 --imei $A --gap 3h --format csv --database "$db")
echo "$out" | grep -q ',2026-11-01T00:30:10Z,2026-11-01T00:40:00Z,' || fail "trips --gap 3h: $out"
out=$("$bin" report trips --from 2026-11-01 --to 2026-11-02 --imei $A --min-duration 20m --format csv --database "$db")
# the 10-minute stay between trips 1 and 2 is no stop any more: one trip of both
echo "$out" | grep -q ',2026-11-01T00:10:10Z,2026-11-01T00:39:50Z,13.121,1780,' || fail "trips --min-duration 20m: $out"

# latest, route, speeding with --limit-kmh, summary
out=$("$bin" report latest --from 2026-11-01 --to 2026-11-02 --tz America/Los_Angeles --format csv --database "$db")
[ "$out" = $'imei,name,plate,time,longitude,latitude,speed_kmh,course\r
000000000000001,"Truck, 1",B-AB 123,2026-10-31T20:02:50-07:00,10.18,0,0,90\r
000000000000002,,,2026-10-31T17:40:00-07:00,31,0,0,0\r' ] || fail "latest: $out"
out=$("$bin" report route --from 2026-11-01T00:10:00Z --to 2026-11-01T00:10:20Z --imei $A --format csv --database "$db")
[ "$out" = $'imei,name,plate,time,longitude,latitude,speed_kmh,course,step_km,total_km\r
000000000000001,"Truck, 1",B-AB 123,2026-11-01T00:10:00Z,10,0,0,90,0.000,0.000\r
000000000000001,"Truck, 1",B-AB 123,2026-11-01T00:10:10Z,10.001,0,40,90,0.111,0.111\r' ] || fail "route: $out"
out=$("$bin" report speeding --from 2026-11-01 --to 2026-11-02 --limit-kmh 100 --format csv --database "$db")
[ "$(echo "$out" | tail -n 1)" = $'000000000000001,"Truck, 1",B-AB 123,2026-11-01T00:14:10Z,2026-11-01T00:14:10Z,0,120,1,10.025,0\r' ] \
  || fail "speeding --limit-kmh 100: $out"
out=$("$bin" report summary --from 2026-11-01 --to 2026-11-02 --imei $A --format json --database "$db")
"$py" - "$out" <<'PY' || fail "summary json: $out"
import json, sys
r, = json.loads(sys.argv[1])
want = {"imei": "000000000000001", "name": "Truck, 1", "plate": "B-AB 123", "day": "2026-11-01",
        "km": 20.015, "max_kmh": 120, "avg_kmh": 40.0, "moving_s": 1730, "stopped_s": 9240,
        "engine_s": None, "trips": 3, "alarms": 3, "points": 214,
        "first": "2026-11-01T00:00:00Z", "last": "2026-11-01T03:02:50Z"}
assert r == want, r
PY
# reports.timezone of the configuration when --tz is not given
cfgdir=$(mktemp -d)
printf 'api:\n  base_url: https://h\naccounts:\n  - account: a\n    password: "Abc@34590"\ndatabase:\n  conninfo: "%s"\nreports:\n  timezone: Asia/Shanghai\n' "$db" >"$cfgdir/f.yaml"
out=$("$bin" -c "$cfgdir/f.yaml" report distance --from 2026-11-01 --to 2026-11-02 --imei $A --format csv)
echo "$out" | grep -q '^000000000000001,"Truck, 1",B-AB 123,2026-11-01,20.015,214' || fail "reports.timezone: $out"
out=$("$bin" -c "$cfgdir/f.yaml" report latest --from 2026-11-01 --to 2026-11-02 --imei $A --format csv)
echo "$out" | grep -q ',2026-11-01T11:02:50+08:00,' || fail "reports.timezone times: $out"
out=$("$bin" -c "$cfgdir/f.yaml" report latest --from 2026-11-01 --to 2026-11-02 --imei $A --tz UTC --format csv)
echo "$out" | grep -q ',2026-11-01T03:02:50Z,' || fail "--tz over reports.timezone: $out"
rm -rf "$cfgdir"

# distance, JSON: numbers bare
out=$("$bin" report distance --from 2026-11-01 --to 2026-11-02 --format json --database "$db")
"$py" - "$out" <<'PY' || fail "distance json: $out"
import json, sys
rows = json.loads(sys.argv[1])
assert [r["imei"] for r in rows] == ["000000000000001", "000000000000002"], rows
assert rows[0]["km"] == 20.015 and rows[0]["points"] == 214 and rows[0]["day"] == "2026-11-01", rows[0]
assert rows[1]["km"] == 0, rows[1]
PY

# refresh (sql/104): the finished day stored ahead, one row; no --imei
out=$("$bin" report refresh --from 2026-11-01 --to 2026-11-02 --format csv --database "$db")
[ "$(echo "$out" | tr -d '\r' | tr '\n' ' ')" = 'day,devices,stored 2026-11-01,2,t ' ] || fail "refresh: $out"
rc=0; "$bin" report refresh --from 2026-11-01 --to 2026-11-02 --imei $A --database "$db" >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "refresh --imei: exit $rc, want 2"
# stops and gaps, table: aligned columns, row count line
out=$("$bin" report stops --from 2026-11-01 --to 2026-11-02 --imei 000000000000002 --database "$db")
echo "$out" | grep -q '^000000000000002               2026-11-01T00:00:00Z  2026-11-01T00:40:00Z        2400         30         0$' \
  || fail "stops table: $out"
echo "$out" | grep -q '^(1 row)$' || fail "stops row count: $out"
out=$("$bin" report gaps --from 2026-11-01 --to 2026-11-02 --format csv --database "$db")
[ "$(echo "$out" | tail -n 1)" = $'000000000000001,"Truck, 1",B-AB 123,2026-11-01T00:40:00Z,2026-11-01T02:40:00Z,7200,10.12,0\r' ] \
  || fail "gaps csv: $out"
out=$("$bin" report alarms --from 2026-11-01 --to 2026-11-03 --format csv --database "$db")
echo "$out" | grep -q '^000000000000001,"Truck, 1",B-AB 123,2026-11-01,1,sosAlarm,2,2026-11-01T00:01:40Z,2026-11-01T00:15:00Z' \
  || fail "alarms csv: $out"

# bad usage is exit 2, a database error exit 1
work0=$(mktemp -d)
set +e
"$bin" report trips --from 2026-11-02 --to 2026-11-01 --database "$db" 2>/dev/null; [ $? -eq 2 ] || fail "--to before --from"
"$bin" report speed --from 2026-11-01 --to 2026-11-02 2>/dev/null; [ $? -eq 2 ] || fail "unknown kind"
"$bin" report trips --from 2026-11-01 --to 2026-11-02 --tz 'Europe/../x' 2>/dev/null; [ $? -eq 2 ] || fail "bad --tz"
"$bin" report trips --from 2026-11-01 --to 2026-11-02 --gap soon 2>/dev/null; [ $? -eq 2 ] || fail "bad --gap"
"$bin" report speeding --from 2026-11-01 --to 2026-11-02 --limit-kmh -3 2>/dev/null; [ $? -eq 2 ] || fail "bad --limit-kmh"
"$bin" export --all $A --from 2026-11-01 --to 2026-11-02 --format gpx 2>/dev/null; [ $? -eq 2 ] || fail "export IMEI and --all"
"$bin" report trips --from 2026-11-01 --to 2026-11-02 --tz Mars/Olympus --database "$db" 2>"$work0/err"
[ $? -eq 1 ] && grep -q 'Mars/Olympus' "$work0/err" || fail "unknown --tz: $(cat "$work0/err")"
"$bin" report trips --from 2026-11-01 --to 2026-11-02 --database "dbname=${SQLTEST_DB}_none" 2>/dev/null
[ $? -eq 1 ] || fail "missing database"
set -e

# export: GPX 1.1 valid XML with every stored point of the range, in order, a track per device
work=$(mktemp -d); trap 'rm -rf "$work" "$work0"; dropdb --if-exists "$SQLTEST_DB" >/dev/null 2>&1 || true' EXIT
B=000000000000002
"$bin" export $A,$B --from 2026-11-01T00:09:00Z --to 2026-11-01T00:11:00Z --format gpx --output "$work/t.gpx" --database "$db"
"$py" - "$work/t.gpx" <<'PY' || fail "gpx: $(cat "$work/t.gpx")"
import sys, xml.etree.ElementTree as ET
ns = {"g": "http://www.topografix.com/GPX/1/1", "x": "http://www.garmin.com/xmlschemas/TrackPointExtension/v2"}
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "{http://www.topografix.com/GPX/1/1}gpx" and root.get("version") == "1.1"
trks = root.findall("g:trk", ns)
assert [t.find("g:name", ns).text for t in trks] == ["Truck, 1 (B-AB 123)", "000000000000002"]
pts = trks[0].findall("g:trkseg/g:trkpt", ns)
# 540, 600 parked at 10.0, then 610..650 every 10 s (660 is --to: excluded)
assert len(pts) == 7, len(pts)
assert (pts[0].get("lon"), pts[0].get("lat"), pts[0].find("g:time", ns).text) == ("10", "0", "2026-11-01T00:09:00Z")
assert (pts[2].get("lon"), pts[2].find("g:time", ns).text) == ("10.001", "2026-11-01T00:10:10Z")
ext = pts[2].find("g:extensions/x:TrackPointExtension", ns)
assert ext.find("x:speed", ns).text == "11.111" and ext.find("x:course", ns).text == "90"
assert len(trks[1].findall("g:trkseg/g:trkpt", ns)) == 2
PY
if command -v gpsbabel >/dev/null; then
  # read back by gpsbabel: times and speed (m/s) of every point
  gpsbabel -t -i gpx -f "$work/t.gpx" -o unicsv,utc=0 -F "$work/gpx.csv"
  "$py" - "$work/gpx.csv" <<'PY' || fail "gpsbabel gpx: $(cat "$work/gpx.csv")"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 9, len(rows)
r = rows[2]
assert (r["Longitude"], r["Date"], r["Time"], r["Speed"], r["Course"]) == ("10.001000", "2026/11/01", "00:10:10", "11.11", "90.0"), r
assert rows[0]["Speed"] == "0.00" and rows[7]["Longitude"] == "30.000000", rows
PY
  "$bin" export --all --from 2026-11-01T00:09:00Z --to 2026-11-01T00:11:00Z --format kml --tz Asia/Shanghai --database "$db" >"$work/t.kml"
  gpsbabel -t -i kml -f "$work/t.kml" -o unicsv,utc=0 -F "$work/kml.csv"
  "$py" - "$work/kml.csv" <<'PY' || fail "gpsbabel kml: $(cat "$work/kml.csv")"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 9, len(rows)
assert (rows[2]["Longitude"], rows[2]["Date"], rows[2]["Time"]) == ("10.001000", "2026/11/01", "00:10:10"), rows[2]
PY
else
  [ "${FLEETARC_REQUIRE_GPSBABEL:-0}" = 1 ] && fail "gpsbabel is not installed"
  echo "note: no gpsbabel: the read-back checks are skipped"
fi
"$bin" export $A --from 2026-11-01T00:09:00Z --to 2026-11-01T00:11:00Z --format kml --tz Asia/Shanghai --database "$db" >"$work/t.kml"
"$py" - "$work/t.kml" <<'PY' || fail "kml"
import sys, xml.etree.ElementTree as ET
k = "{http://www.opengis.net/kml/2.2}"; gx = "{http://www.google.com/kml/ext/2.2}"
root = ET.parse(sys.argv[1]).getroot()
pm = root.findall(f".//{k}Placemark")
assert len(pm) == 1 and pm[0].find(f"{k}name").text == "Truck, 1 (B-AB 123)"
when = [w.text for w in pm[0].iter(f"{k}when")]
coord = [c.text for c in pm[0].iter(f"{gx}coord")]
assert len(when) == 7 and when[0] == "2026-11-01T08:09:00+08:00", when
assert coord[0] == "10 0 0" and coord[-1] == "10.005 0 0", coord
speeds = [v.text for a in pm[0].iter(f"{gx}SimpleArrayData") if a.get("name") == "speed_kmh" for v in a]
assert speeds == ["0", "0", "40", "40", "40", "40", "40"], speeds
PY

# GeoJSON (RFC 7946): a FeatureCollection; a LineString per device with 2+ points, a Point
# for one point, no feature (and a word on stderr) for none
geojson_ok() {  # FILE N_FEATURES: the structure RFC 7946 asks for
  "$py" - "$1" "$2" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))
assert f["type"] == "FeatureCollection" and isinstance(f["features"], list), f
assert len(f["features"]) == int(sys.argv[2]), f
for ft in f["features"]:
    assert ft["type"] == "Feature" and isinstance(ft["properties"], dict)
    g = ft["geometry"]
    def pos(p): return isinstance(p, list) and len(p) in (2, 3) and all(isinstance(x, (int, float)) for x in p) \
        and -180 <= p[0] <= 180 and -90 <= p[1] <= 90
    if g["type"] == "Point": assert pos(g["coordinates"]), g
    elif g["type"] == "LineString": assert len(g["coordinates"]) >= 2 and all(map(pos, g["coordinates"])), g
    else: raise AssertionError(g)
    assert len(ft["properties"]["times"]) == (1 if g["type"] == "Point" else len(g["coordinates"]))
PY
}
"$bin" export $A --from 2026-11-01T00:09:00Z --to 2026-11-01T00:11:00Z --format geojson --database "$db" >"$work/t.json"
geojson_ok "$work/t.json" 1 || fail "geojson: $(cat "$work/t.json")"
"$py" - "$work/t.json" <<'PY' || fail "geojson values"
import json, sys
f = json.load(open(sys.argv[1]))["features"][0]
assert f["geometry"]["type"] == "LineString" and f["geometry"]["coordinates"][2] == [10.001, 0]
p = f["properties"]
assert (p["imei"], p["name"], p["plate"]) == ("000000000000001", "Truck, 1", "B-AB 123") and len(p["times"]) == 7
assert p["speeds_kmh"][2] == 40 and p["courses_deg"][2] == 90
PY
"$bin" export $A --from 2026-11-01T00:10:00Z --to 2026-11-01T00:10:01Z --format geojson --database "$db" >"$work/one.json" 2>"$work/one.err"
geojson_ok "$work/one.json" 1 || fail "one-point geojson: $(cat "$work/one.json")"
grep -q '"type": "Point", "coordinates": \[10, 0\]' "$work/one.json" || fail "one point is a Point: $(cat "$work/one.json")"
[ ! -s "$work/one.err" ] || fail "one point: stderr $(cat "$work/one.err")"
"$bin" export --all --from 2026-11-05 --to 2026-11-06 --format geojson --database "$db" >"$work/none.json" 2>"$work/none.err"
geojson_ok "$work/none.json" 0 || fail "empty geojson: $(cat "$work/none.json")"
grep -q 'the export is empty' "$work/none.err" || fail "empty export not said: $(cat "$work/none.err")"
"$bin" export $A --from 2026-11-05 --to 2026-11-06 --format gpx --database "$db" 2>"$work/none.err" | "$py" -c 'import sys, xml.etree.ElementTree as ET; ET.parse(sys.stdin)' \
  || fail "empty gpx"
grep -q 'the export is empty' "$work/none.err" || fail "empty gpx not said"

out=$("$bin" export $A --from 2026-11-01T00:10:00Z --to 2026-11-01T00:10:20Z --format csv --tz America/Los_Angeles --database "$db")
[ "$out" = $'imei,name,plate,time,longitude_deg,latitude_deg,speed_kmh,course_deg\r
000000000000001,"Truck, 1",B-AB 123,2026-10-31T17:10:00-07:00,10,0,0,90\r
000000000000001,"Truck, 1",B-AB 123,2026-10-31T17:10:10-07:00,10.001,0,40,90\r' ] \
  || fail "export csv: $out"
echo "ok: report and export outputs checked"
