#!/usr/bin/env bash
# One coverage shared by every job (issue 12), with the simulator's clock frozen:
#  1. `run` after a `backfill` of its whole lookback makes no playback or alarm request
#     (all of it lies before the backfill's end) and writes 0 duplicate rows
#     (fleetarc_rows_duplicate_total);
#  2. a backfill over a range that is covered costs no playback or alarm request;
#  3. two overlapping backfills fetch the overlap once: the second makes exactly the
#     playback requests of a backfill of its uncovered part alone;
#  4. fleetarc.coverage shows the intervals; `fleetarc status` summarises them;
#  5. 071 turns the old cursors into coverage (run on a database holding such cursors).
. "$(dirname "$0")/archive_lib.sh"

NOW=1772798400 # 2026-03-06T12:00:00Z
fresh_db fa_coverage
sim_start --devices 20 --seed 7 --history 2 --now $NOW --speed 0 --truth "$T/truth"
write_config "archive: {lookback: 1d, track_interval: 1s, discovery_interval: 1m}
metrics: {listen: 127.0.0.1:0}"
bf() { "$FLEETARC_BIN" -c "$T/cfg.yaml" backfill "$@" >>"$T/fleetarc.out" 2>>"$T/fleetarc.err"; }
pages() { echo $(( $(sim_stat requests.playback) + $(sim_stat requests.alarm/list) )); }

# 1. backfill the lookback day, then run
bf --from $((NOW - 86400)) --to $NOW --streams playback,alarms || fail "backfill failed"
compare $((NOW - 86400)) $NOW
p0=$(pages) t0=$(sim_stat requests.track)
"$FLEETARC_BIN" -c "$T/cfg.yaml" run >"$T/run.out" 2>"$T/fleetarc.err" &
pid=$!
port=$(ops_port)
# several poll cycles of every device (20 devices: one track call a cycle)
for _ in $(seq 300); do [ $(( $(sim_stat requests.track) - t0 )) -ge 6 ] && break; sleep 0.1; done
sleep 2
curl -s "http://127.0.0.1:$port/metrics" >"$T/metrics" || fail "no metrics"
sigterm_run $pid
p1=$(pages)
dup_p=$(awk '$1 == "fleetarc_rows_duplicate_total{table=\"positions\"}" {print $2}' "$T/metrics")
dup_a=$(awk '$1 == "fleetarc_rows_duplicate_total{table=\"alarms\"}" {print $2}' "$T/metrics")
echo "run after backfill: $((p1 - p0)) playback/alarm requests, duplicates: positions ${dup_p:-?}, alarms ${dup_a:-?}, track polls $(( $(sim_stat requests.track) - t0 ))"
[ $(( $(sim_stat requests.track) - t0 )) -ge 6 ] || fail "run made too few track polls"
[ "$p1" = "$p0" ] || fail "run after backfill made $((p1 - p0)) playback/alarm requests before the backfill's end"
[ "${dup_p:-x}" = 0 ] || fail "run after backfill: ${dup_p:-?} duplicate positions"
[ "${dup_a:-x}" = 0 ] || fail "run after backfill: ${dup_a:-?} duplicate alarms"

# 2. a backfill inside what is covered: no page request at all (its alarm window, by
#    system time up to 6 h past --to, ends before the ingest margin of the present)
p0=$(pages)
bf --from $((NOW - 72000)) --to $((NOW - 50400)) --streams playback,alarms || fail "covered backfill failed"
p1=$(pages)
echo "backfill over a covered range: $((p1 - p0)) playback/alarm requests"
[ "$p1" = "$p0" ] || fail "a covered backfill made $((p1 - p0)) playback/alarm requests"

# 4. the view: one playback interval per device with points, covering the day
n=$(psql -d "$DB" -qAtc "SELECT count(*) FROM fleetarc.coverage WHERE stream = 'playback'
  AND \"from\" <= to_timestamp($((NOW - 86400))) AND \"to\" >= to_timestamp($((NOW - 1)))")
