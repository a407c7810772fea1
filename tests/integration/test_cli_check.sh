#!/usr/bin/env bash
# `fleetarc check`: exit 0 and the masked configuration for a good file, exit 2 with
# FILE:LINE:COLUMN for a bad one, exit 1 when the online checks
# cannot reach the API or the database (test_cli_check_online.sh has the rest).
# Needs only the fleetarc binary: no PostgreSQL, never skipped.
set -euo pipefail
: "${FLEETARC_BIN:?}" "${FLEETARC_SOURCE_DIR:?}" "${FLEETARC_TEST_DATA:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# run EXPECTED_STATUS ARGS...: runs fleetarc, stdout in $tmp/out, stderr in $tmp/err
run() {
  local want=$1 got=0
  shift
  "$FLEETARC_BIN" "$@" >"$tmp/out" 2>"$tmp/err" || got=$?
  if [ "$got" -ne "$want" ]; then
    fail "fleetarc $* exited $got, expected $want"
    sed 's/^/  stderr: /' "$tmp/err" >&2
  fi
}
contains() { grep -qF -- "$2" "$tmp/$1" || fail "$1 lacks: $2"; }
lacks() { ! grep -qF -- "$2" "$tmp/$1" || fail "$1 shows: $2"; }

example=$FLEETARC_SOURCE_DIR/conf/fleetarc.yaml
unset FLEETARC_CONFIG

# the example configuration, password from the environment
export DEMO_PASSWORD='Abc@34590'
run 0 -c "$example" check --offline
contains out 'base_url: "https://api.mygps.mu"'
contains out 'password_md5: "***"'
contains out '    playback: 12s'
lacks out 'Abc@34590'
lacks out '9d591136280b3ec563e3062dbb6f915b'
lacks err 'Abc@34590'

# FLEETARC_CONFIG is used when -c is absent
FLEETARC_CONFIG=$example run 0 check --offline
contains out "from $example"

# online: nothing listens where the API and the database should be: exit 1, each named
printf 'api:\n  base_url: http://127.0.0.1:1\n  retry: {max_attempts: 1}\naccounts:\n  - account: a\n    password: "Abc@34590"\ndatabase:\n  conninfo: "host=127.0.0.1 port=1 dbname=x"\n' >"$tmp/down.yaml"
run 1 -c "$tmp/down.yaml" check
contains out 'database: FAILED: cannot connect to PostgreSQL'
contains out 'account a: FAILED: '
contains err 'fleetarc check: failed (database, accounts)'
lacks out 'Abc@34590'

# a typo: exit 2, the position and the key's path
typo=$FLEETARC_TEST_DATA/config/typo.yaml
run 2 -c "$typo" check --offline
contains err "$typo:6:5: key 'api.rate_limits.playbak': unknown key"
contains err "did you mean 'playback'?"
[ -s "$tmp/out" ] && fail "stdout not empty on a bad configuration"
run 2 -c "$typo" check

# an unset variable in a password names itself and where it is used; the file is valid
# all the same (only the commands that log in need the password)
unset DEMO_PASSWORD
run 0 -c "$example" check --offline
contains err "note: $example:"
contains err "key 'accounts[0].password': environment variable DEMO_PASSWORD is not set (the commands that log in will need it)"

# a bad md5 is not echoed
printf 'api:\n  base_url: https://h\naccounts:\n  - account: a\n    password_md5: 0123456789abcdef0123456789abcdeZ\n' >"$tmp/md5.yaml"
run 2 -c "$tmp/md5.yaml" check --offline
contains err "$tmp/md5.yaml:5:19: key 'accounts[0].password_md5': not 32 hex digits"
lacks err '0123456789abcdef'

# usage
run 2 -c "$tmp/none.yaml" check --offline
contains err "$tmp/none.yaml: cannot read the configuration: No such file or directory"
run 2 -c "$example" check --bogus
contains err "unknown option '--bogus'"
run 0 check --help
contains out 'usage: fleetarc [-c FILE] check [--offline]'
# an option without its value is a usage error of every command alike (cli_option)
run 2 -c "$example" status --database
contains err "fleetarc status: --database needs a value (see fleetarc status --help)"
run 2 -c "$example" backfill --from
contains err "fleetarc backfill: --from needs a value (see fleetarc backfill --help)"
run 2 -c "$example" devices --format
contains err "fleetarc devices: --format needs a value (see fleetarc devices --help)"

if [ "$failures" -ne 0 ]; then
  echo "test_cli_check: $failures failure(s)" >&2
  exit 1
fi
echo "test_cli_check: ok"
