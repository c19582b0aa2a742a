#!/usr/bin/env bash
# bench/run.sh - rocserv and Debian's ocserv side by side, in one run, in a closed
# network-namespace lab (root, Debian 12). See docs/benchmarks.md for the results.
#
# usage: bench/run.sh [options]
#
#   --quick              CI smoke: 1 round, 1 repetition, 3 s iperf3 runs, 10 pings, 3 connects,
#                        10 sessions, no quiet wait (about 3 minutes)
#   --reps N             repetitions of every iperf3 / ping measurement per round (default 1)
#   --rounds N           run every section N times, the servers' order alternating each time
#                        (default 3): interleaves the two servers' samples so that the machine's
#                        drifts (other users, host scheduling) hit both; samples of all rounds
#                        are pooled. The big sessions-lg hold runs in round 1 only
#   --duration S         seconds per iperf3 run, plus 1 s omitted warm-up (default 10)
#   --sections LIST      comma list of: tput,ping,setup,sessions,sessions-lg (default: all)
#   --server-only NAME   measure only rocserv or only ocserv (no ratios)
#   --setup-reps N       one-client connects per mode (default 10)
#   --sessions N         clients connected at once for memory/setup (default 100)
#   --pings N            pings per sparse RTT sample, 20 ms apart (default 50)
#   --pings-busy N       pings per busy RTT sample, 2 ms apart (default 500)
#   --quiet-wait S       before each section wait up to S s for background load below
#                        --max-load (default 60; 0 with --quick); measured either way
#   --max-load PCT       background load (% of all CPUs, measured over 1 s while the
#                        benchmark is idle) above which the run is "noisy": the summary
#                        then refuses to compare and prints raw numbers (default 20)
#   --rocserv PATH       rocserv binary (default: ${CARGO_TARGET_DIR:-target}/release/rocserv,
#                        built with `cargo build --release -p rocserv` when missing)
#   --ocserv PATH        ocserv binary (default /usr/sbin/ocserv)
#   --loadgen PATH       rocserv-loadgen binary (default: ${CARGO_TARGET_DIR:-target}/release/
#                        rocserv-loadgen, built with `cargo build --release -p rocserv-loadgen`
#                        when missing and sessions-lg is selected)
#   --lg-sessions N      sessions-lg: sessions of the side-by-side run (default 1000)
#   --lg-big N           sessions-lg: sessions of the big hold run, 0 = skip (default 10000)
#   --lg-big-ocserv      sessions-lg: run the big hold against ocserv too (default: rocserv only)
#   --lg-big-per-client  sessions-lg: big run of rocserv with one TUN device per client (default:
#                        shared-tun = true, one descriptor per session instead of two)
#   --lg-per-proc N      sessions-lg: sessions per load-generator process (default 8000; more
#                        sessions are split over several processes, summaries merged)
#   --lg-concurrency N   sessions-lg: sessions in setup at once (default 64)
#   --lg-hold S          sessions-lg: hold of the side-by-side run (default 30)
#   --lg-big-hold S      sessions-lg: hold of the big run (default 60)
#   --lg-dpd S           sessions-lg: the load generator's DPD interval (default 20)
#   --out DIR            results directory (default bench/results/YYYYmmdd-HHMMSS)
#
# What it does: installs missing Debian packages (apt-get --no-install-recommends), builds
# the rsb-* namespaces (10.251-253.0.0/24, no default route), a throw-away PKI and an
# ocpasswd file, renders bench/server.conf.in ONCE and runs both servers on that file, one
# after the other for every section (order alternates between sections). Sections:
#   tput      iperf3 TCP through the tunnel, client->LAN (up) and LAN->client (down),
#             -P 1 and -P 4, for DTLS and for TLS only (--no-dtls); server CPU (% of a
#             core, CPU-seconds per GB), openconnect CPU, machine load
#   ping      RTT through the tunnel vs the same path routed without VPN (added RTT), with
#             pings 20 ms and 2 ms apart; server CPU per ping
#   setup     one client: connect setup time (launch -> tun configured), teardown, server
#             CPU per connect+disconnect; DTLS and TLS only
#   sessions  N openconnect clients started at once: all-up time, PSS per session, idle CPU
#   sessions-lg  rocserv-loadgen (one process, no TUN): --lg-sessions sessions against both
#             servers (time to establish all, setup percentiles, server CPU and PSS per
#             session, DPD and pings through every tunnel), then --lg-big sessions held with
#             DPD answered (bench/sections-loadgen.sh; servers on a /16 pool)
# A DTLS row is measured only when openconnect logged "Established DTLS connection";
# otherwise it reads "n/a (no DTLS)".
#
# Output (--out): results.tsv (every sample: server section metric variant rep value
# unit), summary.tsv (n/median/min/max), summary.md (the table), env.txt, logs, iperf3 JSON.
# Exit status: 0 when every measurement produced a number (timing never fails the run),
# 1 when the harness broke or a measurement could not be taken (connect/iperf3 failure).
# Every loop is bounded in count and time; processes are stopped by PID; only namespace
# addresses are used; the namespaces are removed at exit.
# shellcheck disable=SC2046  # PID lists are word-split on purpose
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2034  # IDLE_S & co. are read by sections.sh
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
. "$HERE/lib.sh"
. "$HERE/report.sh"

