#!/usr/bin/env bash
# Packaging: a Release tree configured with the prefix /usr (in BUILD/pkg, kept between
# runs) is installed with `cmake --install` into a DESTDIR and its files checked (the
# man pages generated from --help and conf/fleetarc.yaml, the unit's paths, the
# configuration kept on a second install); then, as root with dpkg, `cpack -G DEB`
# builds the package, `dpkg -i` installs it (user fleetarc, group-readable conffile,
# unit enabled but not started, `fleetarc --version`, `man fleetarc`,
# `systemd-analyze verify` of the installed unit), `dpkg -r` removes it and `dpkg -P`
# purges it; the machine is left as found (a user the package created is deleted).
# Skips the dpkg part (saying so) when not root, without dpkg, or when a fleetarc
# package or /usr/bin/fleetarc is already there.
set -euo pipefail
: "${FLEETARC_BIN:?}" "${FLEETARC_SOURCE_DIR:?}"
T=$(mktemp -d /tmp/fleetarc-pkg.XXXXXX)
PB=$(dirname "$FLEETARC_BIN")/pkg
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
installed=0 user_before=1 group_before=1
cleanup() {
  if [ $installed = 1 ]; then
    dpkg_retry -P fleetarc >/dev/null 2>&1 || true
    [ $user_before = 1 ] || userdel fleetarc 2>/dev/null || true
    [ $group_before = 1 ] || groupdel fleetarc 2>/dev/null || true
  fi
  rm -rf "$T"
}
trap cleanup EXIT
# dpkg ARGS: dpkg, waiting up to 5 minutes for the lock another apt or dpkg holds.
dpkg_retry() {
  local i
  for i in $(seq 150); do
    if dpkg "$@" 2>"$T/dpkg.err"; then return 0; fi
    grep -qi "lock" "$T/dpkg.err" || { cat "$T/dpkg.err" >&2; return 1; }
    sleep 2
  done
  cat "$T/dpkg.err" >&2
  return 1
}

echo "== Release build in $PB"
cmake -S "$FLEETARC_SOURCE_DIR" -B "$PB" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFLEETARC_TESTS=OFF \
  -DFLEETARC_SANITIZE=OFF -DCMAKE_INSTALL_PREFIX=/usr >"$T/configure.log" 2>&1 ||
  { cat "$T/configure.log" >&2; exit 1; }
cmake --build "$PB" -j2 --target fleetarc fleetarc-sim man >"$T/build.log" 2>&1 ||
  { tail -n 40 "$T/build.log" >&2; exit 1; }
version=$("$PB/fleetarc" --version)
echo "$version"
[[ $version =~ ^fleetarc\ [0-9]+\.[0-9]+\.[0-9]+(\+[0-9]+\.g[0-9a-f]+)?$ ]] || fail "--version: '$version'"
if git -C "$FLEETARC_SOURCE_DIR" rev-parse --short=7 HEAD >"$T/head" 2>/dev/null; then
  [[ $version == *".g$(cat "$T/head")" ]] || [[ $version != *+* ]] ||
    fail "--version '$version' is not of the commit $(cat "$T/head")"
fi

echo "== cmake --install into a DESTDIR"
D=$T/root
DESTDIR=$D cmake --install "$PB" >"$T/install.log" 2>&1 || { cat "$T/install.log" >&2; exit 1; }
for f in usr/bin/fleetarc usr/bin/fleetarc-sim usr/share/man/man1/fleetarc.1.gz \
         usr/share/man/man1/fleetarc-sim.1.gz usr/share/man/man5/fleetarc.yaml.5.gz \
         usr/lib/systemd/system/fleetarc.service etc/fleetarc/fleetarc.yaml \
         usr/share/doc/fleetarc/fleetarc.yaml usr/share/doc/fleetarc/README.md \
         usr/share/doc/fleetarc/README.deploy.md usr/share/fleetarc/roles.sql; do
  [ -f "$D/$f" ] || fail "not installed: /$f"
done
for s in "$FLEETARC_SOURCE_DIR"/sql/[0-9][0-9][0-9]_*.sql; do
  cmp -s "$s" "$D/usr/share/fleetarc/sql/$(basename "$s")" || fail "not installed: sql/$(basename "$s")"
