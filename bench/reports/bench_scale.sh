#!/usr/bin/env bash
# The SQL reports at the size of a real archive (issue 22): a month (November 2026) for N
# devices shaped like a fleet (each day 8 h of driving in four 2 h blocks with a point
# every 30 s, 40 min stops with a point every 5 min, nothing at night: ~984 points a
# device-day), generated in SQL. Each report is timed at 10 % of the month loaded (days
# 1-3) and at 100 % (days 1-30) on the same day (Nov 2, all devices), against the
# per-device key floor: that day's rows read through the primary key, device by device,
# twice: computed at query time (caches emptied) and stored ahead (refresh_device_days).
# At 100 % also the 30-day distance and summary of all devices (cold: the device-day
# summaries computed and stored; warm: read), against computing them from positions, and
# the writer's cost of the statement triggers (a COPY of one day's rows, triggers on/off).
#
# Usage: bench/reports/bench_scale.sh [N] (default 200; 2,000 is the issue's size and
# takes hours on a busy 2-core machine). The rows' order on disk decides the floor:
# SCALE_LAYOUT=time (the default) stores each day in time order, all devices interleaved
# (as the live poll writes them: a device's day is spread over the whole day's pages);
# SCALE_LAYOUT=day stores each day device after device (a backfill run day by day);
# SCALE_LAYOUT=device stores each device's month together (a backfill of a month).
# Needs PG* variables (e.g. scripts/lib.sh's pg_start_throwaway); FLEETARC_BIN, if set,
# provides `fleetarc migrate`.
# Prints a Markdown section (rows: figure | report | floor | ratio | target) between
# <!-- reports-scale --> markers; RESULTS=FILE replaces that section in FILE (or appends
# it). Figures are never asserted. Every time is one psql \timing (client round trip
# included); "warm" times are the median of 3.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-200}
case $n in '' | *[!0-9]*) echo "bench_scale.sh: N must be a number of devices, not '$n'" >&2; exit 2 ;; esac
case ${SCALE_LAYOUT:-time} in time | day | device) ;;
  *) echo "bench_scale.sh: SCALE_LAYOUT must be time, day or device, not '$SCALE_LAYOUT'" >&2; exit 2 ;; esac
. "$src/tests/sql/lib.sh"
: "${PGHOST:?set PG* variables for the PostgreSQL to use}"

sqltest_createdb benchscale
sqltest_schema
sqltest_partitions 2026-10-01 2026-12-31
q() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$SQLTEST_DB" "$@"; }
log() { echo "bench_scale: $*" >&2; }

# seconds of one statement (\timing), and the median of 3
timed() {
  psql -X -q -d "$SQLTEST_DB" -v ON_ERROR_STOP=1 -c '\timing on' -c "$1" -o /dev/null |
    sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | awk '{printf "%.3f\n", $1 / 1000}'
}
median3() { local i; for i in 1 2 3; do timed "$1"; done | sort -n | sed -n 2p; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a / b }'; }

# gen FIRST_DAY LAST_DAY: the rows of those days of November for devices 1..n, day by day
# in the order of SCALE_LAYOUT (above); device: all the days at once, device after device
gen() {
  local d0
  if [ "${SCALE_LAYOUT:-time}" = device ]; then
    gen_rows "$1" "$2"
  else
    for d0 in $(seq "$1" "$2"); do gen_rows "$d0" "$d0"; done
  fi
  q -c "VACUUM ANALYZE fleetarc.positions" 2>/dev/null
}
gen_rows() {
  local order="2"   # time: all devices interleaved; day, device: device after device
  [ "${SCALE_LAYOUT:-time}" != time ] && order="1, 2"
  q <<SQL
INSERT INTO fleetarc.positions (imei, gpstime, longitude, latitude, speed, course)
SELECT '86' || lpad(d::text, 13, '0'),
       timestamptz '2026-11-01 00:00:00+00' + (day - 1) * interval '1 day'
         + (21600 + (d % 60) * 60 + b * 9600 + s) * interval '1 s',
       round((home_lon + CASE WHEN s < 7200 THEN least(s, 7200 - s) / 30 * 0.0056 * cos(h)
                              ELSE ((d * 7 + s) % 3 - 1) * 0.00001 END)::numeric, 6)::float8,
       round((home_lat + CASE WHEN s < 7200 THEN least(s, 7200 - s) / 30 * 0.0037 * sin(h)
                              ELSE 0 END)::numeric, 6)::float8,
       CASE WHEN s < 7200 THEN 50 ELSE 0 END,
       CASE WHEN s < 7200 THEN ((degrees(h))::integer + 360) % 360 ELSE 0 END
FROM generate_series(1, $n) d,
     LATERAL (SELECT 8 + (d % 100) * 0.05 AS home_lon, 47 + (d / 100 % 50) * 0.05 AS home_lat) hm,
     generate_series($1, $2) day,
     generate_series(0, 3) b,
     LATERAL (SELECT radians((d * 37 + day * 11 + b * 90) % 360) AS h) hh,
     (SELECT s FROM generate_series(0, 7170, 30) s
      UNION ALL SELECT s FROM generate_series(7200, 9300, 300) s) ss
ORDER BY $order;
SQL
}