REPS=1; ROUNDS=3; DUR=10; SECTIONS=tput,ping,setup,sessions,sessions-lg; ONLY=; SETUP_REPS=10; SESSIONS=100
PINGS=50; PINGS_BUSY=500; QUIET_WAIT=60; MAX_LOAD=20; IDLE_S=10; OUT=
ROCSERV=${CARGO_TARGET_DIR:-$REPO/target}/release/rocserv; OCSERV=/usr/sbin/ocserv
LOADGEN=${CARGO_TARGET_DIR:-$REPO/target}/release/rocserv-loadgen
LG_SESSIONS=1000; LG_BIG=10000; LG_BIG_OCSERV=0; LG_CONC=64; LG_HOLD=30; LG_BIG_HOLD=60; LG_DPD=20
LG_NOFILE=200000; LG_SETTLE=600; LG_PER_PROC=8000; LG_BIG_SHARED=1
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) REPS=1; ROUNDS=1; DUR=3; PINGS=10; PINGS_BUSY=50; SETUP_REPS=3; SESSIONS=10; QUIET_WAIT=0; IDLE_S=3
           LG_SESSIONS=50; LG_BIG=0; LG_HOLD=5 ;;
    --reps) REPS=${2:?}; shift ;;
    --rounds) ROUNDS=${2:?}; shift ;;
    --duration) DUR=${2:?}; shift ;;
    --sections) SECTIONS=${2:?}; shift ;;
    --server-only) ONLY=${2:?}; shift ;;
    --setup-reps) SETUP_REPS=${2:?}; shift ;;
    --sessions) SESSIONS=${2:?}; shift ;;
    --pings) PINGS=${2:?}; shift ;;
    --pings-busy) PINGS_BUSY=${2:?}; shift ;;
    --quiet-wait) QUIET_WAIT=${2:?}; shift ;;
    --max-load) MAX_LOAD=${2:?}; shift ;;
    --rocserv) ROCSERV=${2:?}; shift ;;
    --ocserv) OCSERV=${2:?}; shift ;;
    --loadgen) LOADGEN=${2:?}; shift ;;
    --lg-sessions) LG_SESSIONS=${2:?}; shift ;;
    --lg-big) LG_BIG=${2:?}; shift ;;
    --lg-big-ocserv) LG_BIG_OCSERV=1 ;;
    --lg-big-per-client) LG_BIG_SHARED=0 ;;
    --lg-per-proc) LG_PER_PROC=${2:?}; shift ;;
    --lg-concurrency) LG_CONC=${2:?}; shift ;;
    --lg-hold) LG_HOLD=${2:?}; shift ;;
    --lg-big-hold) LG_BIG_HOLD=${2:?}; shift ;;
    --lg-dpd) LG_DPD=${2:?}; shift ;;
    --out) OUT=${2:?}; shift ;;
    -h|--help) sed -n '2,69p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
  shift
