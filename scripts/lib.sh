# Shared by scripts/*: package installation and a throw-away PostgreSQL.
# shellcheck shell=bash

# What building fleetarc needs (CMake finds each with pkg-config); scripts add their own.
FLEETARC_BUILD_PACKAGES=(build-essential cmake pkg-config libuv1-dev libcurl4-openssl-dev libpq-dev
  libcjson-dev libyaml-dev libssl-dev libsystemd-dev)

# What `fleetarc run` serves its console's map with (Leaflet, from /usr/share/javascript/leaflet),
# and the headless browser that tests/integration/test_console.sh drives.
FLEETARC_RUNTIME_PACKAGES=(libjs-leaflet)
FLEETARC_BROWSER_PACKAGES=(chromium)
# promtool, for tests/integration/test_ops_alerts.sh (deploy/prometheus)
FLEETARC_PROMETHEUS_PACKAGES=(prometheus)

# need_packages PKG...: installs the Debian packages not yet installed (root needed then).
need_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q >/dev/null
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# pg_start_throwaway: initdb + start a PostgreSQL in a temporary folder on a Unix socket
# (no TCP), exports PGHOST PGPORT PGUSER PGDATA FLEETARC_PG_BINDIR, and stops and removes
# it when the calling shell exits.
pg_start_throwaway() {
  local bindir
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -x "$bindir/initdb" ] || { echo "no PostgreSQL server found" >&2; return 1; }
  PG_TMP=$(mktemp -d /tmp/fleetarc-pg.XXXXXX)
  chmod 755 "$PG_TMP"
  local user=postgres run=()
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$PG_TMP"
    run=(runuser -u postgres --)
  else
    user=$(id -un)
  fi
  "${run[@]}" "$bindir/initdb" -D "$PG_TMP/data" -U "$user" -A trust -E UTF8 --no-locale >/dev/null
  export PGPORT=${PGPORT_TEST:-$((20000 + RANDOM % 20000))}
  export PGHOST=$PG_TMP PGUSER=$user PGDATA=$PG_TMP/data FLEETARC_PG_BINDIR=$bindir
  export FLEETARC_PG_RUNAS="${run[*]}"
  pg_resume_throwaway
  trap pg_stop_throwaway EXIT
}

# pg_pause_throwaway / pg_resume_throwaway: stops the throw-away PostgreSQL (fast: open
# sessions are cut, as in an outage) and starts it again on the same socket and port.
pg_pause_throwaway() {
  $FLEETARC_PG_RUNAS "$FLEETARC_PG_BINDIR/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
}
pg_resume_throwaway() {
  $FLEETARC_PG_RUNAS "$FLEETARC_PG_BINDIR/pg_ctl" -D "$PGDATA" -l "$PG_TMP/log" -w -o \
    "-k $PG_TMP -p $PGPORT -c listen_addresses='' -c fsync=off -c max_connections=200" start >/dev/null
}

pg_stop_throwaway() {
  [ -n "${PG_TMP:-}" ] || return 0
  local run=()
  [ "$(id -u)" -eq 0 ] && run=(runuser -u postgres --)
  "${run[@]}" "$FLEETARC_PG_BINDIR/pg_ctl" -D "$PG_TMP/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PG_TMP"
}
