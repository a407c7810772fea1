#!/usr/bin/env bash
# `fleetarc retention [--dry-run]` and fleetarc.drop_partitions_before(): whole monthly
# partitions entirely older than the cutoff go (DETACH + DROP), the month straddling the
# cutoff and newer ones stay with their rows, a dry run changes nothing, retention off
# drops nothing, a bad table name is refused. Rows of fleetarc.rejected last refused
# before retention.rejected are deleted (the table stays bounded), others stay.
. "$(dirname "$0")/archive_lib.sh"
q() { psql -d "$DB" -qAt -v ON_ERROR_STOP=1 -c "$1"; }

fresh_db fa_ops_retention
"$FLEETARC_BIN" migrate --database "dbname=$DB" >/dev/null 2>&1 || { echo "FAIL: migrate" >&2; exit 1; }

# 2020-01..03 (old), the month holding the cutoff (now - 400d), and now's
q "SELECT fleetarc.ensure_partitions('2020-01-01Z', '2020-03-15Z'),
          fleetarc.ensure_partitions(now() - interval '400 days', now() - interval '400 days')" >/dev/null
cut_month=$(q "SELECT to_char(date_trunc('month', (now() - interval '400 days') AT TIME ZONE 'UTC'), 'YYYYMM')")
q "INSERT INTO fleetarc.positions VALUES
     ('1', '2020-01-15Z', 1, 2, 3, 4), ('1', '2020-03-31 23:59:59Z', 1, 2, 3, 4),
     ('1', date_trunc('month', now() - interval '400 days') + interval '1 second', 1, 2, 3, 4),
     ('1', now(), 1, 2, 3, 4);
   INSERT INTO fleetarc.alarms VALUES ('1', 1, '2020-02-02Z', '2020-02-02Z', 1, 2, 3, 4, 0),
     ('1', 1, now(), now(), 1, 2, 3, 4, 0)"

cat >"$T/cfg.yaml" <<YAML
api: {base_url: "http://127.0.0.1:9"}
accounts: [{account: demo, password_md5: 9d591136280b3ec563e3062dbb6f915b}]
database: {conninfo: "dbname=$DB"}
retention: {positions: 400d, alarms: 400d}
YAML

out=$("$FLEETARC_BIN" -c "$T/cfg.yaml" retention --dry-run)
echo "$out" | sed 's/^/  /'
for t in positions_202001 positions_202002 positions_202003 alarms_202001 alarms_202002 alarms_202003; do
  echo "$out" | grep -q "^would drop ${t%%_*} $t \[" || fail "dry run does not list $t"
done
echo "$out" | grep -q "_$cut_month" && fail "dry run lists the month straddling the cutoff"
[ "$(echo "$out" | grep -c '^would drop')" = 6 ] || fail "dry run lists other partitions"
[ "$(q "SELECT count(*) FROM fleetarc.positions")" = 4 ] || fail "dry run changed rows"
[ -n "$(q "SELECT to_regclass('fleetarc.positions_202001')")" ] || fail "dry run dropped a partition"

out=$("$FLEETARC_BIN" -c "$T/cfg.yaml" retention)
echo "$out" | sed 's/^/  /'
[ "$(echo "$out" | grep -c '^dropped')" = 6 ] || fail "not 6 partitions dropped"
echo "$out" | grep -q '^partitions created ahead: [0-9]' || fail "no partitions-ahead line"
[ -z "$(q "SELECT to_regclass('fleetarc.positions_202001')")" ] || fail "positions_202001 still there"
[ -z "$(q "SELECT to_regclass('fleetarc.alarms_202002')")" ] || fail "alarms_202002 still there"
[ -n "$(q "SELECT to_regclass('fleetarc.positions_$cut_month')")" ] || fail "cutoff month dropped"
[ "$(q "SELECT count(*) FROM fleetarc.positions")" = 2 ] || fail "positions left != 2 (cutoff month + now)"
[ "$(q "SELECT count(*) FROM fleetarc.alarms")" = 1 ] || fail "alarms left != 1"
next=$(q "SELECT to_char((now() + interval '2 months') AT TIME ZONE 'UTC', 'YYYYMM')")
[ -n "$(q "SELECT to_regclass('fleetarc.positions_$next')")" ] || fail "no partition two months ahead"
out=$("$FLEETARC_BIN" -c "$T/cfg.yaml" retention)
echo "$out" | grep -q '^nothing to drop$' || fail "second run is not a no-op"

# fleetarc.rejected (issue 13): rows last refused before retention.rejected go, a row
# first refused long ago but refused again lately stays (3 rows left before the key)
q "INSERT INTO fleetarc.rejected (source, imei, payload, error, at, last_at) VALUES
     ('positions', '1', '{\"n\": 1}', 'e', now() - interval '100 days', now() - interval '100 days'),
     ('positions', '1', '{\"n\": 2}', 'e', now() - interval '100 days', now() - interval '2 days'),
     ('alarms', '1', '{\"n\": 3}', 'e', now() - interval '5 days', now() - interval '5 days')"
sed -i 's/^retention: .*/retention: {positions: 400d, alarms: 400d, rejected: 30d}/' "$T/cfg.yaml"
out=$("$FLEETARC_BIN" -c "$T/cfg.yaml" retention --dry-run 2>&1) || fail "retention with rejected: $out"
echo "$out" | sed 's/^/  /'
echo "$out" | grep -q '^would delete rejected rows: 1$' || fail "dry run does not count 1 old rejected row"
[ "$(q "SELECT count(*) FROM fleetarc.rejected")" = 3 ] || fail "dry run deleted rejected rows"
out=$("$FLEETARC_BIN" -c "$T/cfg.yaml" retention 2>&1) || fail "retention with rejected: $out"
echo "$out" | grep -q '^deleted rejected rows: 1$' || fail "retention does not say 1 rejected row deleted"
left=$(q "SELECT string_agg(payload->>'n', ',' ORDER BY payload->>'n') FROM fleetarc.rejected")
echo "  rejected rows left: $left"
[ "$left" = "2,3" ] || fail "rejected rows left: '$left', expected 2,3"

# retention off: nothing dropped even with old partitions
q "SELECT fleetarc.ensure_partitions('2019-05-01Z', '2019-05-01Z')" >/dev/null
sed -i '/^retention:/d' "$T/cfg.yaml"
out=$("$FLEETARC_BIN" -c "$T/cfg.yaml" retention)
echo "$out" | grep -q "positions kept forever, alarms kept forever" || fail "retention off not said"
[ -n "$(q "SELECT to_regclass('fleetarc.positions_201905')")" ] || fail "retention off dropped"

# the function refuses other tables
psql -d "$DB" -qAt -c "SELECT * FROM fleetarc.drop_partitions_before('devices', now(), false)" 2>"$T/err" &&
  fail "devices accepted"
grep -q "must be positions or alarms" "$T/err" || fail "no error for a bad table"

[ "$failures" -eq 0 ] || exit 1
echo PASS