done
in_range() { if [ "${!1}" -lt "$2" ] || [ "${!1}" -gt "$3" ]; then die "$1 must be $2..$3"; fi; }
for v in REPS ROUNDS DUR SETUP_REPS SESSIONS PINGS PINGS_BUSY QUIET_WAIT MAX_LOAD LG_SESSIONS LG_BIG LG_CONC LG_HOLD LG_BIG_HOLD LG_DPD; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer (got '${!v}')"
done
in_range REPS 1 50
in_range ROUNDS 1 20
in_range DUR 1 300
in_range SESSIONS 1 250   # openconnect processes; the pool is a /24
in_range SETUP_REPS 1 100
in_range PINGS 2 1000
in_range PINGS_BUSY 2 5000
in_range LG_SESSIONS 1 60000   # the sessions-lg pool is a /16
in_range LG_BIG 0 60000
in_range LG_CONC 1 10000
in_range LG_HOLD 0 3600
in_range LG_BIG_HOLD 0 3600
in_range LG_DPD 1 3600
case "$ONLY" in
  "") SERVERS=(rocserv ocserv) ;;
  rocserv|ocserv) SERVERS=("$ONLY") ;;
  *) die "--server-only takes rocserv or ocserv" ;;
esac
for s in ${SECTIONS//,/ }; do
  case "$s" in tput|ping|setup|sessions|sessions-lg) ;; *) die "unknown section '$s' (tput,ping,setup,sessions,sessions-lg)" ;; esac
done
has() { case ",$SECTIONS," in *",$1,"*) return 0 ;; esac; return 1; }
[ "$(id -u)" = 0 ] || die "must run as root (network namespaces, tun devices)"

# --- dependencies ------------------------------------------------------------------------
PKGS=(ocserv openconnect iperf3 jq iputils-ping iproute2 procps openssl util-linux)
install_deps() {
  local missing=() p i
  for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} = 0 ] && return 0
  log "installing missing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive   # iperf3's debconf question -> no daemon
  if ! apt-cache policy "${missing[@]}" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    for ((i = 1; i <= 30; i++)); do apt-get update -q && break; log "apt-get update failed, retry $i/30"; sleep 10; done
  fi
  for ((i = 1; i <= 30; i++)); do   # <= ~5 min for a dpkg lock held by someone else
    apt-get install -y -q --no-install-recommends "${missing[@]}" && return 0
    log "apt-get install failed (dpkg lock held?), retry $i/30 in 10 s"; sleep 10
  done
  return 1
}
command -v dpkg-query >/dev/null || die "not a Debian system: install ${PKGS[*]} yourself"
install_deps || die "could not install ${PKGS[*]}"
if [[ " ${SERVERS[*]} " == *" rocserv "* ]] && [ ! -x "$ROCSERV" ]; then
  log "$ROCSERV missing: cargo build --release -p rocserv"
  (cd "$REPO" && cargo build --release -p rocserv) || die "cargo build failed"
  [ -x "$ROCSERV" ] || die "$ROCSERV still missing after the build (CARGO_TARGET_DIR?)"
fi
if [[ " ${SERVERS[*]} " == *" ocserv "* ]]; then [ -x "$OCSERV" ] || die "$OCSERV missing"; fi
if has sessions-lg; then
  if [ ! -x "$LOADGEN" ]; then
    log "$LOADGEN missing: cargo build --release -p rocserv-loadgen"
    (cd "$REPO" && cargo build --release -p rocserv-loadgen) || die "cargo build failed"
    [ -x "$LOADGEN" ] || die "$LOADGEN still missing after the build (CARGO_TARGET_DIR?)"
  fi
  # the servers inherit this limit: thousands of sessions need thousands of descriptors
  ulimit -n "$LG_NOFILE" 2>/dev/null || ulimit -n "$(ulimit -Hn)" ||
    log "WARNING: could not raise the open-file limit (ulimit -n $(ulimit -n))"
