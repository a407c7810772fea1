# Shared by bench/*.sh: fleetarc-sim started and stopped, its counters and its truth.
# shellcheck shell=bash
# Needs: SIM (the fleetarc-sim binary), work (a scratch folder), PY (python3).

# sim_start NAME ARGS...: starts fleetarc-sim on a free port with ARGS, waits for ready;
# sets sim_pid sim_url sim_account sim_password (NAME: its files in $work).
sim_start() {
  local name=$1
  shift
  "$SIM" --listen 127.0.0.1:0 "$@" >"$work/$name.out" 2>"$work/$name.err" &
  sim_pid=$!
  local _
  for _ in $(seq 1 1200); do grep -q '^ready' "$work/$name.out" 2>/dev/null && break; sleep 0.1; done
  grep -q '^ready' "$work/$name.out" || { cat "$work/$name.err" >&2; return 1; }
  sim_url=http://$(awk '/^listen/{print $2}' "$work/$name.out")
  sim_account=$(awk '/^account/{print $2}' "$work/$name.out")
  sim_password=$(awk '/^password/{print $2}' "$work/$name.out")
}
sim_stop() {
  [ -n "${sim_pid:-}" ] || return 0
  kill "$sim_pid" 2>/dev/null || true
  wait "$sim_pid" 2>/dev/null || true
  sim_pid=""
}
# sim_get PATH.IN.STATS: one value of GET /sim/stats, e.g. present, requests.track
sim_get() {
  curl -s "$sim_url/sim/stats" |
    $PY -c "import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1].split('.'): v=v[k]
print(v)" "$1"
}

# sim_now_behind SPEED SECONDS [HOUR]: for the simulator's clock at SPEED x for about
# SECONDS real seconds, a start (--now) far enough behind the real clock that it never
# passes it (fleetarc believes no servertime ahead of the real present, nor asks for
# days that have not come); with HOUR, the latest such start at HOUR:00 UTC (e.g. 10 for a
# run by day, when vehicles drive).
sim_now_behind() {
  local t=$(($(date +%s) - ($2 + 300) * $1))
  [ -z "${3:-}" ] || t=$(((t - $3 * 3600) / 86400 * 86400 + $3 * 3600))
  echo "$t"
}

# sim_truth DIR UNTIL ARGS...: the truth CSVs of [epoch, UNTIL) of the fleet that ARGS
# (the same --devices --seed --history --now ... as the run's simulator) describe.
sim_truth() {
  local dir=$1 until=$2 pid
  shift 2
  "$SIM" --listen 127.0.0.1:0 "$@" --speed 0 --truth "$dir" --truth-until "$until" \
    >"$work/truth.out" 2>"$work/truth.err" &
  pid=$!
  local _
  for _ in $(seq 1 1200); do grep -q '^ready' "$work/truth.out" 2>/dev/null && break; sleep 0.1; done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  [ -s "$dir/positions.csv" ] || { cat "$work/truth.err" >&2; return 1; }
}

# load1: the 1-minute load average
load1() { cut -d' ' -f1 /proc/loadavg; }
