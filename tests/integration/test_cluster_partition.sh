#!/usr/bin/env bash
# Issue 19: a holder cut off from the database stops working its account before its lease
# can expire, and another instance takes over from the committed coverage.
# Instance a reaches PostgreSQL through a TCP proxy the test controls (tcp_proxy.py),
# instance b directly ("two hosts": separate token stores). Once a holds the account and
# works, the proxy drops every byte (a partition: no reset, no answer). Checks: a's last
# API request is sent before the lease's expires_at (the database's clock, read before the
# cut); b holds the account after it and works; at the end the archive equals the truth,
# with no row twice.
. "$(dirname "$0")/archive_lib.sh"

NOW=1772798400
SIM_ARGS=(--devices 20 --seed 29 --history 2 --no-traps --now $NOW --speed 60)
TTL=4
fresh_db fa_partition
sim_start "${SIM_ARGS[@]}"

/usr/bin/python3 "$(dirname "$0")/tcp_proxy.py" "$PGHOST/.s.PGSQL.$PGPORT" >"$T/proxy.out" 2>"$T/proxy.err" &
PROXY_PID=$!
for _ in $(seq 50); do grep -q '^port' "$T/proxy.out" && break; sleep 0.1; done
PROXY_PORT=$(awk '/^port/{print $2}' "$T/proxy.out")
[ -n "$PROXY_PORT" ] || { fail "the proxy did not start"; finish; }
trap 'kill $PROXY_PID 2>/dev/null || true; cleanup' EXIT

ARCH_YAML="archive: {lookback: 1d, track_interval: 2s, discovery_interval: 1m}
cluster: {enabled: true, lease_ttl: ${TTL}s}
metrics: {listen: 127.0.0.1:0}"
write_config "$ARCH_YAML"
cp "$T/cfg.yaml" "$T/b.yaml"
sed "s|conninfo: \"dbname=$DB\"|conninfo: \"host=127.0.0.1 port=$PROXY_PORT dbname=$DB connect_timeout=2\"|" \
  "$T/cfg.yaml" >"$T/a.yaml"
grep -q "port=$PROXY_PORT" "$T/a.yaml" || fail "a's conninfo does not go through the proxy"

start() { # NAME: fleetarc run with its own config and token store
  mkdir -p "$T/$1"
  RUNTIME_DIRECTORY="$T/$1" "$FLEETARC_BIN" -c "$T/$1.yaml" run >"$T/$1.out" 2>"$T/$1.err" &
  echo $! >"$T/$1.pid"
}
mport() { sed -n 's/.*ops: listening on .* port \([0-9]*\):.*/\1/p' "$T/$1.err" | head -n 1; }
# sent NAME: the HTTP requests instance NAME has sent to the API (its /metrics)
sent() {
  curl -s --max-time 2 "http://127.0.0.1:$(mport "$1")/metrics" |
    awk '/^fleetarc_api_http_requests_total\{/ {s += $2} END {print s + 0}'
}
holder() { psql -d "$DB" -qAtc "SELECT holder FROM fleetarc.leases WHERE account = 'demo' AND expires_at > now()" 2>/dev/null || true; }

start a
for _ in $(seq 100); do case "$(holder)" in *:"$(cat "$T/a.pid")") break ;; esac; sleep 0.1; done
case "$(holder)" in *:"$(cat "$T/a.pid")") ;; *) fail "a does not hold the account: '$(holder)'" ;; esac
start b
sleep 6 # a works (catch-up of the lookback day), b waits for the lease
[ "$(sent a)" -gt 0 ] || fail "a sent no request"
before_b=$(sent b)

