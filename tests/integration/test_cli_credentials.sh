#!/usr/bin/env bash
# Credentials inside and outside the unit: a password_file list
# [${CREDENTIALS_DIRECTORY}/fleetarc-password, FILE] as deploy/README.md documents.
# Without the credential directory and without a readable FILE, the commands that never
# log in (check --offline, migrate, report, export, retention --dry-run) work; those that
# do (devices, backfill, check) exit 2 (check: 1, the account FAILED) with the reason and
# without any secret. With $CREDENTIALS_DIRECTORY (as the unit has it) or with FILE, they
# log in to fleetarc-sim.
. "$(dirname "$0")/archive_lib.sh"
fresh_db fa_cli_creds
sim_start --devices 3 --history 2
mkdir -p "$T/creds"
cat >"$T/creds.yaml" <<YAML
api:
  base_url: $SIM_URL
  retry: {max_attempts: 2, base_delay: 50ms, max_delay: 100ms}
  rate_limits: {default: 0s, authorization: 0s, track: 0s, playback: 0s, alarm/list: 0s,
                device/list: 0s, user/list: 0s, device/detail: 0s, device/mileage: 0s}
accounts:
  - account: demo
    password_file:
      - \${CREDENTIALS_DIRECTORY}/fleetarc-password
      - $T/password
database:
  conninfo: "dbname=$DB"
YAML
FA() { "$FLEETARC_BIN" -c "$T/creds.yaml" "$@"; }
unset CREDENTIALS_DIRECTORY
# expect STATUS NAME ARGS...: runs fleetarc, output in $T/NAME.out/.err
expect() {
  local want=$1 name=$2 got=0
  shift 2
  FA "$@" >"$T/$name.out" 2>"$T/$name.err" || got=$?
  [ "$got" = "$want" ] || { sed 's/^/  /' "$T/$name.err" >&2; fail "fleetarc $* exited $got, expected $want"; }
  ! grep -qF -- "$SIM_PASSWORD" "$T/$name.out" "$T/$name.err" || fail "fleetarc $* shows the password"
}

echo "== no credential directory, no password file"
expect 0 offline check --offline
grep -q "note: .*no password file can be read here: '\${CREDENTIALS_DIRECTORY}/fleetarc-password' (environment variable CREDENTIALS_DIRECTORY is not set); '$T/password' (No such file or directory)" \
  "$T/offline.err" || { cat "$T/offline.err" >&2; fail "check --offline does not say why"; }
expect 0 migrate migrate
expect 0 report report trips --from 2026-11-01 --to 2026-11-02
# a known device (an unknown IMEI is exit 1 by design: that is not what this tests)
psql -d "$DB" -qAtc "INSERT INTO fleetarc.devices (imei, account) VALUES ('356000000000001', 'demo')" >/dev/null
expect 0 export export 356000000000001 --from 2026-11-01 --to 2026-11-02 --format csv
expect 0 retention retention --dry-run
expect 2 devices devices
grep -q "no password file can be read here" "$T/devices.err" || fail "devices does not say why"
expect 2 backfill backfill --from 2026-11-01 --to 2026-11-02
grep -q "no password file can be read here" "$T/backfill.err" || fail "backfill does not say why"
expect 1 check check
grep -q "account demo: FAILED: no password here: " "$T/check.out" || fail "check does not name the account"
grep -q "database: reachable" "$T/check.out" || { cat "$T/check.out" >&2; fail "check: the database is not ok"; }

echo "== inside the unit: \$CREDENTIALS_DIRECTORY"
printf '%s\n' "$SIM_PASSWORD" >"$T/creds/fleetarc-password"
CREDENTIALS_DIRECTORY=$T/creds expect 0 devices_unit devices
grep -q "$(awk '/^account/{print $2}' "$T/sim.out")\|IMEI\|imei" "$T/devices_unit.out" || fail "devices in the unit printed nothing"
CREDENTIALS_DIRECTORY=$T/creds expect 0 check_unit check
grep -q "account demo: ok" "$T/check_unit.out" || fail "check in the unit: the account is not ok"

echo "== outside the unit: the password file"
printf '%s\n' "$SIM_PASSWORD" >"$T/password"
expect 0 devices_file devices
CREDENTIALS_DIRECTORY=$T/nothere expect 0 devices_file2 devices

# a file that is there but empty is a configuration error, for every command
: >"$T/password"
expect 2 bad check --offline
grep -q "holds an empty password" "$T/bad.err" || fail "an empty password file is not an error"

[ "$failures" -eq 0 ] || exit 1
echo PASS