done
cmp -s "$FLEETARC_SOURCE_DIR/conf/fleetarc.yaml" "$D/etc/fleetarc/fleetarc.yaml" || fail "etc config differs"
[ "$(stat -c %a "$D/etc/fleetarc/fleetarc.yaml")" = 640 ] || fail "etc config mode is not 640"
grep -q '^ExecStart=/usr/bin/fleetarc -c /etc/fleetarc/fleetarc.yaml run$' \
  "$D/usr/lib/systemd/system/fleetarc.service" || fail "unit ExecStart"
# The man pages hold the --help texts verbatim: every command's usage line, and every
# key of the reference configuration.
man -l "$D/usr/share/man/man1/fleetarc.1.gz" 2>/dev/null | sed 's/^ *//' >"$T/man1.txt"
for c in $("$PB/fleetarc" --help | awk '/^commands:/{f=1;next} f&&/^  [a-z]/{print $1} f&&/^$/{exit}'); do
  u=$("$PB/fleetarc" "$c" --help | head -n 1 | sed 's/^ *//')
  grep -qF -- "$u" "$T/man1.txt" || fail "fleetarc(1) lacks '$u'"
done
grep -qF -- "$("$PB/fleetarc" --help | head -n 1)" "$T/man1.txt" || fail "fleetarc(1) lacks the --help head"
MANWIDTH=200 man -l "$D/usr/share/man/man5/fleetarc.yaml.5.gz" 2>/dev/null | sed 's/^ *//' >"$T/man5.txt"
n=0
while IFS= read -r line; do
  [ -n "$line" ] || continue
  grep -qxF -- "$(printf '%s' "$line" | sed 's/^ *//')" "$T/man5.txt" || { fail "fleetarc.yaml(5) lacks: $line"; break; }
  n=$((n + 1))
done <"$FLEETARC_SOURCE_DIR/conf/fleetarc.yaml"
echo "fleetarc.yaml(5): all $n lines of conf/fleetarc.yaml"
MANWIDTH=200 man -l "$D/usr/share/man/man1/fleetarc-sim.1.gz" 2>/dev/null | grep -qF -- "--limits SPEC" ||
  fail "fleetarc-sim(1) lacks --limits"
# noreplace: the admin's edit survives a second install; the rest is replaced.
echo "# edited" >>"$D/etc/fleetarc/fleetarc.yaml"
rm "$D/usr/share/fleetarc/roles.sql"
DESTDIR=$D cmake --install "$PB" >"$T/install2.log" 2>&1 || { cat "$T/install2.log" >&2; exit 1; }
[ "$(tail -n 1 "$D/etc/fleetarc/fleetarc.yaml")" = "# edited" ] || fail "a second install replaced the configuration"
[ -f "$D/usr/share/fleetarc/roles.sql" ] || fail "a second install did not restore roles.sql"
grep -q "Keeping: .*/etc/fleetarc/fleetarc.yaml" "$T/install2.log" || fail "a second install does not say it keeps the file"

if [ "$(id -u)" != 0 ] || ! command -v dpkg >/dev/null || ! command -v cpack >/dev/null; then
  echo "not root, or no dpkg/cpack: the package is not built nor installed"
  [ "$failures" -eq 0 ] || exit 1
  echo PASS; exit 0
fi
if dpkg-query -W -f='${Status}' fleetarc 2>/dev/null | grep -q installed || [ -e /usr/bin/fleetarc ]; then
  echo "fleetarc is already installed on this machine: the package is not installed (left alone)"
  [ "$failures" -eq 0 ] || exit 1
  echo PASS; exit 0
fi

echo "== cpack -G DEB"
rm -f "$PB"/fleetarc_*.deb
(cd "$PB" && cpack -G DEB) >"$T/cpack.log" 2>&1 || { cat "$T/cpack.log" >&2; exit 1; }
deb=$(ls "$PB"/fleetarc_*.deb)
dpkg-deb -f "$deb" Depends | tee "$T/depends"
for lib in libuv1 libcurl4 libpq5 libcjson1 libyaml-0-2 libssl3 libsystemd0 libc6; do
  grep -q "$lib" "$T/depends" || fail "Depends lacks $lib"
