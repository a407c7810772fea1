#!/usr/bin/env bash
# `fleetarc run` against fleetarc-sim with metrics.listen set: /metrics parses strictly
# (tests/integration/ops_promparse.py) and its counters move during the run, /healthz is
# 200 "ok", other paths and garbage are refused without harm, SIGHUP applies a new log
# level and rejects a bad file keeping the old one, SIGTERM still exits 0.
. "$(dirname "$0")/archive_lib.sh"
PARSE="/usr/bin/python3 $(dirname "$0")/ops_promparse.py"

NOW=1772798400 # 2026-03-06T12:00:00Z
fresh_db fa_ops_metrics
sim_start --devices 20 --seed 11 --history 2 --now $NOW --speed 60
write_config "archive: {lookback: 1d, track_interval: 2s, discovery_interval: 1m}
metrics: {listen: 127.0.0.1:0, unhealthy_after: 5s}"
sed -i 's/^  level: info$/  level: info\n  format: json/' "$T/cfg.yaml" # structured log lines
"$FLEETARC_BIN" -c "$T/cfg.yaml" run >"$T/fleetarc.out" 2>"$T/fleetarc.err" &
pid=$!
port=$(ops_port)
[ -n "$port" ] || { cat "$T/fleetarc.err" >&2; fail "no 'ops: listening' line"; finish; }
URL=http://127.0.0.1:$port

# value NAME{labels} FILE: a sample of a parsed scrape (0 when absent)
value() { awk -v k="$1" '$1 == k {print $2; f=1} END {if (!f) print 0}' "$2"; }
scrape() {
  curl -sS -D "$T/h$1" -o "$T/m$1" "$URL/metrics" || fail "scrape $1 failed"
  grep -qi '^content-type: text/plain; version=0.0.4' "$T/h$1" || fail "scrape $1: content type"
  $PARSE "$T/m$1" >"$T/p$1" || fail "scrape $1 does not parse"
}

scrape 1   # at once: the catch-up of the lookback day has barely started
sleep 10
scrape 2
[ "$(value 'fleetarc_alarms_written_total{}' "$T/p2")" -gt 0 ] || fail "no alarms counted"
for k in 'fleetarc_points_written_total{}' \
         'fleetarc_api_requests_total{endpoint=playback,outcome=ok}' \
         'fleetarc_api_http_requests_total{account=demo,endpoint=track}' \
         'fleetarc_batches_total{outcome=committed}' 'fleetarc_batch_rows_count{}' \
         'fleetarc_batch_write_seconds_count{}' 'fleetarc_api_calls_total{result=ok}'; do
  a=$(value "$k" "$T/p1") b=$(value "$k" "$T/p2")
  echo "  $k: $a -> $b"
  awk -v a="$a" -v b="$b" 'BEGIN{exit !(b > a && b > 0)}' || fail "$k did not move ($a -> $b)"
done
[ "$(value 'fleetarc_api_logins_total{}' "$T/p2")" -ge 1 ] || fail "no login counted"
# no total among the parts: the outcomes of a call are ok and error only
grep -q '^fleetarc_api_requests_total{.*outcome="sent"' "$T/m2" && fail "outcome=sent mixed with its parts"
# process_*: of this very process
now=$(date +%s)
st=$(value 'process_start_time_seconds{}' "$T/p2")
awk -v s="$st" -v n="$now" 'BEGIN{exit !(s > n - 300 && s <= n + 1)}' || fail "process_start_time_seconds $st (now $now)"
rss=$(value 'process_resident_memory_bytes{}' "$T/p2")
vmrss=$(awk '/^VmRSS:/{print $2 * 1024}' "/proc/$pid/status")
echo "  process_resident_memory_bytes $rss (VmRSS $vmrss), process_open_fds $(value 'process_open_fds{}' "$T/p2"), process_cpu_seconds_total $(value 'process_cpu_seconds_total{}' "$T/p2")"
awk -v r="$rss" -v v="$vmrss" 'BEGIN{exit !(r > 1e6 && r < 2 * v && r > v / 2)}' || fail "process_resident_memory_bytes $rss vs VmRSS $vmrss"
[ "$(ls "/proc/$pid/fd" | wc -l)" -ge "$(value 'process_open_fds{}' "$T/p2" | cut -d. -f1)" ] || true
awk -v c="$(value 'process_cpu_seconds_total{}' "$T/p2")" 'BEGIN{exit !(c > 0)}' || fail "process_cpu_seconds_total is 0"
awk -v f="$(value 'process_open_fds{}' "$T/p2")" -v m="$(value 'process_max_fds{}' "$T/p2")" 'BEGIN{exit !(f >= 5 && m >= f)}' ||
  fail "process_open_fds / process_max_fds"