day="'2026-11-02'::timestamptz, '2026-11-03'::timestamptz"
floor_q="SELECT count(*), sum(x.longitude) FROM fleetarc.devices v CROSS JOIN LATERAL (
  SELECT p.longitude FROM fleetarc.positions p WHERE p.imei = v.imei
    AND p.gpstime >= '2026-11-02' AND p.gpstime < '2026-11-03' ORDER BY p.gpstime) x"
declare -A rq=(
  [distance]="SELECT count(*), sum(km) FROM fleetarc.report_distance($day)"
  [gaps]="SELECT count(*) FROM fleetarc.report_gaps($day)"
  [trips]="SELECT count(*), sum(distance_km) FROM fleetarc.report_trips($day)"
  [stops]="SELECT count(*) FROM fleetarc.report_stops($day)"
  [summary]="SELECT count(*), sum(distance_km) FROM fleetarc.report_summary($day)"
  [latest]="SELECT count(*) FROM fleetarc.report_latest($day)"
  [route]="SELECT count(*), max(total_km) FROM fleetarc.report_route($day)"
)
order="distance gaps trips stops summary latest route"
# the caches emptied: every first call computes
clear() { q -c "TRUNCATE fleetarc.motion_cache, fleetarc.device_day, fleetarc.device_day_done"; }

rows=()   # figure|report|floor|ratio|target
row() { rows+=("$1|$2|$3|$4|$5"); }

# one_day LABEL (10 or 100): each report of Nov 2 for all devices, computed at query time
# (caches emptied first: the report computes, and stores what it stores) and stored (the
# day stored ahead by fleetarc.refresh_device_days, as `fleetarc report refresh` keeps it;
# median of 3); gaps, latest and route store nothing and compute both times.
one_day() {
  local label=$1 fl fl_jit r c s rf at
  at=$([ "$label" = 10 ] && echo "3 days" || echo "30 days")
  # the floor is the read alone: without JIT, whose compilation (0.1 to 0.4 s here) the
  # read does not need and the reports that compute in PL/pgSQL do not pay (SET jit = off,
  # sql/082 and after); with PostgreSQL's defaults it is noted beside
  fl=$(PGOPTIONS="${PGOPTIONS:-} -c jit=off" median3 "$floor_q")
  fl_jit=$(median3 "$floor_q")
  log "$label: floor $fl s (with JIT on: $fl_jit s)"
  declare -A comp
  for r in $order; do
    clear
    comp[$r]=$(timed "${rq[$r]}")
  done
  clear
  rf=$(timed "SELECT count(*) FROM fleetarc.refresh_device_days($day, 'UTC')")
  log "$label: refresh_device_days of the day $rf s"
  for r in $order; do
    c=${comp[$r]}
    s=$(median3 "${rq[$r]}")
    log "$label: $r computed $c s, stored $s s"
    row "all-device $r of one day at $at loaded, computed at query time, s ($n devices, $rows_day rows that day)" \
      "$c" "$fl (the day through the key, device by device)" "$(ratio "$c" "$fl")" "<= 2"
    row "all-device $r of one day at $at loaded, stored ahead, s (refresh_device_days of the day: $rf s)" \
      "$s" "$fl" "$(ratio "$s" "$fl")" "<= 2"
  done
  [ "$label" = 10 ] && floor10=$fl && floor10_jit=$fl_jit
  [ "$label" = 100 ] && floor100=$fl && floor100_jit=$fl_jit
  return 0
}

q -c "INSERT INTO fleetarc.devices (imei, account, devicename, platenumber)
      SELECT '86' || lpad(d::text, 13, '0'), 'bench', 'car ' || d, 'B-' || d
      FROM generate_series(1, $n) d"