done
[ "$(dpkg-deb -f "$deb" Version)" = "${version#fleetarc }" ] || fail "package version is not --version"
dpkg-deb -e "$deb" "$T/control"
grep -qx /etc/fleetarc/fleetarc.yaml "$T/control/conffiles" || fail "the configuration is not a conffile"

getent passwd fleetarc >/dev/null || user_before=0
getent group fleetarc >/dev/null || group_before=0
echo "== dpkg -i"
installed=1
dpkg_retry -i "$deb" || { fail "dpkg -i"; exit 1; }
[ "$(/usr/bin/fleetarc --version)" = "$version" ] || fail "installed --version is not '$version'"
getent passwd fleetarc | grep -q ':/usr/sbin/nologin$' || fail "no system user fleetarc"
[ "$(stat -c '%U:%G %a' /etc/fleetarc/fleetarc.yaml)" = "root:fleetarc 640" ] ||
  fail "/etc/fleetarc/fleetarc.yaml is $(stat -c '%U:%G %a' /etc/fleetarc/fleetarc.yaml)"
MANWIDTH=200 man fleetarc 2>/dev/null | grep -q "backfill --from T --to T" || fail "man fleetarc"
man 5 fleetarc.yaml 2>/dev/null | grep -q "password_file" || fail "man 5 fleetarc.yaml"
man fleetarc-sim 2>/dev/null | grep -q -- "--devices N" || fail "man fleetarc-sim"
[ -L /etc/systemd/system/multi-user.target.wants/fleetarc.service ] || fail "the unit is not enabled"
if [ -d /run/systemd/system ]; then
  [ "$(systemctl is-active fleetarc.service 2>/dev/null)" != active ] || fail "the unit was started"
fi
if command -v systemd-analyze >/dev/null; then
  # with man pages checked: Documentation=man:fleetarc(1) must resolve now
  if systemd-analyze verify /usr/lib/systemd/system/fleetarc.service >"$T/verify" 2>&1 && [ ! -s "$T/verify" ]; then
    echo "systemd-analyze verify (installed unit): clean"
  else
    cat "$T/verify" >&2; fail "systemd-analyze verify of the installed unit"
  fi
fi
# A local edit of the conffile survives an upgrade-in-place (dpkg -i again).
echo "# local" >>/etc/fleetarc/fleetarc.yaml
dpkg_retry -i --force-confold "$deb" >/dev/null || fail "dpkg -i (again)"
[ "$(tail -n 1 /etc/fleetarc/fleetarc.yaml)" = "# local" ] || fail "reinstall replaced the edited configuration"

echo "== dpkg -r, dpkg -P"
dpkg_retry -r fleetarc || fail "dpkg -r"
[ ! -e /usr/bin/fleetarc ] || fail "dpkg -r left /usr/bin/fleetarc"
[ ! -e /usr/lib/systemd/system/fleetarc.service ] || fail "dpkg -r left the unit"
[ -f /etc/fleetarc/fleetarc.yaml ] || fail "dpkg -r removed the conffile (purge does)"
dpkg_retry -P fleetarc || fail "dpkg -P"
installed=0
[ ! -e /etc/fleetarc ] || fail "purge left /etc/fleetarc"
[ ! -e /etc/systemd/system/multi-user.target.wants/fleetarc.service ] || fail "purge left the enablement"
[ ! -e /etc/systemd/system/fleetarc.service ] || fail "purge left a mask"
ls /var/lib/systemd/deb-systemd-helper-enabled 2>/dev/null | grep -q fleetarc && fail "purge left deb-systemd-helper state"
[ $user_before = 1 ] || userdel fleetarc
[ $group_before = 1 ] || groupdel fleetarc 2>/dev/null || true
getent passwd fleetarc >/dev/null && [ $user_before = 0 ] && fail "user fleetarc left"

[ "$failures" -eq 0 ] || exit 1
echo PASS
