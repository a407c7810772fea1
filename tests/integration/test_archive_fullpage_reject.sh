#!/usr/bin/env bash
# A full page is followed even when validation refused some of its records (issue 12's
# paging rule meets issue 13's per-record validation): one bad group in a page of 1000
# leaves 999 records to store, but the answer was full, so the next page must be asked.
# fleetarc-sim --inject group=#2 damages the first group of each of that device's playback
# pages; a backfill over a week holds several pages of it. Every point but the first of
# the range (later pages' first group is the boundary, already stored) must be archived.
. "$(dirname "$0")/archive_lib.sh"

NOW=1772798400 # 2026-03-06T12:00:00Z
FROM=$((NOW - 6 * 86400)) TO=$((NOW - 6 * 3600))
fresh_db fa_fullpage
sim_start --devices 4 --seed 13 --history 7 --now $NOW --speed 0 --no-traps --truth "$T/truth" \
  --inject group=#2
I_GROUP=$(awk '$1 == "inject" && $2 == "group" {print $3}' "$T/sim.out")
write_config
want=$(awk -F, -v d="$I_GROUP" -v lo=$FROM -v hi=$TO '$1 == d && $2 >= lo && $2 < hi' "$T/truth/positions.csv" | wc -l)
echo "device $I_GROUP: $want points in the range"
[ "$want" -gt 1000 ] || fail "the range holds $want points of the device: too few for two pages"
st=0
timeout 240 "$FLEETARC_BIN" -c "$T/cfg.yaml" backfill --from $FROM --to $TO --imei "$I_GROUP" \
  --streams playback >"$T/fleetarc.out" 2>"$T/fleetarc.err" || st=$?
echo "backfill exit $st"
[ $st -eq 0 ] || fail "backfill exited $st"
have=$(psql -d "$DB" -qAtc "SELECT count(*) FROM fleetarc.positions WHERE imei = '$I_GROUP'
  AND gpstime >= to_timestamp($FROM) AND gpstime < to_timestamp($TO)")
echo "archived $have of $want"
[ "$have" -eq $((want - 1)) ] || fail "archived $have points of $want, expected all but the damaged first one"
finish