log "generating days 1-3 for $n devices"
gen 1 3
rows_day=$(q -c "SELECT count(*) FROM fleetarc.positions WHERE gpstime >= '2026-11-02' AND gpstime < '2026-11-03'")
one_day 10
log "generating days 4-30"
t0=$(date +%s)
gen 4 30
log "generated in $(($(date +%s) - t0)) s"
rows_all=$(q -c "SELECT count(*) FROM fleetarc.positions")
one_day 100

# 30 days, all devices
month="'2026-11-01'::timestamptz, '2026-12-01'::timestamptz"
clear
live_d=$(timed "SELECT count(*), sum(km) FROM fleetarc.distance_live($month, NULL, 250, 'UTC')")
cold_d=$(timed "SELECT count(*), sum(km) FROM fleetarc.report_distance($month)")
warm_d=$(median3 "SELECT count(*), sum(km) FROM fleetarc.report_distance($month)")
same_d=$(q -c "SELECT count(*) FROM (
  (SELECT imei, day, round(km::numeric, 9), points FROM fleetarc.report_distance($month)
   EXCEPT SELECT imei, day, round(km::numeric, 9), points FROM fleetarc.distance_live($month, NULL, 250, 'UTC'))
  UNION ALL
  (SELECT imei, day, round(km::numeric, 9), points FROM fleetarc.distance_live($month, NULL, 250, 'UTC')
   EXCEPT SELECT imei, day, round(km::numeric, 9), points FROM fleetarc.report_distance($month))) x")
log "30-day distance: live $live_d s, cold $cold_d s, warm $warm_d s, rows differing from live: $same_d"
clear
cold_s=$(timed "SELECT count(*), sum(distance_km) FROM fleetarc.report_summary($month)")
clear
ref_m=$(timed "SELECT count(*) FROM fleetarc.refresh_device_days($month, 'UTC')")
log "30-day refresh_device_days: $ref_m s"
# as fleetarc keeps them: stored ahead by the refresh (which also purges the write notes
# nothing needs any more; the generator's 30 statements a device left them all)
ahead_d=$(median3 "SELECT count(*), sum(km) FROM fleetarc.report_distance($month)")
ahead_s=$(median3 "SELECT count(*), sum(distance_km) FROM fleetarc.report_summary($month)")
log "30-day after refresh_device_days: distance $ahead_d s, summary $ahead_s s"
warm_s=$(median3 "SELECT count(*), sum(distance_km) FROM fleetarc.report_summary($month)")
# computed from positions: the same call in a REPEATABLE READ transaction, where neither
# device_day nor motion_cache is read or written (sql/081's path with an empty cache)
live_s=$(psql -X -q -d "$SQLTEST_DB" -v ON_ERROR_STOP=1 -c '\timing on' \
           -c "BEGIN ISOLATION LEVEL REPEATABLE READ" \
           -c "SELECT count(*), sum(distance_km) FROM fleetarc.report_summary($month)" -c "COMMIT" \
           -o /dev/null | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | sed -n 2p |
         awk '{printf "%.3f\n", $1 / 1000}')
log "30-day summary: cold $cold_s s, warm $warm_s s; computed from positions $live_s s"
one_imei="ARRAY['860000000000001']"
warm_1=$(median3 "SELECT count(*), sum(km) FROM fleetarc.report_distance($month, $one_imei)")
row "30-day distance, all devices, s ($n devices, $rows_all rows; cold (summaries computed and stored) $cold_d s; $same_d rows differ from the live result)" \
  "$warm_d" "$live_d (computed from positions, sql/081)" "$(ratio "$warm_d" "$live_d")" "< 2 s at 2,000"
row "30-day summary, all devices, s ($n devices; cold (summaries computed and stored) $cold_s s)" \
  "$warm_s" "$live_s (computed from positions, nothing stored)" "$(ratio "$warm_s" "$live_s")" "< 2 s at 2,000"
row "30-day distance, one device, s (from the summaries)" "$warm_1" "-" "-" "-"
row "30-day distance, all devices, stored ahead by refresh_device_days, s" "$ahead_d" "$live_d" "$(ratio "$ahead_d" "$live_d")" "< 2 s at 2,000"
row "30-day summary, all devices, stored ahead by refresh_device_days, s" "$ahead_s" "$live_s" "$(ratio "$ahead_s" "$live_s")" "< 2 s at 2,000"
row "30-day refresh_device_days, all devices, s (the month's device-days and one-day trips/stops stored ahead)" "$ref_m" "-" "-" "-"

