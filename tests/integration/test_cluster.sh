#!/usr/bin/env bash
# Issue 19: several `run` instances on one database (cluster.enabled, leases).
# 1. One instance alone, then two instances (separate token stores: "two hosts") on a
#    fresh database and an identical sim over the same wall time: the two make no more
#    requests and no more logins than the one (today both work the account: about twice).
# 2. SIGKILL of the holder: the other takes the account over within lease_ttl plus a
#    poll (generous bound under load) and continues from the committed coverage; after
#    it stops, the archive equals the truth (no gap, no row twice).
. "$(dirname "$0")/archive_lib.sh"

NOW=1772798400
SIM_ARGS=(--devices 20 --seed 19 --history 3 --now $NOW --speed 60)
RUN_S=${CLUSTER_RUN_S:-20}
CLUSTER_YAML=${CLUSTER_YAML:-"cluster: {enabled: true, lease_ttl: 4s}"}
ARCH_YAML="archive: {lookback: 1d, track_interval: 2s, discovery_interval: 1m}"

start_instance() { # NAME: fleetarc run with its own token store, pid in $NAME.pid
  mkdir -p "$T/$1"
  RUNTIME_DIRECTORY="$T/$1" "$FLEETARC_BIN" -c "$T/cfg.yaml" run >"$T/$1.out" 2>"$T/$1.err" &
  echo $! >"$T/$1.pid"
}
stop_instance() { # NAME SIGNAL
  local p; p=$(cat "$T/$1.pid")
  kill -"$2" "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}
holder() { psql -d "$DB" -qAtc "SELECT holder FROM fleetarc.leases WHERE account = 'demo' AND expires_at > now()" 2>/dev/null || true; }

# ---- 1a: one instance
fresh_db fa_cluster
sim_start "${SIM_ARGS[@]}"
write_config "$ARCH_YAML
$CLUSTER_YAML"
start_instance one
sleep "$RUN_S"
one_req=$(sim_stat requests.total) one_login=$(sim_stat logins.total)
stop_instance one TERM
sim_stop
echo "one instance: $one_req requests, $one_login logins in ${RUN_S}s"

# ---- 1b: two instances, same sim, fresh database
fresh_db fa_cluster
sim_start "${SIM_ARGS[@]}"
write_config "$ARCH_YAML
$CLUSTER_YAML"
start_instance a
start_instance b
sleep "$RUN_S"
two_req=$(sim_stat requests.total) two_login=$(sim_stat logins.total)
echo "two instances: $two_req requests, $two_login logins in ${RUN_S}s"
[ "$two_req" -le $((one_req + one_req / 5 + 10)) ] ||
  fail "two instances made $two_req requests, one alone $one_req"
[ "$two_login" -le "$one_login" ] || fail "two instances logged in $two_login times, one alone $one_login"

# ---- 2: SIGKILL of the holder
h=$(holder)
echo "holder: $h"
victim=""
for n in a b; do case "$h" in *:"$(cat "$T/$n.pid")") victim=$n ;; esac; done
if [ -z "$victim" ]; then
  fail "no instance holds the account (holder '$h')"
  survivor=b victim=a
else
  survivor=$([ "$victim" = a ] && echo b || echo a)
fi
r0=$(sim_stat requests.track)
t0=$(date +%s.%N)
stop_instance "$victim" KILL
took=""
for _ in $(seq 300); do
  case "$(holder)" in *:"$(cat "$T/$survivor.pid")")
    # taken, and working: a track poll of the survivor reached the sim
    if [ "$(sim_stat requests.track)" -gt "$r0" ]; then took=$(echo "$(date +%s.%N) - $t0" | bc); break; fi ;;
  esac
  sleep 0.1
done
echo "takeover after SIGKILL: ${took:-none}s (lease_ttl 4s, track_interval 2s)"
[ -n "$took" ] || fail "the survivor did not take over within 30s"
[ -n "$took" ] && { awk -v t="$took" 'BEGIN{exit !(t < 15)}' || fail "takeover took ${took}s"; }
sleep 12
present=$(sim_stat present)
"$FLEETARC_BIN" -c "$T/cfg.yaml" status --format csv >"$T/status.csv" || fail "status failed"
# (rows of the configured account's own devices; its subaccounts' rows show none)
tr -d '\r' <"$T/status.csv" | grep -q "^demo,playback,.*,[^,]*:$(cat "$T/$survivor.pid")\$" ||
  { cat "$T/status.csv" >&2; fail "status does not show the survivor as the holder"
    psql -d "$DB" -qAtc "SELECT account, count(*), count(removed_at) FROM fleetarc.devices GROUP BY 1; SELECT * FROM fleetarc.leases" >&2; }
stop_instance "$survivor" TERM
cp "$T/$survivor.err" "$T/fleetarc.err"
sim_stop
sim_start "${SIM_ARGS[@]::6}" --now "$present" --speed 0 --truth "$T/truth"
sim_stop
FROM=$((NOW - 86400 + 600)) TO=$((present - 900))
compare $FROM $TO $TO || true
if [ "$failures" -ne 0 ]; then # which rows differ (a diagnosis, not a check)
  (cd "$T" && psql -d "$DB" -qAt -v from=$FROM -v to=$TO <<'SQL'
CREATE TEMP TABLE tp (imei text, gpstime bigint, longitude double precision, latitude double precision, speed int, course int);
\copy tp FROM 'truth/positions.csv' CSV HEADER
SELECT 'extra', imei, extract(epoch FROM gpstime)::bigint, longitude, latitude FROM fleetarc.positions p
 WHERE gpstime >= to_timestamp(:from) AND gpstime < to_timestamp(:to)
   AND NOT EXISTS (SELECT 1 FROM tp WHERE tp.imei = p.imei AND tp.gpstime = extract(epoch FROM p.gpstime)::bigint);
SELECT 'truth_near', tp.* FROM tp JOIN fleetarc.positions p ON tp.imei = p.imei
 AND abs(tp.gpstime - extract(epoch FROM p.gpstime)::bigint) < 120 LIMIT 0;
SQL
  ) >&2 || true
fi
dup=$(psql -d "$DB" -qAtc "SELECT count(*) - count(DISTINCT (imei, gpstime)) FROM fleetarc.positions")
[ "$dup" = 0 ] || fail "$dup duplicate positions"
finish
