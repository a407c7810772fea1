#!/usr/bin/env bash
# SIGHUP reload of `fleetarc run` against fleetarc-sim (clock 60x): an added account's
# devices are discovered and archived; a removed account's devices get no further data
# while the remaining one's keep coming; a new track_interval is applied and the polling
# rate follows; a bad file is rejected with FILE:LINE:COLUMN and the old one kept; at the
# end no cursor is ahead of its rows, positions are unique, the remaining account equals
# the sim's truth, and SIGTERM exits 0 in under 10 s.
. "$(dirname "$0")/archive_lib.sh"

NOW=1772798400 # 2026-03-06T12:00:00Z
LOOKBACK=7200
fresh_db fa_ops_reload
# 30 devices: demo holds 10; cust0001 (below demo) and cust0002 (below cust0001) the rest
sim_start --devices 30 --seed 5 --history 2 --now $NOW --speed 60
write_config "archive: {lookback: 2h, track_interval: 4s, discovery_interval: 1m}"
CUST_PW=Reload-cust0001
# demo alone, without its sub-accounts
awk '{print} /^    password:/ && !done {print "    subaccounts: false"; done=1}' "$T/cfg.yaml" >"$T/cfg.a"
# demo and cust0001 (its own devices only)
awk -v pw="$CUST_PW" '{print} /^    password:/ && !done {
  print "    subaccounts: false"; print "  - account: cust0001"
  print "    password: \"" pw "\""; print "    subaccounts: false"; done=1}' "$T/cfg.yaml" >"$T/cfg.b"
# the sim prints only demo's password: give cust0001 a known one through the API
echo "$CUST_PW" | "$FLEETARC_BIN" -c "$T/cfg.a" user set-password cust0001 >/dev/null ||
  { fail "cannot set cust0001's password"; finish; }
q() { psql -d "$DB" -qAtc "$1"; }
# wait_for SECONDS SQL: until SQL answers t
wait_for() {
  local i
  for i in $(seq $(($1 * 4))); do [ "$(q "$2")" = t ] && return 0; sleep 0.25; done
  return 1
}
hup() { cp "$1" "$T/cfg.yaml"; kill -HUP $pid; }

cp "$T/cfg.a" "$T/cfg.yaml"
"$FLEETARC_BIN" -c "$T/cfg.yaml" run >"$T/fleetarc.out" 2>"$T/fleetarc.err" &
pid=$!
wait_for 30 "SELECT count(*) >= 10 FROM fleetarc.devices WHERE account = 'demo'" ||
  fail "demo's devices not discovered"
[ "$(q "SELECT count(*) FROM fleetarc.devices WHERE account <> 'demo'")" = 0 ] ||
  fail "devices of sub-accounts archived with subaccounts: false"

# 1. add cust0001: its devices appear and get positions
hup "$T/cfg.b"
wait_for 30 "SELECT count(*) > 0 FROM fleetarc.devices WHERE account = 'cust0001'" ||
  fail "cust0001's devices not discovered after the reload"
grep -q "reload: account cust0001 added" "$T/fleetarc.err" || fail "no 'account cust0001 added' line"
grep -q "reload: applied .*accounts" "$T/fleetarc.err" || fail "accounts not named as applied"
CUST="SELECT imei FROM fleetarc.devices WHERE account = 'cust0001'"
# every device polled, and positions (some devices are silent over the lookback)
wait_for 30 "SELECT count(*) = (SELECT count(*) FROM ($CUST) c) FROM fleetarc.device_state
             WHERE imei IN ($CUST)" || fail "not every cust0001 device was polled"
wait_for 30 "SELECT count(*) > 0 FROM fleetarc.positions WHERE imei IN ($CUST)" ||
  fail "cust0001's devices got no positions"
echo "  cust0001: $(q "SELECT count(*) FROM ($CUST) c") devices, $(q "SELECT count(*) FROM fleetarc.positions WHERE imei IN ($CUST)") positions"

# 2. remove it: no further data for its devices, the demo's keep coming
hup "$T/cfg.a"
for _ in $(seq 40); do grep -q "reload: account cust0001 removed" "$T/fleetarc.err" && break; sleep 0.25; done
grep -q "reload: account cust0001 removed" "$T/fleetarc.err" || fail "no 'account cust0001 removed' line"
sleep 3 # calls in flight end and their batches commit
STATE="SELECT count(*) || '/' || coalesce(max(extract(epoch FROM gpstime))::bigint, 0) FROM fleetarc.positions WHERE imei IN ($CUST)"
DSTATE="SELECT max(servertime) FROM fleetarc.device_state WHERE imei IN ($CUST)"
DEMO="SELECT coalesce(max(extract(epoch FROM gpstime))::bigint, 0) FROM fleetarc.positions WHERE imei IN (SELECT imei FROM fleetarc.devices WHERE account = 'demo')"
c1=$(q "$STATE") s1=$(q "$DSTATE") d1=$(q "$DEMO")
sleep 8 # 8 sim-minutes: every device reports in that time
c2=$(q "$STATE") s2=$(q "$DSTATE") d2=$(q "$DEMO")
echo "  after removal: cust0001 rows/max gpstime $c1 -> $c2, demo max gpstime $d1 -> $d2"
[ "$c1" = "$c2" ] || fail "cust0001's positions changed after its removal ($c1 -> $c2)"
[ "$s1" = "$s2" ] || fail "cust0001's devices still polled after its removal ($s1 -> $s2)"
[ "$d2" -gt "$d1" ] || fail "demo's positions stopped coming ($d1 -> $d2)"