# the writer: the statement triggers' cost on a COPY of one day's rows (Nov 30)
wf=$(mktemp /tmp/bench_scale.XXXXXX)
chmod 644 "$wf"
q -c "\\copy (SELECT * FROM fleetarc.positions WHERE gpstime >= '2026-11-30' AND gpstime < '2026-12-01') TO '$wf' (FORMAT binary)"
copy_rows=$(q -c "DELETE FROM fleetarc.positions WHERE gpstime >= '2026-11-30' AND gpstime < '2026-12-01' RETURNING 1" | wc -l)
q -c "VACUUM fleetarc.positions" 2>/dev/null
copy_t=()
for on in on off on off; do
  if [ $on = off ]; then
    q -c "DO \$\$ DECLARE r regclass; BEGIN FOR r IN SELECT 'fleetarc.positions'::regclass UNION ALL SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'fleetarc.positions'::regclass LOOP EXECUTE format('ALTER TABLE %s DISABLE TRIGGER USER', r); END LOOP; END \$\$"
  fi
  t=$(psql -X -q -d "$SQLTEST_DB" -v ON_ERROR_STOP=1 -c '\timing on' \
        -c "\\copy fleetarc.positions FROM '$wf' (FORMAT binary)" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1)
  copy_t+=("$on:$t")
  q -c "DO \$\$ DECLARE r regclass; BEGIN FOR r IN SELECT 'fleetarc.positions'::regclass UNION ALL SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'fleetarc.positions'::regclass LOOP EXECUTE format('ALTER TABLE %s ENABLE TRIGGER USER', r); END LOOP; END \$\$"
  q -c "DELETE FROM fleetarc.positions WHERE gpstime >= '2026-11-30' AND gpstime < '2026-12-01'"
  q -c "VACUUM fleetarc.positions" 2>/dev/null
done
rm -f "$wf"
cp_on=$(printf '%s\n' "${copy_t[@]}" | awk -F: '$1 == "on" { s += $2; n++ } END { printf "%.3f", s / n / 1000 }')
cp_off=$(printf '%s\n' "${copy_t[@]}" | awk -F: '$1 == "off" { s += $2; n++ } END { printf "%.3f", s / n / 1000 }')
log "writer: COPY of $copy_rows rows: triggers on $cp_on s, off $cp_off s"
row "writer: COPY of one day's $copy_rows rows into positions with the statement triggers, s (mean of 2)" \
  "$cp_on" "$cp_off (the same COPY, triggers disabled)" "$(ratio "$cp_on" "$cp_off")" "-"

load=$(cut -d' ' -f1-3 /proc/loadavg)
section=$(
  echo "<!-- reports-scale -->"
  echo "## Reports at scale (bench/reports/bench_scale.sh $n, ${SCALE_LAYOUT:-time} layout)"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $n devices x 30 days ($rows_all rows), load average $load on $(nproc) cores."
  echo "Floor: Nov 2 read through the key device by device, JIT off ($floor10 s at 3 days loaded,"
  echo "$floor100 s at 30; with PostgreSQL's defaults, JIT on: $floor10_jit and $floor100_jit s)."
  echo "Computed at query time: caches (motion_cache, device_day) emptied before the call. Stored"
  echo "ahead: the day stored by fleetarc.refresh_device_days (sql/104) before the calls."
  echo
  echo "| figure | report | floor / baseline | ratio | target |"
  echo "| --- | --- | --- | --- | --- |"
  for r in "${rows[@]}"; do
    IFS='|' read -r a b c d e <<<"$r"
    echo "| $a | $b | $c | $d | $e |"
  done
  echo
  echo "One day (Nov 2) of all devices at 3 and at 30 days loaded; floor: that day's rows read"
  echo "through the primary key device by device. Computed: distance and summary compute and"
  echo "store the day's device_day rows, trips and stops its motion_cache units (PL/pgSQL over"
  echo "every point); gaps, latest and route compute every time (stored = computed for them)."
  echo "30-day rows: warm against the same report computed from positions in the same run."
  echo "Writer: \\copy of Nov 30's rows back into positions (one statement) with the statement"
  echo "triggers of sql/080/102 enabled and disabled, two of each, alternated."
  echo "<!-- /reports-scale -->"
)
echo "$section"
if [ -n "${RESULTS:-}" ]; then
  if [ -f "$RESULTS" ] && grep -q '^<!-- reports-scale -->$' "$RESULTS"; then
    awk -v sec="$section" '
      /^<!-- reports-scale -->$/ { print sec; skip = 1; next }
      /^<!-- \/reports-scale -->$/ { skip = 0; next }
      !skip' "$RESULTS" >"$RESULTS.tmp" && mv "$RESULTS.tmp" "$RESULTS"
  else
    printf '\n%s\n' "$section" >>"$RESULTS"
  fi
fi
