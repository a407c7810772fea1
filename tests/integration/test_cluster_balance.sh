#!/usr/bin/env bash
# Issue 19: three instances and nine accounts settle at three each, without a storm of
# logins, and together archive exactly what the platform holds.
# fleetarc-sim with small accounts (--account-size 5: demo's 10 devices, 7 customers of
# 5, the viewer with none: nine accounts, credentials from the truth's accounts.csv), each
# configured without its sub-accounts so that every device is archived by one account.
# Instance a starts alone and takes all nine; b and c join (separate token stores: "three
# hosts"); within a few lease periods each holds three. Logins stay one per account, moved
# the same (the new holder adopts the token the previous one stored in the database:
# 130_tokens.sql), which the reporter role cannot read. The archive then equals the truth,
# with no row twice.
. "$(dirname "$0")/archive_lib.sh"

NOW=1772798400
SIM_ARGS=(--devices 45 --account-size 5 --seed 31 --history 2 --no-traps)
TTL=3
fresh_db fa_balance
# the accounts and their passwords: from a frozen sim's truth
sim_start "${SIM_ARGS[@]}" --now $NOW --speed 0 --truth "$T/acc"
sim_stop
n_acc=$(($(wc -l <"$T/acc/accounts.csv") - 1))
[ "$n_acc" = 9 ] || { fail "the sim has $n_acc accounts, not 9"; finish; }
sim_start "${SIM_ARGS[@]}" --now $NOW --speed 60
write_config "archive: {lookback: 1d, track_interval: 2s, discovery_interval: 1m}
cluster: {enabled: true, lease_ttl: ${TTL}s}"
# the nine accounts instead of demo with its tree
/usr/bin/python3 - "$T/cfg.yaml" "$T/acc/accounts.csv" <<'PY'
import csv, re, sys
cfg = open(sys.argv[1]).read()
accs = ''.join('  - account: %s\n    password: "%s"\n    subaccounts: false\n' % (r['account'], r['password'])
               for r in csv.DictReader(open(sys.argv[2])))
cfg, n = re.subn(r'accounts:\n  - account: demo\n    password: "[^"]*"\n', 'accounts:\n' + accs, cfg)
assert n == 1, 'accounts block not found'
open(sys.argv[1], 'w').write(cfg)
PY

start() { # NAME: fleetarc run with its own token store
  mkdir -p "$T/$1"
  RUNTIME_DIRECTORY="$T/$1" "$FLEETARC_BIN" -c "$T/cfg.yaml" run >"$T/$1.out" 2>"$T/$1.err" &
  echo $! >"$T/$1.pid"
}
# held: "N:PID" lines of the leases in force, by holder
held() { psql -d "$DB" -qAtc "SELECT count(*), holder FROM fleetarc.leases WHERE expires_at > now() GROUP BY holder ORDER BY holder" 2>/dev/null || true; }
count_of() { held | awk -F'|' -v p=":$(cat "$T/$1.pid")" 'index($2, p) == length($2) - length(p) + 1 {print $1}'; }

start a
for _ in $(seq 150); do [ "$(count_of a)" = 9 ] && break; sleep 0.1; done
[ "$(count_of a)" = 9 ] || fail "a alone holds $(count_of a) of 9 accounts"
sleep 3
logins_alone=$(sim_stat logins.total)
start b
start c
t0=$(date +%s.%N) settled=""
for _ in $(seq 300); do
  if [ "$(count_of a)" = 3 ] && [ "$(count_of b)" = 3 ] && [ "$(count_of c)" = 3 ]; then
    settled=$(echo "$(date +%s.%N) - $t0" | bc); break
  fi
  sleep 0.1
done
echo "settled at 3/3/3 after ${settled:-never}s (lease_ttl ${TTL}s); leases: $(held | tr '\n' ' ')"
[ -n "$settled" ] || fail "three instances did not settle at three accounts each"
sleep 10
for n in a b c; do [ "$(count_of $n)" = 3 ] || fail "$n holds $(count_of $n) accounts 10 s later (flapping)"; done
logins=$(sim_stat logins.total)
echo "logins: $logins_alone with a alone, $logins in all"
[ "$logins" -le "$logins_alone" ] ||
  fail "$logins logins where a alone made $logins_alone: the accounts that moved logged in again"
grep -h "took the token another instance stored" "$T/b.err" "$T/c.err" | head -2
stored=$(psql -d "$DB" -qAtc "SELECT count(*) FROM fleetarc_secret.tokens WHERE expires_at > now()")
[ "$stored" = 9 ] || fail "$stored tokens stored in the database, not 9"
# tokens at rest: not for the reporter role (nor in any log)
psql -d "$DB" -qAt -v ON_ERROR_STOP=1 -f "$FLEETARC_SOURCE_DIR/deploy/roles.sql" >/dev/null || fail "roles.sql"
if psql -d "$DB" -qAtc "SET ROLE fleetarc_reporter; SELECT count(*) FROM fleetarc_secret.tokens" >/dev/null 2>&1; then
  fail "fleetarc_reporter reads the tokens"
fi
psql -d "$DB" -qAtc "SELECT token FROM fleetarc_secret.tokens" >"$T/tokens"
for n in a b c; do
  if grep -qFf "$T/tokens" "$T/$n.err"; then fail "a token in $n's log"; fi
done

present=$(sim_stat present)
for n in a b c; do kill -TERM "$(cat "$T/$n.pid")"; done
for n in a b c; do wait "$(cat "$T/$n.pid")" || fail "$n did not exit cleanly"; done
cat "$T/a.err" "$T/b.err" "$T/c.err" >"$T/fleetarc.err"
sim_stop
sim_start "${SIM_ARGS[@]}" --now "$present" --speed 0 --truth "$T/truth"
sim_stop
FROM=$((NOW - 86400 + 600)) TO=$((present - 900))
compare $FROM $TO $TO
dup=$(psql -d "$DB" -qAtc "SELECT count(*) - count(DISTINCT (imei, gpstime)) FROM fleetarc.positions")
[ "$dup" = 0 ] || fail "$dup duplicate positions"
finish