db_devices=$(psql -d "$DB" -qAtc "SELECT count(*) FROM fleetarc.devices")
[ "$db_devices" -ge 20 ] || fail "only $db_devices devices in the database"
[ "$(value 'fleetarc_devices{state=active}' "$T/p2")" = "$db_devices" ] ||
  fail "devices active != the $db_devices devices in the database"
[ "$(value 'fleetarc_db_connected{}' "$T/p2")" = 1 ] || fail "db not connected"
[ "$(value 'fleetarc_healthy{}' "$T/p2")" = 1 ] || fail "not healthy"
[ "$(value 'fleetarc_account_up{account=demo}' "$T/p2")" = 1 ] || fail "account demo not up"
# the points counter is what the database holds (a fresh one, and no duplicates yet)
db_points=$(psql -d "$DB" -qAtc "SELECT count(*) FROM fleetarc.positions")
m_points=$(value 'fleetarc_points_written_total{}' "$T/p2")
awk -v d="$db_points" -v m="$m_points" 'BEGIN{exit !(d >= m && m > 0)}' ||
  fail "points written $m_points > rows in the database $db_points"
# log.format json: every line one object; the client's lines carry the account (and the
# endpoint, devices and API code where there are) as keys of their own
/usr/bin/python3 - "$T/fleetarc.err" <<'PY' || fail "json log lines"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
objs = [json.loads(l) for l in lines]
assert objs and all({'time', 'level', 'msg'} <= set(o) for o in objs), 'time, level, msg'
login = [o for o in objs if 'logged in' in o['msg'] and o['msg'].startswith('net: account')]
assert login and all(o.get('account') == 'demo' for o in login), 'no account key on the login line'
added = [o for o in objs if o['msg'].startswith('device ') and ' added ' in o['msg']]
assert added and all(o.get('imei') and o['msg'].startswith('device %s ' % o['imei']) for o in added), \
    'no imei key on the "device added" lines'
PY
grep -c '^# TYPE' "$T/m2" | awk '{exit !($1 >= 25)}' || fail "fewer families than registered"

# /healthz, 404, HEAD, garbage, oversize: answered, and the server lives on
[ "$(curl -s "$URL/healthz")" = ok ] || fail "/healthz is not ok"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz")" = 200 ] || fail "/healthz not 200"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/nope")" = 404 ] || fail "/nope not 404"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/metrics")" = 405 ] || fail "POST not 405"
/usr/bin/python3 - "$port" <<'PY' || fail "garbage requests"
import socket, sys
port = int(sys.argv[1])
def ask(data):
    s = socket.create_connection(('127.0.0.1', port), timeout=5)
    s.sendall(data)
    out = b''
    while True:
        b = s.recv(65536)
        if not b: break
        out += b
    s.close()
    return out.split(b'\r\n', 1)[0]
assert ask(b'\x00\xff garbage\r\n\r\n') == b'HTTP/1.1 400 Bad Request', 'garbage'
assert ask(b'GET /metrics HTTP/9.9\r\n\r\n') == b'HTTP/1.1 400 Bad Request', 'version'
assert ask(b'GET /' + b'a' * 9000 + b' HTTP/1.1\r\n\r\n').startswith(b'HTTP/1.1 431'), 'oversize'
assert ask(b'GET /healthz HTTP/1.0\r\n\r\n') == b'HTTP/1.1 200 OK', 'still serving'
PY

# SIGHUP: a bad file is rejected (old one kept), a good one applies log.level
cp "$T/cfg.yaml" "$T/cfg.good"
sed 's/level: info/level: loud/' "$T/cfg.good" >"$T/cfg.yaml"
kill -HUP $pid
sleep 1
grep -q "reload: .*rejected" "$T/fleetarc.err" || fail "bad config not rejected"
grep -q "reload: .*log.level.*unknown level 'loud'" "$T/fleetarc.err" || fail "reload error not named"
sed 's/level: info/level: debug/; s/track_interval: 2s/track_interval: 3s/; s/timeout: 3s/timeout: 4s/' \
  "$T/cfg.good" >"$T/cfg.yaml"
kill -HUP $pid
sleep 1
grep -q "reload: applied log.level=debug.*archive.track_interval" "$T/fleetarc.err" ||
  fail "log level and track_interval not applied"
grep -q "reload: changed but NOT applied until a restart: api.timeout" "$T/fleetarc.err" ||
  fail "the api.timeout change is not named as not applied"
kill -0 $pid || fail "fleetarc died on SIGHUP"
scrape 3
[ "$(value 'fleetarc_config_reloads_total{outcome=rejected}' "$T/p3")" = 1 ] || fail "rejected reload not counted"
[ "$(value 'fleetarc_config_reloads_total{outcome=applied}' "$T/p3")" = 1 ] || fail "applied reload not counted"

sigterm_run $pid
curl -s -m 2 "$URL/healthz" >/dev/null 2>&1 && fail "endpoint still up after exit"
finish
