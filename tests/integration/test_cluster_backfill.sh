#!/usr/bin/env bash
# Issue 19: two `backfill` runs over one range on two hosts (cluster.enabled: backfill
# leases, "backfill:ACCOUNT") split the work instead of doing it twice: together they make
# the playback and alarm requests of one backfill alone, both exit 0, and the archive
# equals the truth with no row twice.
. "$(dirname "$0")/archive_lib.sh"

NOW=1772798400
SIM_ARGS=(--devices 12 --seed 37 --history 3 --no-traps --now $NOW --speed 0)
FROM=$((NOW - 2 * 86400)) TO=$((NOW - 86400))
CLUSTER="cluster: {enabled: true, lease_ttl: 3s}"
backfill() { # NAME: a backfill of [FROM, TO) with its own token store (a host of its own)
  mkdir -p "$T/$1"
  RUNTIME_DIRECTORY="$T/$1" "$FLEETARC_BIN" -c "$T/cfg.yaml" backfill --from $FROM --to $TO \
    --streams playback,alarms >"$T/$1.out" 2>"$T/$1.err"
}
paged() { echo $(($(sim_stat requests.playback) + $(sim_stat 'requests.alarm/list'))); }

# one backfill alone: the requests the range needs
fresh_db fa_cluster_bf1
sim_start "${SIM_ARGS[@]}"
write_config "$CLUSTER"
backfill one || fail "the backfill alone exited $?"
alone=$(paged)
sim_stop

# two at once, on a fresh database and an identical sim
fresh_db fa_cluster_bf2
sim_start "${SIM_ARGS[@]}" --truth "$T/truth"
write_config "$CLUSTER"
backfill a & pa=$!
backfill b & pb=$!
wait $pa || fail "backfill a exited $?"
wait $pb || fail "backfill b exited $?"
both=$(paged)
echo "playback + alarm requests: $alone for one backfill alone, $both for two at once"
[ "$alone" -gt 0 ] || fail "the backfill made no request"
[ "$both" -le "$alone" ] || fail "two backfills made $both requests where one makes $alone: the range was fetched twice"
cat "$T/a.err" "$T/b.err" >"$T/fleetarc.err"
grep -h "backfill leases" "$T/a.err" "$T/b.err" | head -1
compare $FROM $TO
dup=$(psql -d "$DB" -qAtc "SELECT count(*) - count(DISTINCT (imei, gpstime)) FROM fleetarc.positions")
[ "$dup" = 0 ] || fail "$dup duplicate positions"
dupa=$(psql -d "$DB" -qAtc "SELECT count(*) - count(DISTINCT (imei, alarm_type, gpstime)) FROM fleetarc.alarms")
[ "$dupa" = 0 ] || fail "$dupa duplicate alarms"
sim_stop
finish