# 3. track_interval 4s -> 1s (and alarm_interval): applied, and the poll rate follows
rate() { # track requests over 8 s
  local a b
  a=$(sim_stat requests.track); sleep 8; b=$(sim_stat requests.track)
  echo $((b - a))
}
r1=$(rate)
sed 's/track_interval: 4s/track_interval: 1s, alarm_interval: 3m/' "$T/cfg.a" >"$T/cfg.c"
hup "$T/cfg.c"
sleep 1
grep -q "reload: applied .*archive.track_interval" "$T/fleetarc.err" || fail "track_interval not applied"
grep -q "reload: applied .*archive.alarm_interval" "$T/fleetarc.err" || fail "alarm_interval not applied"
r2=$(rate)
echo "  track requests per 8 s: $r1 at 4s, $r2 at 1s"
[ "$r1" -le 3 ] || fail "$r1 track requests in 8 s at track_interval 4s"
[ "$r2" -ge 5 ] || fail "only $r2 track requests in 8 s at track_interval 1s"

# 4. a bad file: rejected with FILE:LINE:COLUMN, the running configuration kept
sed 's/track_interval: 1s/track_interval: 10/' "$T/cfg.c" >"$T/cfg.bad"
applied=$(grep -c "reload: applied" "$T/fleetarc.err")
hup "$T/cfg.bad"
sleep 1
grep -Eq "reload: .*cfg.yaml:[0-9]+:[0-9]+: .*track_interval" "$T/fleetarc.err" ||
  fail "the bad file's error does not name FILE:LINE:COLUMN and the key"
grep -q "reload: .*rejected.*running configuration is kept" "$T/fleetarc.err" || fail "bad file not rejected"
[ "$(grep -c "reload: applied" "$T/fleetarc.err")" = "$applied" ] || fail "a bad file was applied"
kill -0 $pid || fail "fleetarc died on a bad reload"
r3=$(rate)
echo "  track requests per 8 s after the bad file: $r3"
[ "$r3" -ge 5 ] || fail "the running track_interval was not kept ($r3 in 8 s)"

# 5. SIGTERM: exit 0 in under 10 s
present=$(sim_stat present)
sigterm_timed $pid

# nothing lost: no duplicate, demo equals the truth, and (below) no covered second
# without its rows
[ "$(q "SELECT count(*) - count(DISTINCT (imei, gpstime)) FROM fleetarc.positions")" = 0 ] ||
  fail "duplicate positions"
sim_stop
sim_start --devices 30 --seed 5 --history 2 --now "$present" --speed 0 --truth "$T/truth"
sim_stop
FROM=$((NOW - LOOKBACK + 600)) TO=$((present - 900))
out=$(cd "$T" && psql -d "$DB" -qAt -F' ' -v ON_ERROR_STOP=1 -v from=$FROM -v to=$TO <<'SQL'
CREATE TEMP TABLE tp (imei text, gpstime bigint, longitude double precision, latitude double precision, speed int, course int);
\copy tp FROM 'truth/positions.csv' CSV HEADER
CREATE TEMP VIEW want AS SELECT imei, gpstime FROM tp WHERE gpstime >= :from AND gpstime < :to
  AND imei IN (SELECT imei FROM fleetarc.devices WHERE account = 'demo');
CREATE TEMP VIEW have AS SELECT imei, extract(epoch FROM gpstime)::bigint FROM fleetarc.positions
  WHERE gpstime >= to_timestamp(:from) AND gpstime < to_timestamp(:to)
  AND imei IN (SELECT imei FROM fleetarc.devices WHERE account = 'demo');
SELECT 'want', count(*) FROM want;
SELECT 'missing', count(*) FROM (SELECT * FROM want EXCEPT SELECT * FROM have) x;
SELECT 'extra', count(*) FROM (SELECT * FROM have EXCEPT SELECT * FROM want) x;
SELECT 'covered_missing', count(*) FROM tp JOIN fleetarc.coverage c ON c.imei = tp.imei
  AND c.stream = 'playback' AND to_timestamp(tp.gpstime) BETWEEN c."from" AND c."to"
  WHERE NOT EXISTS (SELECT 1 FROM fleetarc.positions p WHERE p.imei = tp.imei
                    AND p.gpstime = to_timestamp(tp.gpstime));
SQL
)
echo "$out" | sed 's/^/  demo vs truth: /'
v() { echo "$out" | awk -v k="$1" '$1 == k {print $2}'; }
[ "$(v want)" -gt 0 ] || fail "the truth holds no demo positions in range"
[ "$(v missing)" = 0 ] || fail "demo: $(v missing) positions missing"
[ "$(v extra)" = 0 ] || fail "demo: $(v extra) positions not in the truth"
[ "$(v covered_missing)" = 0 ] || fail "$(v covered_missing) positions of covered seconds are not stored"
finish
