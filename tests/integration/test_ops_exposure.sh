#!/usr/bin/env bash
# Secrets and exposure (issue 14), against fleetarc-sim and a real PostgreSQL:
# (a) an error page that echoes the request line (sim fault echo) leaves no signature,
#     md5 or password in any output: check, a CLI command, the service's debug log;
# (b) `fleetarc run`: the ${VAR} that held the password is gone from /proc/PID/environ,
#     RLIMIT_CORE is 0, check reports the process not dumpable (and --allow-core-dumps
#     leaves cores on); a newline in an account name stays on one log line;
# (c) the metrics endpoint: /healthz answers 200 while one client holds 70 idle
#     connections; /metrics needs metrics.auth's bearer token (401 without);
# (d) warnings for an http:// base_url beyond loopback and an open metrics.listen;
#     --database with a password refused; a token_dir of another user refused, its reason said.
. "$(dirname "$0")/archive_lib.sh"

fresh_db fa_ops_exposure
psql -d "$DB" -qAtc "SELECT 1" >/dev/null

# all_clean NAME FILE: no secret of the demo account in FILE
all_clean() {
  local f=$2
  if grep -qF -- "$SIM_PASSWORD" "$f"; then fail "$1: the password is printed"; fi
  if grep -qiF -- "$PW_MD5" "$f"; then fail "$1: the password's md5 is printed"; fi
  if grep -qiE -- 'signature(=|%3d)[^*]' "$f"; then fail "$1: a signature is printed"; grep -iE 'signature' "$f" | head -3 >&2; fi
  if grep -qiE -- 'access_token(=|%3d)[^*]' "$f"; then fail "$1: a token is printed"; fi
  if grep -qE -- '[0-9a-fA-F]{32}' "$f"; then fail "$1: 32 hex digits (a signature or an md5) printed"; grep -oE '.{0,40}[0-9a-fA-F]{32}' "$f" | head -3 >&2; fi
  return 0
}

# ---- (a) an echoing error page
sim_start --devices 5 --seed 5 --history 1 --faults echo=1
PW_MD5=$(printf '%s' "$SIM_PASSWORD" | md5sum | cut -d' ' -f1)
export FA_EXPOSURE_PW=$SIM_PASSWORD
cat >"$T/echo.yaml" <<YAML
api:
  base_url: $SIM_URL
  timeout: 3s
  retry: {max_attempts: 2, base_delay: 50ms, max_delay: 200ms}
  rate_limits: {default: 0s, authorization: 0s}
accounts:
  - account: demo
    password: \${FA_EXPOSURE_PW}
database:
  conninfo: "dbname=$DB"
log:
  level: debug
YAML
"$FLEETARC_BIN" -c "$T/echo.yaml" migrate >/dev/null
"$FLEETARC_BIN" -c "$T/echo.yaml" check >"$T/echo_check" 2>&1 || true
"$FLEETARC_BIN" -c "$T/echo.yaml" devices >"$T/echo_cli" 2>&1 || true
echo 'N3w-Secret-Pw' | "$FLEETARC_BIN" -c "$T/echo.yaml" user set-password demo >"$T/echo_pw" 2>&1 || true
timeout -s TERM 4 "$FLEETARC_BIN" -c "$T/echo.yaml" run >"$T/echo_run" 2>&1 || true
echo "check:"; sed 's/^/  /' "$T/echo_check"
echo "devices:"; sed 's/^/  /' "$T/echo_cli"
for f in echo_check echo_cli echo_pw echo_run; do all_clean "$f" "$T/$f"; done
grep -q 'HTTP 400' "$T/echo_check" || fail "check does not report the 400 (was the page echoed?)"
grep -q 'HTTP 400' "$T/echo_run" || fail "the run log does not report the 400"
[ "$(sim_stat faults.echo)" -ge 3 ] || fail "the sim echoed fewer than 3 requests"
if grep -qF 'N3w-Secret-Pw' "$T/echo_pw"; then fail "user-password-set printed the new password"; fi
sim_stop

