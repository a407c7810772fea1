#!/usr/bin/env bash
# Two processes on one account (`fleetarc run` plus a backfill and repeated `devices` /
# `track` one-offs) share the token store (api.token_dir): the simulator sees exactly
# one login and no 10011, and every process completes. The same with token_dir "" shows
# the login ping-pong the store prevents (each login kills the other's token). Also: the
# store's permissions and names, the token never in a log, and a lock holder killed with
# SIGKILL does not wedge the next process (the kernel drops its flock).
. "$(dirname "$0")/archive_lib.sh"

NOW=1772798400 # 2026-03-06T12:00:00Z
fresh_db fa_tokens
sim_start --devices 30 --seed 11 --history 1 --now $NOW
write_config "archive: {track_interval: 1s}"
FROM=$((NOW - 20 * 3600)) TO=$((NOW - 16 * 3600))
fa() { "$FLEETARC_BIN" -c "$T/cfg.yaml" "$@"; }

# scenario DIR: run + backfill + 4 devices + 2 track calls with api.token_dir DIR ("" =
# off); sets LOGINS, E10011, AUTH_REQUESTS, and BAD (processes that failed)
scenario() {
  local dir=$1 tag=$2
  sed -i '/^  token_dir:/d' "$T/cfg.yaml"
  sed -i "s#^  base_url: .*#&\n  token_dir: \"$dir\"#" "$T/cfg.yaml"
  grep -q "^  token_dir: \"$dir\"" "$T/cfg.yaml" || fail "config edit ($tag)"
  curl -s -X POST "$SIM_URL/sim/reset-stats" >/dev/null
  BAD=0
  "$FLEETARC_BIN" -c "$T/cfg.yaml" run >"$T/run.$tag.out" 2>"$T/run.$tag.err" &
  local run_pid=$!
  for _ in $(seq 100); do [ "$(sim_stat logins.total)" -ge 1 ] && break; sleep 0.1; done
  [ "$(sim_stat logins.total)" -ge 1 ] || fail "run did not log in ($tag)"
  sleep 0.5
  "$FLEETARC_BIN" -c "$T/cfg.yaml" backfill --from $FROM --to $TO >"$T/backfill.$tag.out" 2>"$T/backfill.$tag.err" &
  local bf_pid=$!
  local imei
  for i in 1 2 3 4; do
    fa devices --format csv >"$T/devices.$tag.$i.out" 2>"$T/devices.$tag.$i.err" || { BAD=$((BAD + 1)); echo "devices $i failed ($tag)"; }
    imei=$(awk -F, 'NR == 2 {print $1}' "$T/devices.$tag.$i.out")
    if [ $i -le 2 ] && [ -n "$imei" ]; then
      fa track "$imei" >"$T/track.$tag.$i.out" 2>"$T/track.$tag.$i.err" || { BAD=$((BAD + 1)); echo "track $i failed ($tag)"; }
    fi
    sleep 0.4
  done
  local st=0
  wait $bf_pid || st=$?
  [ $st -eq 0 ] || { BAD=$((BAD + 1)); echo "backfill exited $st ($tag)"; }
  sleep 2 # run's track polls meet the last one-off's token
  kill -TERM $run_pid
  st=0
  wait $run_pid || st=$?
  [ $st -eq 0 ] || { BAD=$((BAD + 1)); echo "run exited $st ($tag)"; }
  LOGINS=$(sim_stat logins.total)
  AUTH_REQUESTS=$(sim_stat requests.authorization)
  E10011=$(curl -s "$SIM_URL/sim/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["responses"].get("10011", 0))')
  echo "$tag: logins $LOGINS, authorization requests $AUTH_REQUESTS, 10011 answers $E10011, failed processes $BAD"
}

# 1: shared store
TOK=$T/tok/store # a parent that does not exist yet: created too
scenario "$TOK" shared
[ "$LOGINS" = 1 ] || fail "shared store: $LOGINS logins, expected 1"
[ "$AUTH_REQUESTS" = 1 ] || fail "shared store: $AUTH_REQUESTS authorization requests, expected 1"
[ "$E10011" = 0 ] || fail "shared store: $E10011 answers 10011, expected none"
[ "$BAD" = 0 ] || fail "shared store: $BAD processes failed"
# (the one-offs log warnings only: their adoption shows in the single login)
grep -q "took the token another process obtained" "$T/backfill.shared.err" || fail "backfill did not adopt the token"
[ "$(stat -c %a "$TOK")" = 700 ] || fail "store directory mode $(stat -c %a "$TOK"), expected 700"
tokfile=$(ls "$TOK"/*.token 2>/dev/null | head -1)
lockfile=$(ls "$TOK"/*.lock 2>/dev/null | head -1)
[ -n "$tokfile" ] && [ -n "$lockfile" ] || fail "no token or lock file in $TOK: $(ls -la "$TOK")"
[ "$(ls "$TOK" | wc -l)" = 2 ] || fail "stray files in the store: $(ls "$TOK")"
[[ "$(basename "$tokfile")" =~ ^acct-[0-9a-f]{32}\.token$ ]] || fail "token file name $(basename "$tokfile")"
[ "$(stat -c %a "$tokfile")" = 600 ] || fail "token file mode $(stat -c %a "$tokfile"), expected 600"
[ "$(stat -c %a "$lockfile")" = 600 ] || fail "lock file mode $(stat -c %a "$lockfile"), expected 600"
token=$(awk '$1 == "token" {print $2}' "$tokfile")
[ ${#token} -ge 16 ] || fail "no token in the token file"
grep -q "^generation 1$" "$tokfile" || fail "token file generation is not 1: $(grep generation "$tokfile")"
if grep -rqF -- "$token" "$T"/*.err "$T"/*.out; then fail "the token appears in a log"; fi

# 2: a process holding the lock is killed with SIGKILL while another waits for it: the
# waiter goes on (and, the stored token being still good, adopts it without a login)
curl -s -X POST "$SIM_URL/sim/reset-stats" >/dev/null
python3 -c 'import fcntl, sys, time
f = open(sys.argv[1], "a"); fcntl.flock(f, fcntl.LOCK_EX); print("locked", flush=True); time.sleep(60)' \
  "$lockfile" >"$T/holder.out" &
holder=$!
for _ in $(seq 50); do grep -q locked "$T/holder.out" && break; sleep 0.1; done
start=$(date +%s%N)
"$FLEETARC_BIN" -c "$T/cfg.yaml" devices --format csv >"$T/devices.kill.out" 2>"$T/devices.kill.err" &
dev=$!
sleep 1.5
kill -0 $dev 2>/dev/null || fail "devices did not wait for the lock holder"
kill -KILL $holder
wait $holder 2>/dev/null || true
st=0
wait $dev || st=$?
took=$((($(date +%s%N) - start) / 1000000))
echo "lock holder killed: devices exit $st after ${took} ms"
[ $st -eq 0 ] || fail "devices exited $st after the lock holder died"
[ $took -lt 10000 ] || fail "devices took ${took} ms after the lock holder died"
[ "$(sim_stat logins.total)" = 0 ] || fail "devices logged in instead of adopting the stored token"
[ "$(wc -l <"$T/devices.kill.out")" -gt 10 ] || fail "devices listed too little"

# 3: no store: the same processes knock each other's token out
scenario "" off
[ "$LOGINS" -ge 8 ] || fail "without the store: only $LOGINS logins (each of the 8 processes logs in at least once)"
[ "$E10011" -ge 1 ] || fail "without the store: no answer 10011 (the ping-pong did not show)"
[ "$LOGINS" -gt 1 ] && [ "$E10011" -gt 0 ] || fail "no difference between shared and off"
finish