# the partition: a's renewals and batches no longer reach the database
expires=$(psql -d "$DB" -qAtc "SELECT extract(epoch FROM expires_at) FROM fleetarc.leases WHERE account = 'demo'")
kill -USR1 $PROXY_PID
t_cut=$(date +%s.%N)
last_a=$(sent a) t_last=$t_cut took=""
for _ in $(seq 200); do
  sleep 0.1
  n=$(sent a)
  if [ "$n" != "$last_a" ]; then last_a=$n t_last=$(date +%s.%N); fi
  if [ -z "$took" ]; then
    case "$(holder)" in *:"$(cat "$T/b.pid")") took=$(date +%s.%N) ;; esac
  fi
  # b works: its requests grow after it took the account
  if [ -n "$took" ] && [ "$(sent b)" -gt "$before_b" ] &&
     awk -v n="$(date +%s.%N)" -v t="$took" 'BEGIN{exit !(n > t + 3)}'; then break; fi
done
echo "cut at $t_cut; a's lease expires at $expires (db clock); a's last request at $t_last; b took it at ${took:-never}"
awk -v l="$t_last" -v e="$expires" 'BEGIN{exit !(l < e)}' ||
  fail "a sent a request at $t_last, after its lease expired at $expires"
[ -n "$took" ] || fail "b did not take the account over"
[ -n "$took" ] && { awk -v t="$took" -v e="$expires" 'BEGIN{exit !(t >= e)}' || fail "b took the lease before it expired"; }
[ "$(sent b)" -gt "$before_b" ] || fail "b did not work after the takeover"
grep -q "cluster: the lease of account demo lapsed" "$T/a.err" || fail "a did not say it stopped working the account"
# b took a's token from the database: one login in all (one per token lifetime)
[ "$(sim_stat logins.total)" = 1 ] || fail "$(sim_stat logins.total) logins: b logged in again"

sleep 8
kill -KILL "$(cat "$T/a.pid")" 2>/dev/null || true
wait "$(cat "$T/a.pid")" 2>/dev/null || true
present=$(sim_stat present)
kill -TERM "$(cat "$T/b.pid")"
wait "$(cat "$T/b.pid")" || fail "b did not exit cleanly"
cp "$T/b.err" "$T/fleetarc.err"
sim_stop
sim_start "${SIM_ARGS[@]::7}" --now "$present" --speed 0 --truth "$T/truth"
sim_stop
FROM=$((NOW - 86400 + 600)) TO=$((present - 900))
compare $FROM $TO $TO
if [ "$failures" -ne 0 ]; then # which rows differ (a diagnosis, not a check)
  (cd "$T" && psql -d "$DB" -qAt -v from=$FROM -v to=$TO <<'SQL'
CREATE TEMP TABLE tp (imei text, gpstime bigint, longitude double precision, latitude double precision, speed int, course int);
\copy tp FROM 'truth/positions.csv' CSV HEADER
SELECT 'extra', imei, extract(epoch FROM gpstime)::bigint, longitude, latitude FROM fleetarc.positions p
 WHERE gpstime >= to_timestamp(:from) AND gpstime < to_timestamp(:to)
   AND NOT EXISTS (SELECT 1 FROM tp WHERE tp.imei = p.imei AND tp.gpstime = extract(epoch FROM p.gpstime)::bigint) LIMIT 8;
SELECT 'missing', imei, gpstime, longitude, latitude FROM tp WHERE gpstime >= :from AND gpstime < :to
   AND NOT EXISTS (SELECT 1 FROM fleetarc.positions p WHERE tp.imei = p.imei AND tp.gpstime = extract(epoch FROM p.gpstime)::bigint) LIMIT 8;
SELECT 'extra_by_imei', imei, count(*), min(gpstime), max(gpstime) FROM fleetarc.positions p
 WHERE gpstime >= to_timestamp(:from) AND gpstime < to_timestamp(:to)
   AND NOT EXISTS (SELECT 1 FROM tp WHERE tp.imei = p.imei AND tp.gpstime = extract(epoch FROM p.gpstime)::bigint) GROUP BY 1;
SQL
  ) >&2 || true
  echo "present $present NOW $NOW" >&2
fi
dup=$(psql -d "$DB" -qAtc "SELECT count(*) - count(DISTINCT (imei, gpstime)) FROM fleetarc.positions")
[ "$dup" = 0 ] || fail "$dup duplicate positions"
finish