# ---- (b) the running service: environment, cores, log lines
sim_start --devices 5 --seed 5 --history 1
PW_MD5=$(printf '%s' "$SIM_PASSWORD" | md5sum | cut -d' ' -f1)
export FA_EXPOSURE_PW=$SIM_PASSWORD
export FA_METRICS_TOKEN=Metr1cs-Token-0042
{
  api_yaml
  cat <<YAML
accounts:
  - account: demo
    password: \${FA_EXPOSURE_PW}
  - account: "ghost\nFORGED-LINE error forged"
    password: whatever
database:
  conninfo: "dbname=$DB"
archive: {lookback: 1h, track_interval: 2s}
metrics: {listen: 127.0.0.1:0, unhealthy_after: 10m, auth: "\${FA_METRICS_TOKEN}"}
log:
  level: info
YAML
} >"$T/run.yaml"
"$FLEETARC_BIN" -c "$T/run.yaml" run >/dev/null 2>"$T/fleetarc.err" &
pid=$!
for _ in $(seq 100); do grep -q "account demo: logged in" "$T/fleetarc.err" && break; sleep 0.1; done
grep -q "account demo: logged in" "$T/fleetarc.err" || fail "run did not log in"
tr '\0' '\n' <"/proc/$pid/environ" >"$T/environ"
grep -q '^FA_EXPOSURE_PW=.' "$T/environ" && fail "FA_EXPOSURE_PW is still in /proc/PID/environ"
grep -qF -- "$SIM_PASSWORD" "$T/environ" && fail "the password is readable in /proc/PID/environ"
grep -qF -- "$FA_METRICS_TOKEN" "$T/environ" && fail "the metrics token is readable in /proc/PID/environ"
grep -q '^FA_METRICS_TOKEN=.' "$T/environ" && fail "FA_METRICS_TOKEN is still in /proc/PID/environ"
grep -E '^Max core file size' "/proc/$pid/limits" | tee "$T/limits"
grep -qE '^Max core file size +0 +0 ' "$T/limits" || fail "RLIMIT_CORE is not 0"

