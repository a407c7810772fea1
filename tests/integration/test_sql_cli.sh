#!/usr/bin/env bash
# `fleetarc report` and `fleetarc export` against the hand-made tracks of
# tests/sql/reports_handmade.sql: exact values in table, CSV and JSON; GPX, KML and
# GeoJSON parsed by python3 (xml.etree / json) and checked point by point.
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
db="dbname=$SQLTEST_DB"
fail() { echo "FAIL: $*" >&2; exit 1; }
A=000000000000001

# trips, CSV: exact rows (times UTC, km to 3 decimals)
out=$("$bin" report trips --from 2026-11-01 --to 2026-11-02 --imei $A --format csv --database "$db")
want=$'imei,start,end,km,duration_s,avg_kmh,max_kmh,start_lon,start_lat,end_lon,end_lat\r
000000000000001,2026-11-01T00:10:10Z,2026-11-01T00:19:50Z,6.449,580,40.0,120,10.001,0,10.059,0\r
000000000000001,2026-11-01T00:30:10Z,2026-11-01T00:39:50Z,6.449,580,40.0,40,10.061,0,10.119,0\r
000000000000001,2026-11-01T02:40:10Z,2026-11-01T02:49:40Z,6.338,570,40.0,40,10.122,0,10.179,0\r'
[ "$out" = "$want" ] || fail "trips csv: got"$'\n'"$out"

# distance, JSON: numbers bare
out=$("$bin" report distance --from 2026-11-01 --to 2026-11-02 --format json --database "$db")
"$py" - "$out" <<'PY' || fail "distance json: $out"
import json, sys
rows = json.loads(sys.argv[1])
assert [r["imei"] for r in rows] == ["000000000000001", "000000000000002"], rows
assert rows[0]["km"] == 20.015 and rows[0]["points"] == 214 and rows[0]["day"] == "2026-11-01", rows[0]
assert rows[1]["km"] == 0, rows[1]
PY

# stops and gaps, table: aligned columns, row count line
out=$("$bin" report stops --from 2026-11-01 --to 2026-11-02 --imei 000000000000002 --database "$db")
echo "$out" | grep -q '^000000000000002  2026-11-01T00:00:00Z  2026-11-01T00:40:00Z        2400         30         0$' \
  || fail "stops table: $out"
echo "$out" | grep -q '^(1 row)$' || fail "stops row count: $out"
out=$("$bin" report gaps --from 2026-11-01 --to 2026-11-02 --format csv --database "$db")
[ "$(echo "$out" | tail -n 1)" = $'000000000000001,2026-11-01T00:40:00Z,2026-11-01T02:40:00Z,7200,10.12,0\r' ] \
  || fail "gaps csv: $out"
out=$("$bin" report alarms --from 2026-11-01 --to 2026-11-03 --format csv --database "$db")
echo "$out" | grep -q '^000000000000001,2026-11-01,1,sosAlarm,2,2026-11-01T00:01:40Z,2026-11-01T00:15:00Z' \
  || fail "alarms csv: $out"

# bad usage is exit 2, a database error exit 1
set +e
"$bin" report trips --from 2026-11-02 --to 2026-11-01 --database "$db" 2>/dev/null; [ $? -eq 2 ] || fail "--to before --from"
"$bin" report speed --from 2026-11-01 --to 2026-11-02 2>/dev/null; [ $? -eq 2 ] || fail "unknown kind"
"$bin" report trips --from 2026-11-01 --to 2026-11-02 --database "dbname=${SQLTEST_DB}_none" 2>/dev/null
[ $? -eq 1 ] || fail "missing database"
set -e

# export: GPX 1.1 valid XML with every stored point of the range, in order
work=$(mktemp -d); trap 'rm -rf "$work"; dropdb --if-exists "$SQLTEST_DB" >/dev/null 2>&1 || true' EXIT
"$bin" export $A --from 2026-11-01T00:09:00Z --to 2026-11-01T00:11:00Z --format gpx --output "$work/t.gpx" --database "$db"
"$py" - "$work/t.gpx" <<'PY' || fail "gpx: $(cat "$work/t.gpx")"
import sys, xml.etree.ElementTree as ET
ns = {"g": "http://www.topografix.com/GPX/1/1"}
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "{http://www.topografix.com/GPX/1/1}gpx" and root.get("version") == "1.1"
pts = root.findall("g:trk/g:trkseg/g:trkpt", ns)
# 540, 600 parked at 10.0, then 610..650 every 10 s (660 is --to: excluded)
assert len(pts) == 7, len(pts)
assert (pts[0].get("lon"), pts[0].get("lat"), pts[0].find("g:time", ns).text) == ("10", "0", "2026-11-01T00:09:00Z")
assert (pts[2].get("lon"), pts[2].find("g:time", ns).text) == ("10.001", "2026-11-01T00:10:10Z")
assert root.find("g:trk/g:name", ns).text == "000000000000001"
PY
"$bin" export $A --from 2026-11-01T00:09:00Z --to 2026-11-01T00:11:00Z --format kml --database "$db" >"$work/t.kml"
"$py" - "$work/t.kml" <<'PY' || fail "kml"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
c = root.find(".//{http://www.opengis.net/kml/2.2}coordinates").text.split()
assert len(c) == 7 and c[0] == "10,0" and c[-1] == "10.005,0", c
PY
"$bin" export $A --from 2026-11-01T00:09:00Z --to 2026-11-01T00:11:00Z --format geojson --database "$db" >"$work/t.json"
"$py" - "$work/t.json" <<'PY' || fail "geojson"
import json, sys
f = json.load(open(sys.argv[1]))
assert f["type"] == "Feature" and f["geometry"]["type"] == "LineString"
assert len(f["geometry"]["coordinates"]) == 7 and f["geometry"]["coordinates"][2] == [10.001, 0]
assert f["properties"]["imei"] == "000000000000001" and len(f["properties"]["times"]) == 7
PY
out=$("$bin" export $A --from 2026-11-01T00:10:00Z --to 2026-11-01T00:10:20Z --format csv --database "$db")
[ "$out" = $'gpstime,longitude,latitude,speed,course\r\n2026-11-01T00:10:00Z,10,0,0,90\r\n2026-11-01T00:10:10Z,10.001,0,40,90\r' ] \
  || fail "export csv: $out"
echo "ok: report and export outputs checked"
