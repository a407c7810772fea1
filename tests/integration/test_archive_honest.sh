#!/usr/bin/env bash
# Every failure is told (issue 13): exit statuses and health that a cron job or systemd
# can trust.
#  1. a wrong password: backfill exits 1 and names the account and its code;
#  2. a typo'd IMEI (10013): backfill stops that device at once (no minutes of retries),
#     exits 1 and says the code and its meaning;
#  3. run with a wrong password: /healthz 503 and fleetarc_account_up 0 at once (not
#     metrics.unhealthy_after later), never "ready";
#  4. export and report of an unknown IMEI: named on stderr, exit 1; an empty range: said.
. "$(dirname "$0")/archive_lib.sh"

NOW=1772798400 # 2026-03-06T12:00:00Z
FROM=$((NOW - 86400)) TO=$((NOW - 3600))
fresh_db fa_honest
sim_start --devices 5 --seed 3 --history 2 --now $NOW --speed 0 --no-traps
write_config "metrics: {listen: 127.0.0.1:0, unhealthy_after: 120s}"
good=$SIM_PASSWORD

# 1. wrong password
sed -i "s/password: \"$good\"/password: \"not-the-password\"/" "$T/cfg.yaml"
grep -q 'not-the-password' "$T/cfg.yaml" || fail "config edit"
st=0
timeout 120 "$FLEETARC_BIN" -c "$T/cfg.yaml" backfill --from $FROM --to $TO >/dev/null 2>"$T/fleetarc.err" || st=$?
echo "wrong password: backfill exit $st"
[ $st -eq 1 ] || fail "wrong password: backfill exited $st, expected 1"
grep -q "backfill failed: 1 account could not log in or stopped: demo (code 20001" "$T/fleetarc.err" ||
  fail "wrong password: the account and its code are not named"

# 3. run with the wrong password: unhealthy at once
"$FLEETARC_BIN" -c "$T/cfg.yaml" run >/dev/null 2>"$T/fleetarc.err" &
pid=$!
URL=http://127.0.0.1:$(ops_port)
code=""
for _ in $(seq 50); do
  grep -q "account demo stopped" "$T/fleetarc.err" && break
  sleep 0.2
done
sleep 1.5 # a few ops ticks
code=$(curl -s -o "$T/body" -w '%{http_code}' "$URL/healthz" || true)
echo "run with a wrong password: /healthz $code $(cat "$T/body")"
[ "$code" = 503 ] || fail "run: /healthz answered $code with no account logged in, expected 503"
curl -s "$URL/metrics" >"$T/metrics"
grep -q '^fleetarc_account_up{account="demo"} 0$' "$T/metrics" || fail "run: fleetarc_account_up is not 0"
grep -q '^fleetarc_healthy 0$' "$T/metrics" || fail "run: fleetarc_healthy is not 0"
grep -q "ops: ready" "$T/fleetarc.err" && fail "run: ready with no account logged in"
kill -TERM $pid
wait $pid || true
sed -i "s/password: \"not-the-password\"/password: \"$good\"/" "$T/cfg.yaml"

# 2. a typo'd IMEI: 10013 ends it at once
start=$SECONDS
st=0
timeout 100 "$FLEETARC_BIN" -c "$T/cfg.yaml" backfill --imei 123 --from $FROM --to $TO >/dev/null 2>"$T/fleetarc.err" || st=$?
took=$((SECONDS - start))
echo "--imei 123: exit $st after ${took}s"
[ $st -eq 1 ] || fail "--imei 123: exit $st, expected 1"
[ $took -lt 30 ] || fail "--imei 123 took ${took}s: retried a permanent answer"
grep -q "device 123: playback: /api/playback: API error 10013 (.*): permanent, not retried" "$T/fleetarc.err" ||
  fail "--imei 123: the code and its meaning are not said"

# 4. export and report
imei=$(tail -n +2 "$T/fleetarc.err" >/dev/null; "$FLEETARC_BIN" -c "$T/cfg.yaml" backfill --from $FROM --to $TO >/dev/null 2>&1; \
  psql -d "$DB" -qAtc "SELECT imei FROM fleetarc.positions GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
[ -n "$imei" ] || fail "no device archived for the export checks"
st=0
"$FLEETARC_BIN" export 123 --from $FROM --to $TO --format csv --database "dbname=$DB" >"$T/out" 2>"$T/err" || st=$?
echo "export 123: exit $st: $(cat "$T/err")"
[ $st -eq 1 ] || fail "export of an unknown IMEI exited $st, expected 1"
grep -q "unknown IMEI 123" "$T/err" || fail "export: the unknown IMEI is not named"
st=0
"$FLEETARC_BIN" report trips --imei 123 --from $FROM --to $TO --format csv --database "dbname=$DB" >"$T/out" 2>"$T/err" || st=$?
echo "report --imei 123: exit $st: $(cat "$T/err")"
[ $st -eq 1 ] || fail "report of an unknown IMEI exited $st, expected 1"
grep -q "unknown IMEI 123" "$T/err" || fail "report: the unknown IMEI is not named"
st=0
"$FLEETARC_BIN" export "$imei" --from $((NOW - 40 * 86400)) --to $((NOW - 39 * 86400)) --format csv \
  --database "dbname=$DB" >"$T/out" 2>"$T/err" || st=$?
echo "export of an empty range: exit $st: $(cat "$T/err")"
[ $st -eq 0 ] || fail "export of an empty range exited $st, expected 0"
grep -qE "nothing stored in this range|the export is empty" "$T/err" || fail "export: the empty range is not said"
finish