# ---- (c) the metrics endpoint under 70 idle connections, and its authentication
port=$(ops_port)
[ -n "$port" ] || fail "no 'ops: listening' line"
python3 - "$port" "$FA_METRICS_TOKEN" >"$T/probe" <<'PY' || fail "the probe script failed"
import socket, sys, time
port, token = int(sys.argv[1]), sys.argv[2]
idle = []
for _ in range(70):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    idle.append(s)
time.sleep(0.3)
def get(path, auth=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    req = "GET %s HTTP/1.1\r\nHost: x\r\n" % path
    if auth: req += "Authorization: %s\r\n" % auth
    s.sendall((req + "\r\n").encode())
    data = b""
    while True:
        try:
            b = s.recv(65536)
        except OSError:
            break
        if not b: break
        data += b
    s.close()
    line = data.split(b"\r\n", 1)[0].decode(errors="replace")
    return line.split(" ")[1] if line.startswith("HTTP/1.1 ") else "none"
ok = sum(get("/healthz") == "200" for _ in range(12))
print("healthz_ok", ok)
print("metrics_noauth", get("/metrics"))
print("metrics_wrong", get("/metrics", "Bearer nope"))
print("metrics_auth", get("/metrics", "Bearer " + token))
print("healthz_after", get("/healthz"))
for path in ("/", "/map", "/api/v1/devices", "/api/v1/status", "/leaflet/leaflet.js"):
    print("console_noauth", path, get(path))
print("console_auth", get("/api/v1/status", "Bearer " + token))
for s in idle: s.close()
PY
cat "$T/probe"
grep -qx 'healthz_ok 12' "$T/probe" || fail "/healthz did not answer 200 to every probe while 70 idle connections were open"
grep -qx 'metrics_noauth 401' "$T/probe" || fail "/metrics without the token is not 401"
grep -qx 'metrics_wrong 401' "$T/probe" || fail "/metrics with a wrong token is not 401"
grep -qx 'metrics_auth 200' "$T/probe" || fail "/metrics with the token is not 200"
# the console (issue 17) is behind metrics.auth too
[ "$(grep -c '^console_noauth .* 401$' "$T/probe")" = 5 ] || fail "a console path answered without the token"
grep -qx 'console_auth 200' "$T/probe" || fail "/api/v1/status with the token is not 200"

# the ghost account's lines: its name's newline escaped, no forged line
for _ in $(seq 50); do grep -q 'ghost' "$T/fleetarc.err" && break; sleep 0.1; done
grep -q 'ghost\\nFORGED-LINE' "$T/fleetarc.err" || fail "no log line names the account with its newline escaped"
grep -q '^FORGED-LINE' "$T/fleetarc.err" && fail "a newline in an account name forged a log line"
sigterm_run "$pid"
all_clean "run log" "$T/fleetarc.err"
grep -qF -- "$FA_METRICS_TOKEN" "$T/fleetarc.err" && fail "the metrics token is in the log"

# check reports the process not dumpable; --allow-core-dumps leaves cores on
sed -i '/ghost/,+1d' "$T/run.yaml"
"$FLEETARC_BIN" -c "$T/run.yaml" check >"$T/check" 2>&1 || true
sed 's/^/  /' "$T/check"
grep -qx 'core dumps: off (not dumpable, RLIMIT_CORE 0)' "$T/check" || fail "check: core dumps not reported off"
grep -q 'warning' "$T/check" && fail "check warns about a loopback configuration"
ulimit -c unlimited 2>/dev/null || ulimit -c 1024 2>/dev/null || true
"$FLEETARC_BIN" --allow-core-dumps -c "$T/run.yaml" check >"$T/check2" 2>&1 || true
grep -q '^core dumps: ON (dumpable' "$T/check2" || fail "--allow-core-dumps: cores not reported on"

# ---- (d) warnings, --database, token_dir
cat >"$T/open.yaml" <<YAML
api:
  base_url: http://192.0.2.10:8080
accounts:
  - account: demo
    password_md5: $PW_MD5
metrics: {listen: 0.0.0.0:9187}
YAML
"$FLEETARC_BIN" -c "$T/open.yaml" check --offline >"$T/offline" 2>"$T/offline.err" || fail "check --offline failed"
cat "$T/offline.err"
grep -q '^warning: api.base_url http://192.0.2.10:8080 is plain http://' "$T/offline.err" || fail "no warning for http:// beyond loopback"
grep -q '^warning: metrics.listen 0.0.0.0:9187 is reachable beyond loopback without metrics.auth' "$T/offline.err" ||
  fail "no warning for an open metrics.listen"
# and `run` says the same at start (its database is unreachable here: stopped after 3 s)
sed -i "s|listen: 0.0.0.0:9187|listen: 0.0.0.0:0|; \$a database: {conninfo: \"host=127.0.0.1 port=1 dbname=x connect_timeout=1\"}" "$T/open.yaml"
timeout -s TERM 3 "$FLEETARC_BIN" -c "$T/open.yaml" run >/dev/null 2>"$T/open_run.err" || true
grep -q 'warn  config: api.base_url http://192.0.2.10:8080 is plain http://' "$T/open_run.err" ||
  fail "run does not warn at start about http:// beyond loopback"
grep -q 'warn  config: metrics.listen 0.0.0.0:0 is reachable beyond loopback without metrics.auth' "$T/open_run.err" ||
  fail "run does not warn at start about an open metrics.listen"
st=0
"$FLEETARC_BIN" migrate --database "postgresql:///$DB?pass%77ord=Cl1-Secret" >"$T/db" 2>&1 || st=$?
[ "$st" = 2 ] || fail "--database with a password: exit $st, expected 2"
grep -q 'must not hold a password' "$T/db" || fail "--database with a password: the reason is not said"
grep -qF 'Cl1-Secret' "$T/db" && fail "--database: the password is printed"
"$FLEETARC_BIN" migrate --help | grep -q 'PGPASSWORD or' || fail "migrate --help does not name PGPASSWORD"

if [ "$(id -u)" = 0 ]; then
  mkdir -m 0700 "$T/foreign"
  chown 65534:65534 "$T/foreign"
  sed -i "s|^  timeout: 3s|  timeout: 3s\n  token_dir: $T/foreign|" "$T/run.yaml"
  "$FLEETARC_BIN" -c "$T/run.yaml" check >"$T/check3" 2>&1 || true
  grep "token store" "$T/check3" || true
  grep -q "warning: token store $T/foreign refused: owned by uid 65534, not by this user" "$T/check3" ||
    fail "a token_dir of another user is not refused with its reason"
  [ "$(stat -c %a "$T/foreign")" = 700 ] || fail "the foreign token_dir was changed"
fi
finish