fi

# --- one run at a time (fixed namespace names), results dir, state dir ---------------------
exec {LOCK_FD}> /tmp/rocserv-bench.lock
flock -w 900 "$LOCK_FD" || die "another bench/run.sh holds /tmp/rocserv-bench.lock"
[ -n "$OUT" ] || OUT=$HERE/results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT" || die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
RES=$OUT/results.tsv
STATE=$(mktemp -d /tmp/rocserv-bench.XXXXXX) || die "mktemp failed"
chmod 755 "$STATE"
CLI_DIR=$OUT/clients
mkdir -p "$CLI_DIR" "$STATE/run"
printf 'server\tsection\tmetric\tvariant\trep\tvalue\tunit\n' > "$RES"
rec() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >> "$RES"; }
exec > >(tee -a "$OUT/bench.log") 2>&1
FAILS=0
fail() { FAILS=$((FAILS + 1)); log "FAILED: $*"; }

# --- bookkeeping: everything we start is stopped by PID -----------------------------------
SERVER_PID=; SERVER_NAME=; IPERF_PID=; DIRECT_ROUTE=0; ROCSERV_RUN=$ROCSERV
SERVER_CONF=$STATE/server.conf
# shellcheck disable=SC2317  # called by the traps
cleanup() {
  local f
  trap - EXIT INT TERM
  for f in "$CLI_DIR"/*.pid; do [ -e "$f" ] && oc_stop "$(basename "$f" .pid)"; done
  [ "$DIRECT_ROUTE" = 1 ] && ip -n "$NS_CLI" route del "$LAN_NET" via "$SRV_IP" 2>/dev/null
  [ -n "$IPERF_PID" ] && kill_wait "$IPERF_PID" 5 TERM
  server_stop
  lab_down
  rm -rf "$STATE"
  return 0
}
trap 'cleanup; exit 130' INT TERM
trap cleanup EXIT

# section_start SECTION SERVER: wait (bounded) for a quiet machine, record the load
section_start() {
  local s=$1 srv=$2 b i
  b=$(bg_busy_pct)
  for ((i = 0; i < QUIET_WAIT; i += 2)); do
    awk -v b="$b" -v m="$MAX_LOAD" 'BEGIN{exit !(b < m)}' && break
    sleep 1; b=$(bg_busy_pct)
  done
  rec "$srv" noise bg_busy_pct "$s" 1 "$b" "%all"
  rec "$srv" noise loadavg1 "$s" 1 "$(cut -d' ' -f1 /proc/loadavg)" ""
  local r=""; [ "$ROUNDS" -gt 1 ] && r=" (round $ROUND of $ROUNDS)"
  log "=== $s / $srv$r: background load ${b}% of all CPUs, loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
}

# --- servers -------------------------------------------------------------------------------
server_start() {
  local name=$1 i t0 m cmd=()
  [ -z "$(srv_pids | tr -d ' ')" ] || { ns_kill_all "$NS_SRV"; }
  case "$name" in
    rocserv) cmd=("$ROCSERV_RUN" -f -e -c "$SERVER_CONF") ;;
    ocserv) cmd=("$OCSERV" -f -c "$SERVER_CONF") ;;
  esac
  rm -f "$STATE/run/server.pid"
  t0=$(now)
  # ip netns exec execs the command: $! is the server itself
  ip netns exec "$NS_SRV" "${cmd[@]}" >> "$OUT/server-$name.log" 2>&1 &
  SERVER_PID=$!; SERVER_NAME=$name
  for ((i = 0; i < 300; i++)); do
    alive "$SERVER_PID" || { tail -n 20 "$OUT/server-$name.log"; SERVER_PID=; return 1; }
    ip netns exec "$NS_SRV" ss -Hltn "src $SRV_IP and sport = :$PORT" | grep -q . && break
    nap 0.1
  done
  [ "$i" -lt 300 ] || { log "$name not listening after 30 s"; return 1; }
  sleep 0.5   # let helper processes (ocserv's sec-mod) finish initialising
  rec "$name" server startup_s - 1 "$(sub "$(now)" "$t0")" s
  m=$(mem_kb $(srv_pids))
  rec "$name" server idle_pss_kb 0-sessions 1 "${m#* }" KiB
  rec "$name" server procs 0-sessions 1 "$(wc -w <<<"$(srv_pids)")" ""
  log "$name up (pid $SERVER_PID, processes: $(srv_pids)); idle PSS ${m#* } KiB"
}

server_stop() {
  [ -n "$SERVER_PID" ] || return 0
  kill_wait "$SERVER_PID" 15 TERM
  SERVER_PID=
  local i
  for ((i = 0; i < 50; i++)); do
    [ -z "$(srv_pids | tr -d ' ')" ] && return 0
    nap 0.1
  done
  log "processes left in $NS_SRV after $SERVER_NAME exited: $(srv_pids) (stopping them by PID)"
  ns_kill_all "$NS_SRV"
}

iperf_server_start() {
  local i
  ip netns exec "$NS_LAN" iperf3 -s -B "$LAN_IP" -p "$IPERF_PORT" > "$OUT/iperf3-server.log" 2>&1 &
  IPERF_PID=$!
  for ((i = 0; i < 50; i++)); do
    ip netns exec "$NS_LAN" ss -Hltn "sport = :$IPERF_PORT" | grep -q . && return 0
    nap 0.1
  done
  return 1
}

. "$HERE/sections.sh"
. "$HERE/sections-loadgen.sh"

# --- main ----------------------------------------------------------------------------------
log "bench run -> $OUT (servers: ${SERVERS[*]}; sections $SECTIONS; reps $REPS; ${DUR}s iperf3)"
for ns in "$NS_CLI" "$NS_SRV" "$NS_LAN"; do
  ns_exists "$ns" && { log "removing leftover namespaces of an interrupted run"; lab_down; break; }
done
lab_up || die "could not build the namespace lab"
make_pki "$STATE/certs" || die "could not make the PKI / ocpasswd file"
render_conf "$HERE/server.conf.in" "$STATE/server.conf" "$STATE"
if has sessions-lg; then
  render_lg_conf || die "could not render server-lg.conf"
  cp "$STATE/server-lg.conf" "$OUT/server-lg.conf"
fi
# a private copy: a rebuild of target/release during the run must not mix two versions
if [[ " ${SERVERS[*]} " == *" rocserv "* ]]; then
  cp "$ROCSERV" "$STATE/rocserv" || die "cannot copy $ROCSERV"
  ROCSERV_RUN=$STATE/rocserv
fi
cp "$STATE/server.conf" "$OUT/server.conf"
write_env > "$OUT/env.txt"
cat "$OUT/env.txt"
iperf_server_start || die "iperf3 server did not start"

order=0
for sec in ping tput setup sessions sessions-lg; do
  has "$sec" || continue
  for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
    srvs=("${SERVERS[@]}")
    # alternate the order between sections and rounds so slow drifts of the machine hit both
    if [ $((order % 2)) = 1 ] && [ ${#srvs[@]} = 2 ]; then srvs=("${srvs[1]}" "${srvs[0]}"); fi
    order=$((order + 1))
    for srv in "${srvs[@]}"; do
      section_start "$sec" "$srv"
      SERVER_CONF=$STATE/server.conf; [ "$sec" = sessions-lg ] && SERVER_CONF=$STATE/server-lg.conf
      if ! server_start "$srv"; then fail "$srv did not start"; server_stop; continue; fi
      "sec_${sec//-/_}" "$srv"
      server_stop
    done
  done
done
kill_wait "$IPERF_PID" 5 TERM; IPERF_PID=
rec - noise max_load_threshold - 1 "$MAX_LOAD" "%all"
summarize "$RES" "$OUT" "$MAX_LOAD"
cat "$OUT/summary.md"
log "results: $OUT (results.tsv, summary.tsv, summary.md)"
if [ "$FAILS" -gt 0 ]; then log "$FAILS measurement(s) could not be taken: see bench.log"; exit 1; fi
exit 0