d=$(psql -d "$DB" -qAtc "SELECT count(DISTINCT imei) FROM fleetarc.positions")
echo "coverage: $n devices cover the day in one interval, $d devices have positions"
[ "$n" -ge "$d" ] && [ "$d" -gt 0 ] || fail "coverage view: $n full-day intervals for $d devices"
"$FLEETARC_BIN" -c "$T/cfg.yaml" status --format csv >"$T/status.csv" 2>>"$T/fleetarc.err" ||
  fail "status failed"
cat "$T/status.csv"
n=$(grep -c ',playback,' "$T/status.csv" || true)
a=$(psql -d "$DB" -qAtc "SELECT count(DISTINCT account) FROM fleetarc.devices")
[ "$n" = "$a" ] && [ "$a" -gt 0 ] || fail "status: $n playback rows for $a accounts"
grep -q '^[^,]*,playback,[0-9]*,[0-9]*,2026-03-05T12:00:00Z,' "$T/status.csv" ||
  fail "status: no playback row covered from the backfill's start"

# 3. overlapping backfills: [NOW-20h, NOW-10h), then [NOW-15h, NOW-5h)
fresh_db fa_coverage
write_config
bf --from $((NOW - 72000)) --to $((NOW - 36000)) --streams playback || fail "backfill A failed"
p0=$(sim_stat requests.playback)
bf --from $((NOW - 54000)) --to $((NOW - 18000)) --streams playback || fail "backfill B failed"
got=$(( $(sim_stat requests.playback) - p0 ))
have=$(psql -d "$DB" -qAtc "SELECT count(*) FROM fleetarc.positions")
want_p=$(awk -F, -v lo=$((NOW - 72000)) -v hi=$((NOW - 18000)) 'NR > 1 && $2 >= lo && $2 < hi' "$T/truth/positions.csv" | wc -l)
[ "$have" = "$want_p" ] || fail "overlapping backfills stored $have positions, the truth has $want_p"
fresh_db fa_coverage
write_config
p0=$(sim_stat requests.playback)
bf --from $((NOW - 36000)) --to $((NOW - 18000)) --streams playback || fail "backfill C failed"
want=$(( $(sim_stat requests.playback) - p0 ))
echo "overlapping backfill: $got playback requests; its uncovered part alone: $want"
[ "$got" = "$want" ] || fail "the overlapping backfill made $got playback requests, its gap alone $want"

# 5. the migration of cursors: run, backfill and mileage cursors of the old schema
fresh_db fa_coverage
write_config
q() { psql -d "$DB" -qAt -v ON_ERROR_STOP=1 -c "$1"; }
q "SELECT fleetarc.ensure_partitions(to_timestamp(1700000000), to_timestamp(1700100000))" >/dev/null
q "INSERT INTO fleetarc.positions VALUES ('111', to_timestamp(1700000100), 1, 1, 0, 0)"
q "INSERT INTO fleetarc.alarms VALUES ('111', 2, to_timestamp(1700000200), to_timestamp(1700000300), 1, 1, 0, 0, 0)"
q "INSERT INTO fleetarc.cursors (imei, stream, cursor) VALUES
   ('111', 'playback', to_timestamp(1700050000)), ('111', 'alarms', to_timestamp(1700050000)),
   ('222', 'playback@1700000000-1700086400', to_timestamp(1700040000)),
   ('222', 'alarms@1700000000-1700086400', to_timestamp(1700090000)),
   ('111', 'mileage', to_timestamp(1700006400))"
psql -d "$DB" -qAt -v ON_ERROR_STOP=1 -f "$FLEETARC_SOURCE_DIR/sql/071_coverage_from_cursors.sql" >/dev/null ||
  fail "071 failed on old cursors"
got=$(q "SELECT string_agg(imei || ' ' || stream || ' ' || extract(epoch FROM \"from\")::bigint || '-'
          || extract(epoch FROM \"to\")::bigint, ', ' ORDER BY imei, stream) FROM fleetarc.coverage")
want="111 alarms 1700000300-1700049999, 111 playback 1700000100-1700050000, 222 alarms 1700021600-1700086399, 222 playback 1700000000-1700040000"
echo "migrated: $got"
[ "$got" = "$want" ] || fail "071: coverage [$got], expected [$want]"
[ "$(q "SELECT string_agg(stream, ',') FROM fleetarc.cursors")" = mileage ] ||
  fail "071: the playback and alarm cursors are still there"
finish
