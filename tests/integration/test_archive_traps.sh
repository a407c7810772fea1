#!/usr/bin/env bash
# `fleetarc backfill` on NOTES.md's traps, with the simulator's clock frozen:
#  - request economy: playback requests equal the minimum the 1000-record rule allows
#    (computed from the truth), devices that did not move cost none;
#  - exactly 1000 records (999000000000001), a full page of one timestamp
#    (999000000000002: ends, the guard is logged), late alarms (999000000000003: all
#    stored), 20023 for an empty range, tokens that die mid-backfill (--token-ttl),
#    10009 bursts (--limits).
. "$(dirname "$0")/archive_lib.sh"

NOW=1772798400 # 2026-03-06T12:00:00Z
E=$((NOW - 3 * 86400))
FROM=$E TO=$((NOW - 6 * 3600))
fresh_db fa_traps
sim_start --devices 40 --seed 11 --history 3 --now $NOW --speed 0 --truth "$T/truth"
write_config
bf() { "$FLEETARC_BIN" -c "$T/cfg.yaml" backfill "$@" >>"$T/fleetarc.out" 2>>"$T/fleetarc.err"; }

# 1. economy: every device but the same-time trap (its 1500 identical reports are one
#    row of the truth, so the minimum is not computable from it), playback only
imeis=$(tail -n +2 "$T/truth/devices.csv" | cut -d, -f1 | grep -v '^999000000000002$' | paste -sd,)
expected=$(python3 - "$T/truth/positions.csv" $FROM $TO <<'PY'
import csv, sys, collections
path, lo, hi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
times = collections.defaultdict(list)
for r in csv.DictReader(open(path)):
    if r['imei'] != '999000000000002': times[r['imei']].append(int(r['gpstime']))
total = 0
for imei, ts in times.items():
    ts.sort()
    if not any(t >= lo for t in ts): continue      # no report since FROM: no request
    begin = lo
    while True:                                     # the 1000-record rule of spec 2.3
        page = [t for t in ts if begin <= t <= hi - 1][:1000]
        total += 1
        if len(page) < 1000: break
        begin = page[-1]
print(total)
PY
)
before=$(sim_stat requests.playback)
bf --from $FROM --to $TO --imei "$imeis" --streams playback || fail "economy backfill failed"
got=$(( $(sim_stat requests.playback) - before ))
echo "playback requests: $got, minimum by the 1000-record rule: $expected"
[ "$got" = "$expected" ] || fail "playback requests $got != minimum $expected"

# 2. the traps and the other streams, every device (discovery)
bf --from $FROM --to $TO || fail "backfill of every device failed"
compare $FROM $TO
grep -q "device 999000000000002: playback: a full page of one time" "$T/fleetarc.err" ||
  fail "the one-timestamp guard was not logged"
n=$(psql -d "$DB" -qAtc "SELECT count(*) FROM fleetarc.positions WHERE imei = '999000000000001' AND gpstime < to_timestamp($E + 86400)")
[ "$n" = 1000 ] || fail "exact-page device: $n positions on its first day, expected 1000"
n=$(psql -d "$DB" -qAtc "SELECT count(*) FROM fleetarc.alarms WHERE imei = '999000000000003' AND gpstime >= to_timestamp($FROM) AND gpstime < to_timestamp($TO)")
w=$(awk -F, -v lo=$FROM -v hi=$TO '$1 == "999000000000003" && $3 >= lo && $3 < hi' "$T/truth/alarms.csv" | wc -l)
[ "$n" = "$w" ] && [ "$n" -ge 360 ] || fail "late-alarms device: $n alarms stored, truth $w"
n=$(psql -d "$DB" -qAtc "SELECT count(*) FROM fleetarc.daily_mileage")
[ "$n" -gt 0 ] || fail "no daily mileage stored"

# 3. an empty range (before the platform's window): 20023 is an empty page, exit 0
r0=$(sim_stat responses.20023 2>/dev/null || echo 0)
bf --from $((E - 86400)) --to $((E - 3600)) --streams playback,alarms || fail "empty range failed"
r1=$(sim_stat responses.20023 2>/dev/null || echo 0)
[ "$r1" -gt "$r0" ] || fail "no 20023 answer seen for the empty range ($r0 -> $r1)"
sim_stop

# 4. tokens that die mid-backfill (every 2 s) and 10009 bursts (the sim enforces a
#    spacing that the config does not know): both slow the backfill, neither fails it
fresh_db fa_traps
sim_start --devices 10 --seed 11 --history 3 --now $NOW --speed 0 --token-ttl 2 --truth "$T/truth" \
  --limits playback=300ms,alarm/list=300ms,track=300ms,default=100ms
write_config
bf --from $((TO - 86400)) --to $TO || fail "backfill under 10009 and dying tokens failed"
r=$(sim_stat responses.10009 2>/dev/null || echo 0)
logins=$(sim_stat logins.total)
echo "10009 answers: $r, logins with a 2 s token: $logins"
[ "$r" -gt 0 ] || fail "the sim never answered 10009 (limits not hit?)"
[ "$logins" -ge 2 ] || fail "expected re-logins, saw $logins"
compare $((TO - 86400)) $TO
finish
