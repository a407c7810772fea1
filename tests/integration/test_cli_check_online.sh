#!/usr/bin/env bash
# `fleetarc check` without --offline, against fleetarc-sim and a real PostgreSQL: exit 0
# for a migrated database and a good account; 1 with the hint for an unmigrated one; 1
# naming the account and 20001 for a wrong password (never printed); 1 for a database
# that cannot be reached.
. "$(dirname "$0")/archive_lib.sh"

fresh_db fa_check_online
sim_start --devices 30 --seed 3 --history 1

# cfg FILE PASSWORD CONNINFO: a configuration for the sim with one account
cfg() {
  cat >"$1" <<YAML
api:
  base_url: $SIM_URL
  timeout: 3s
  retry: {max_attempts: 2, base_delay: 50ms, max_delay: 200ms}
accounts:
  - account: demo
    password: "$2"
database:
  conninfo: "$3"
YAML
}

# check EXPECTED CONFIG: runs fleetarc check, output in $T/out (stdout and stderr)
check() {
  local want=$1 got=0
  "$FLEETARC_BIN" -c "$2" check >"$T/out" 2>&1 || got=$?
  echo "check $(basename "$2") -> $got"; sed "s/^/  /" "$T/out"
  if [ "$got" -ne "$want" ]; then
    fail "check of $2 exited $got, expected $want"
    sed 's/^/  out: /' "$T/out" >&2
  fi
}
has() { grep -qF -- "$1" "$T/out" || { fail "output lacks: $1"; sed 's/^/  out: /' "$T/out" >&2; }; }
hasnt() { ! grep -qiF -- "$1" "$T/out" || fail "output shows: $1"; }

# an unmigrated database: reachable, all migrations pending, the hint, exit 1
cfg "$T/good.yaml" "$SIM_PASSWORD" "dbname=$DB"
check 1 "$T/good.yaml"
has "database: reachable; FAILED:"
has "pending"
has "run fleetarc migrate"
has "account demo: ok ("
hasnt "$SIM_PASSWORD"

# migrated + good account: every check passes
"$FLEETARC_BIN" -c "$T/good.yaml" migrate >/dev/null
check 0 "$T/good.yaml"
has "database: reachable, schema up to date (version"
devices=$("$FLEETARC_BIN" -c "$T/good.yaml" devices --format csv | tail -n +2 | wc -l)
[ "$devices" -gt 0 ] || fail "the sim's demo account lists no devices"
# check counts the devices as discovery does: sub-accounts' devices too (subaccounts:
# true is the default), each IMEI once; a backfill's discovery records them
now=$(date +%s)
"$FLEETARC_BIN" -c "$T/good.yaml" backfill --streams mileage --from $((now - 3600)) --to "$now" >/dev/null 2>&1 ||
  fail "backfill (for its discovery)"
discovered=$(psql -d "$DB" -qAtc "SELECT count(*) FROM fleetarc.devices")
[ "$discovered" -gt "$devices" ] || fail "the sim has no sub-account devices ($discovered, own $devices)"
has "account demo: ok ($discovered devices: $devices of its own, the rest of "
hasnt "$SIM_PASSWORD"
hasnt "FAILED"

# a wrong password: exit 1, the account and 20001 named, the password never printed
wrong='Wr0ng-Secret-77'
wrong_md5=$(printf '%s' "$wrong" | md5sum | cut -d' ' -f1)
cfg "$T/wrong.yaml" "$wrong" "dbname=$DB"
check 1 "$T/wrong.yaml"
has "account demo: FAILED: login refused: API error 20001"
has "database: reachable, schema up to date"
hasnt "$wrong"
hasnt "$wrong_md5"
hasnt "$SIM_PASSWORD"

# two accounts, one good and one wrong: each gets its own line
cfg "$T/two.yaml" "$SIM_PASSWORD" "dbname=$DB"
printf '  - account: other\n    password: "%s"\n' "$wrong" >"$T/acct2"
sed -i "/^database:/e cat $T/acct2" "$T/two.yaml"
check 1 "$T/two.yaml"
has "account demo: ok ($discovered devices: $devices of its own"
has "account other: FAILED: login refused: API error 20001"
hasnt "$wrong"

# an unreachable database (a port where nothing listens): exit 1, said so
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cfg "$T/nodb.yaml" "$SIM_PASSWORD" "host=127.0.0.1 port=$port dbname=$DB connect_timeout=3"
check 1 "$T/nodb.yaml"
has "database: FAILED: cannot connect to PostgreSQL"
has "account demo: ok ("

# an unreachable API: exit 1, the account named with the transport error
cfg "$T/noapi.yaml" "$SIM_PASSWORD" "dbname=$DB"
sed -i "s#base_url: .*#base_url: http://127.0.0.1:$port#" "$T/noapi.yaml"
check 1 "$T/noapi.yaml"
has "account demo: FAILED:"
has "database: reachable, schema up to date"

finish
