#!/usr/bin/env bash
# README.md's Quick start, as written: its first sh block (the machine's packages) is
# checked against scripts/lib.sh, its second is run line for line (build, createdb,
# fleetarc-sim, migrate, check, backfill, report, psql, kill) in a copy of the source
# (kept in BUILD/quickstart so the Release build is incremental), against the
# PostgreSQL of PG*; then the database must hold points. As root the block runs in a
# network namespace of its own (its fixed ports 8080 and 9187 cannot collide with
# anything); otherwise it needs those ports free. Then a backfill of a range the
# simulator does not hold must say so on stderr.
set -euo pipefail
: "${FLEETARC_BIN:?}" "${FLEETARC_SOURCE_DIR:?}"
if [ -z "${PGHOST:-}" ]; then
  [ "${FLEETARC_REQUIRE_PG:-0}" = 1 ] && { echo "FAIL: no PostgreSQL (PGHOST unset)" >&2; exit 1; }
  echo "skipped: no PostgreSQL" >&2; exit 77
fi
README=$FLEETARC_SOURCE_DIR/README.md
W=$(dirname "$FLEETARC_BIN")/quickstart
T=$(mktemp -d /tmp/fleetarc-qs.XXXXXX)
chmod 755 "$T"
export RUNTIME_DIRECTORY=$T/run   # a token store of its own
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
cleanup() {
  [ -f "$T/sim.pid" ] && kill "$(cat "$T/sim.pid")" 2>/dev/null
  psql -d postgres -qAtc "DROP DATABASE IF EXISTS fleetarc WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$T"
}
trap cleanup EXIT

# block N: the Nth ```sh block of the section "## Quick start"
block() {
  awk -v n="$1" '/^## /{q=($0=="## Quick start")} q&&/^```sh$/{k++;inb=1;next} q&&/^```$/{inb=0;next}
                 q&&inb&&k==n{print}' "$README"
}
block 1 >"$T/setup.sh"
block 2 >"$T/quickstart.sh"
[ -s "$T/setup.sh" ] && [ -s "$T/quickstart.sh" ] || { echo "FAIL: no Quick start blocks in README.md" >&2; exit 1; }
# The packages: scripts/lib.sh's build packages, a server and a client of PostgreSQL.
. "$FLEETARC_SOURCE_DIR/scripts/lib.sh"
for p in "${FLEETARC_BUILD_PACKAGES[@]}" postgresql postgresql-client; do
  grep -q "^apt-get install .* $p\( \|$\)" "$T/setup.sh" || fail "the Quick start's apt-get line lacks $p"
done
grep -q '^createdb fleetarc$' "$T/quickstart.sh" || fail "the Quick start does not createdb fleetarc"
echo "== the Quick start's commands"
cat "$T/quickstart.sh"

# The source, copied with its timestamps (unchanged files are not rebuilt).
mkdir -p "$W"
(cd "$FLEETARC_SOURCE_DIR" &&
  if git rev-parse --git-dir >/dev/null 2>&1; then git ls-files -z --cached --others --exclude-standard
  else find . -path './build*' -prune -o -type f -print0; fi |
  tar --null -T - -cf - 2>/dev/null) | tar -C "$W" -xpf -
rm -f "$W/sim.out"
psql -d postgres -qAtc "DROP DATABASE IF EXISTS fleetarc WITH (FORCE)" >/dev/null

# The block runs under bash -e: a failing line fails the test. The simulator's pid is
# noted for the cleanup, should the block stop before its `kill %1`.
{
  echo 'set -e'
  echo "trap 'jobs -p >$T/sim.pid' EXIT"
  cat "$T/quickstart.sh"
} >"$T/run.sh"
run=(bash "$T/run.sh")
if [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null && command -v ip >/dev/null; then
  echo "== running it in a network namespace of its own"
  run=(unshare -n bash -c 'ip link set lo up && exec bash "$0"' "$T/run.sh")
elif (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null; then
  echo "skipped: port 8080 is taken and no network namespace is available" >&2; exit 77
fi
start=$(date +%s)
if ! (cd "$W" && timeout 900 "${run[@]}") >"$T/out" 2>"$T/err"; then
  tail -n 40 "$T/out"; tail -n 40 "$T/err" >&2
  fail "the Quick start failed"
fi
echo "(ran in $(( $(date +%s) - start ))s)"
grep -v '^\[' "$T/out" | tail -n 20
grep -E "backfill|summary|ok \(" "$T/err" | tail -n 5
points=$(psql -d fleetarc -qAtc "SELECT count(*) FROM fleetarc.positions" 2>/dev/null || echo 0)
devices=$(psql -d fleetarc -qAtc "SELECT count(DISTINCT imei) FROM fleetarc.positions" 2>/dev/null || echo 0)
echo "database: $points points of $devices devices"
[ "$points" -gt 0 ] || fail "no points in the database after the Quick start"
grep -q "holds no points" "$T/err" && fail "the Quick start's backfill says its range holds nothing"
for pid in $(cat "$T/sim.pid" 2>/dev/null); do
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && fail "the Quick start left the simulator running ($pid)"
done

# A range the simulator does not hold (before its 3 days of history): said on stderr.
SIM_BIN=$W/build/fleetarc-sim FA=$W/build/fleetarc
"$SIM_BIN" --listen 127.0.0.1:0 --devices 5 --history 3 --now 2026-11-08 >"$T/sim2.out" 2>/dev/null &
echo $! >"$T/sim.pid"
for _ in $(seq 100); do grep -q '^ready' "$T/sim2.out" && break; sleep 0.1; done
sed -e "s|http://127.0.0.1:8080|http://$(awk '/^listen/{print $2}' "$T/sim2.out")|" \
    -e 's|^  listen: .*|  listen:|' "$W/conf/sim.yaml" >"$T/sim2.yaml"
export SIM_PASSWORD; SIM_PASSWORD=$(awk '/^password/{print $2}' "$T/sim2.out")
rc=0
"$FA" -c "$T/sim2.yaml" backfill --from 2026-10-01 --to 2026-10-02 >"$T/out2" 2>"$T/err2" || rc=$?
grep "holds no points" "$T/err2" || { cat "$T/err2" >&2; fail "a backfill of an empty range does not say so"; }
[ ! -s "$T/out2" ] || fail "the empty-range message went to stdout"
[ $rc = 0 ] || fail "the empty-range backfill exits $rc"
"$FA" -c "$T/sim2.yaml" backfill --from 2026-11-06 --to 2026-11-07 >/dev/null 2>"$T/err3" ||
  { cat "$T/err3" >&2; fail "a backfill of a day the simulator holds"; }
grep -q "holds no points" "$T/err3" && { cat "$T/err3" >&2; fail "a backfill with points says its range holds none"; }

[ "$failures" -eq 0 ] || exit 1
echo PASS
