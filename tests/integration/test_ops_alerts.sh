#!/usr/bin/env bash
# deploy/prometheus and deploy/grafana (issue 17): `promtool check rules` and
# `promtool test rules` (each alert fires on its series, not before its `for:`),
# `promtool check config`; every fleetarc_* metric they name is one the service
# registers; the dashboard is JSON and its provisioning YAML; every SQL query of the
# dashboard runs on a migrated database (Grafana's time macros replaced) as the
# read-only reporter role.
. "$(dirname "$0")/archive_lib.sh"
D=$FLEETARC_SOURCE_DIR/deploy

if command -v promtool >/dev/null; then
  promtool check rules "$D/prometheus/alerts.yml" || fail "promtool check rules"
  (cd "$D/prometheus" && promtool test rules alerts_test.yml) || fail "promtool test rules"
  promtool check config "$D/prometheus/prometheus.yml" || fail "promtool check config"
else
  [ "${FLEETARC_REQUIRE_PG:-0}" = 1 ] && fail "promtool is missing (Debian package prometheus; scripts/test installs it)"
  echo "promtool missing: YAML parse only" >&2
fi

python3 - "$D" "$FLEETARC_SOURCE_DIR/src/ops/service.c" <<'PY' || fail "deploy files"
import json, re, sys, yaml
d, service = sys.argv[1], open(sys.argv[2]).read()
for f in ("prometheus/alerts.yml", "prometheus/prometheus.yml", "prometheus/alerts_test.yml",
          "grafana/provisioning/datasources/fleetarc.yaml",
          "grafana/provisioning/dashboards/fleetarc.yaml", "compose.yaml"):
    yaml.safe_load(open(f"{d}/{f}"))
dash = json.load(open(f"{d}/grafana/dashboards/fleetarc.json"))
text = open(f"{d}/prometheus/alerts.yml").read() + json.dumps(dash)
names = set(re.findall(r"fleetarc_[a-z_]+", text))
registered = set(re.findall(r'"(fleetarc_[a-z_]+)"', service))
bad = [n for n in names if n not in registered and not n.startswith("fleetarc_reporter")]
if bad:
    print("metrics not registered by src/ops/service.c:", sorted(bad)); sys.exit(1)
print(f"{len(names)} metric names known; {len(dash['panels'])} panels")
PY

if [ -z "${PGHOST:-}" ]; then
  [ "${FLEETARC_REQUIRE_PG:-0}" = 1 ] && fail "no PostgreSQL"
else
  fresh_db fa_ops_alerts
  echo "database: {conninfo: \"dbname=$DB\"}
api: {base_url: http://127.0.0.1:9}
accounts: [{account: x, password_md5: 0123456789abcdef0123456789abcdef}]" >"$T/cfg.yaml"
  "$FLEETARC_BIN" -c "$T/cfg.yaml" migrate >/dev/null 2>&1 || fail "migrate"
  psql -d "$DB" -qAt -v ON_ERROR_STOP=1 -f "$D/roles.sql" >/dev/null || fail "roles.sql"
  python3 - "$D/grafana/dashboards/fleetarc.json" >"$T/queries.sql" <<'PY'
import json, sys
dash = json.load(open(sys.argv[1]))
qs = [t["rawSql"] for p in dash["panels"] for t in p["targets"] if "rawSql" in t]
qs += [v["query"] for v in dash["templating"]["list"]]
print("SET ROLE fleetarc_reporter;")
for q in qs:
    q = q.replace("$__timeFrom()", "(now() - interval '1 day')").replace("$__timeTo()", "now()")
    q = q.replace("'$imei'", "'000000000000000'")
    print(q + ";")
PY
  n=$(grep -c ';$' "$T/queries.sql")
  psql -d "$DB" -qAt -v ON_ERROR_STOP=1 -f "$T/queries.sql" >/dev/null ||
    fail "a dashboard query fails as the reporter role"
  echo "$((n - 1)) dashboard queries ran as fleetarc_reporter"
fi
[ $failures -eq 0 ] || { echo "$failures failure(s)" >&2; exit 1; }
echo PASS
