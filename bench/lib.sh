# shellcheck shell=bash
# bench/lib.sh - settings and helpers of the benchmark (sourced by run.sh).
# Adapted from the team's earlier netns lab (ocbench); self-contained.
#
# Topology: three network namespaces this script creates and removes.
#
#   [rsb-cli] rsb-c0 10.251.0.2/24 ==veth== 10.251.0.1/24 rsb-s0 [rsb-srv]
#                                      VPN server under test: 10.251.0.1:443 tcp+udp
#   [rsb-srv] rsb-s1 10.252.0.1/24 ==veth== 10.252.0.2/24 rsb-l0 [rsb-lan]
#                                      "protected LAN": iperf3 -s, ping target
#   VPN pool 10.253.0.0/24 (server tun devices vpns*), routed back by rsb-lan via rsb-srv.
#
# No namespace has a default route and nothing is attached to the host's interfaces: every
# packet stays in the lab. The e2e suite uses rse-* / 10.241-243: both can exist at once.
# shellcheck disable=SC2034  # settings are used by run.sh / report.sh

NS_CLI=rsb-cli
NS_SRV=rsb-srv
NS_LAN=rsb-lan
IF_CS=rsb-c0
IF_SC=rsb-s0
IF_SL=rsb-s1
IF_LS=rsb-l0
CLI_IP=10.251.0.2
SRV_IP=10.251.0.1
CS_NET=10.251.0.0/24
SRV_LAN_IP=10.252.0.1
LAN_IP=10.252.0.2
LAN_NET=10.252.0.0/24
POOL_NET=10.253.0.0/24
PORT=443
URL=https://$SRV_IP:$PORT/
VPN_USER=bench
VPN_PASS=rocserv-bench-pass-1
IPERF_PORT=5201

export LC_ALL=C   # '.' as decimal point (EPOCHREALTIME, awk, printf)

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# now: wall clock with microseconds, no fork (polling must not steal the 2 cores)
now() { echo "$EPOCHREALTIME"; }
# nap SECONDS: fork-free sleep for polling loops
nap() {
  [ -n "${NAP_FD:-}" ] || exec {NAP_FD}<> <(:)
  read -r -t "$1" -u "$NAP_FD" _ || true
}
# sub A B -> A-B (6 decimals)
sub() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.6f", a-b}'; }

# alive PID: true while PID runs; a zombie counts as gone (daemonised openconnect is
# re-parented to PID 1, which some sandboxes reap only about once a second).
alive() {
  local st
  st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  st=${st#*) }
  [ "${st%% *}" != Z ]
}

# kill_wait PID [TIMEOUT_S] [SIG]: signal one PID we started, wait (bounded), then KILL.
kill_wait() {
  local pid=$1 t=${2:-10} sig=${3:-TERM} i
  [ -n "$pid" ] || return 0
  alive "$pid" || return 0
  kill -"$sig" "$pid" 2>/dev/null || true
  for ((i = 0; i < t * 100; i++)); do
    alive "$pid" || return 0
    nap 0.01
  done
  log "pid $pid did not exit after SIG$sig in ${t}s, sending KILL"
  kill -KILL "$pid" 2>/dev/null || true
  nap 0.2
}

ns_exists() { ip netns list | awk '{print $1}' | grep -qx "$1"; }
ns_pids() { ip netns pids "$1" 2>/dev/null | sort -n | tr '\n' ' '; }
srv_pids() { ns_pids "$NS_SRV"; }

# ns_kill_all NS: TERM then KILL exactly the PIDs inside one of OUR namespaces (only
# processes this script started can live there).
ns_kill_all() {
  local ns=$1 p pids i
  ns_exists "$ns" || return 0
  pids=$(ns_pids "$ns")
  [ -n "${pids// /}" ] || return 0
  for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
  for ((i = 0; i < 50; i++)); do
    [ -z "$(ns_pids "$ns" | tr -d ' ')" ] && return 0
    nap 0.1
  done
  for p in $(ns_pids "$ns"); do kill -KILL "$p" 2>/dev/null || true; done
  nap 0.3
}

lab_down() {
  local ns
  for ns in "$NS_CLI" "$NS_SRV" "$NS_LAN"; do ns_kill_all "$ns"; done
  for ns in "$NS_CLI" "$NS_SRV" "$NS_LAN"; do
    if ns_exists "$ns"; then ip netns del "$ns" 2>/dev/null || log "could not delete namespace $ns"; fi
  done
  return 0
}

lab_up() {
  local ns x
  for ns in "$NS_SRV" "$NS_CLI" "$NS_LAN"; do
    ip netns add "$ns" || return 1
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 || true
    ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
  done
  # veth pairs created directly inside the namespaces: never visible on the host
  ip link add "$IF_CS" netns "$NS_CLI" type veth peer name "$IF_SC" netns "$NS_SRV" || return 1
  ip link add "$IF_SL" netns "$NS_SRV" type veth peer name "$IF_LS" netns "$NS_LAN" || return 1
  ip -n "$NS_CLI" addr add "$CLI_IP/24" dev "$IF_CS"
  ip -n "$NS_SRV" addr add "$SRV_IP/24" dev "$IF_SC"
  ip -n "$NS_SRV" addr add "$SRV_LAN_IP/24" dev "$IF_SL"
  ip -n "$NS_LAN" addr add "$LAN_IP/24" dev "$IF_LS"
  for x in "$NS_CLI:$IF_CS" "$NS_SRV:$IF_SC" "$NS_SRV:$IF_SL" "$NS_LAN:$IF_LS"; do
    ip -n "${x%%:*}" link set "${x#*:}" up || return 1
  done
  ip netns exec "$NS_SRV" sysctl -qw net.ipv4.ip_forward=1 || return 1
  # the LAN answers the VPN pool and (for the no-VPN baseline) the client veth via the server
  ip -n "$NS_LAN" route add "$POOL_NET" via "$SRV_LAN_IP" dev "$IF_LS" || return 1
  ip -n "$NS_LAN" route add "$CS_NET" via "$SRV_LAN_IP" dev "$IF_LS" || return 1
  for ns in "$NS_SRV" "$NS_CLI" "$NS_LAN"; do
    if ip -n "$ns" route show default | grep -q .; then
      log "namespace $ns has a default route - refusing (the lab must be closed)"
      return 1
    fi
  done
}

# --- measurement primitives ----------------------------------------------------------

CLK_TCK=$(getconf CLK_TCK)

# cpu_ns PID... : CPU consumed so far (ns) summed over PIDs. Per process the larger of
#  - the live threads' sum_exec_runtime (/proc/PID/task/*/schedstat: ns, every tokio worker
#    thread; misses threads that already exited), and
#  - the process's utime+stime (/proc/PID/stat: includes exited threads, but in ticks, i.e.
#    at most one tick below the truth),
# so the error is below one tick either way; plus cutime/cstime of reaped children (ocserv
# main reaps its per-client workers).
cpu_ns() {
  local p t c live tot f sum=0
  for p in "$@"; do
    live=0
    for t in /proc/"$p"/task/*/schedstat; do
      read -r c _ 2>/dev/null < "$t" && live=$((live + c))
    done
    f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    f=${f#*) }
    # shellcheck disable=SC2086
    set -- $f   # $12 utime $13 stime $14 cutime $15 cstime (ticks)
    tot=$(((${12} + ${13}) * 1000000000 / CLK_TCK))
    [ "$live" -gt "$tot" ] && tot=$live
    sum=$((sum + tot + (${14} + ${15}) * 1000000000 / CLK_TCK))
  done
  echo "$sum"
}

# mem_kb PID... : "RSS_KB PSS_KB" summed. PSS splits pages shared between ocserv's forked
# workers fairly, so PSS is the number to compare against a single-process server.
mem_kb() {
  local p rss=0 pss=0 r s
  for p in "$@"; do
    r=$(awk '/^VmRSS:/{print $2}' "/proc/$p/status" 2>/dev/null)
    s=$(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null)
    rss=$((rss + ${r:-0})); pss=$((pss + ${s:-0}))
  done
  echo "$rss $pss"
}

# /proc/stat: "user nice system idle iowait irq softirq steal" ticks
stat_cpu() { awk '/^cpu /{print $2, $3, $4, $5, $6, $7, $8, $9; exit}' /proc/stat; }

# busy_pct STAT_BEFORE STAT_AFTER -> "busy% softirq%" of the whole machine (100 = all cores)
busy_pct() {
  awk -v a="$1" -v b="$2" 'BEGIN{split(a,x," ");split(b,y," ");t=0;for(i=1;i<=8;i++)t+=y[i]-x[i];
    idle=(y[4]-x[4])+(y[5]-x[5]); if(t<=0)t=1; printf "%.1f %.1f", 100*(t-idle)/t, 100*(y[7]-x[7])/t}'
}

# bg_busy_pct: load caused by others while we sit idle for 1 s (% of all CPUs)
bg_busy_pct() {
  local a b
  a=$(stat_cpu); sleep 1; b=$(stat_cpu)
  b=$(busy_pct "$a" "$b"); echo "${b% *}"
}

# cpu_pct NS_BEFORE NS_AFTER WALL_S -> % of one core
# (a delta within one tick below 0, when a thread exited in between, is reported as 0)
cpu_pct() { awk -v a="$1" -v b="$2" -v w="$3" 'BEGIN{v=(w>0)?(100*(b-a)/1e9/w):0; if(v<0)v=0; printf "%.1f", v}'; }

# median of the numbers on stdin
median() { sort -g | awk '{v[NR]=$1} END{if(NR==0){print "nan";exit} if(NR%2)print v[(NR+1)/2]; else printf "%.6g\n",(v[NR/2]+v[NR/2+1])/2}'; }

# --- PKI and password file --------------------------------------------------------------

# make_pki DIR: throw-away ECDSA P-256 CA + server cert (SAN IP $SRV_IP), and an ocpasswd
# file (made with Debian's ocpasswd, read by both servers).
make_pki() {
  local d=$1
  mkdir -p "$d" || return 1
  (
    set -e
    cd "$d"
    openssl ecparam -name prime256v1 -genkey -noout -out ca-key.pem 2>/dev/null
    openssl req -x509 -new -key ca-key.pem -sha256 -days 30 -subj "/CN=rocserv bench CA" \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
      -out ca-cert.pem 2>/dev/null
    openssl ecparam -name prime256v1 -genkey -noout -out server-key.pem 2>/dev/null
    openssl req -new -key server-key.pem -subj "/CN=vpn.bench.test" -out server.csr 2>/dev/null
    printf '%s\n' "subjectAltName=IP:$SRV_IP,DNS:vpn.bench.test" "basicConstraints=CA:FALSE" \
      "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" > server.ext
    openssl x509 -req -in server.csr -CA ca-cert.pem -CAkey ca-key.pem -CAcreateserial \
      -days 30 -sha256 -extfile server.ext -out server-cert.pem 2>/dev/null
    rm -f ocpasswd
    # ocpasswd reads the password twice from stdin when it is not a terminal
    printf '%s\n%s\n' "$VPN_PASS" "$VPN_PASS" | ocpasswd -c "$d/ocpasswd" "$VPN_USER"
    # ocserv's workers run as nobody: certificate, key and password file must be readable
    chmod 755 "$d"; chmod 644 ca-cert.pem server-cert.pem server-key.pem ocpasswd; chmod 600 ca-key.pem
  )
}

# render_conf TEMPLATE OUT STATE
render_conf() {
  sed -e "s#@STATE@#$3#g" -e "s#@SRV_IP@#$SRV_IP#g" -e "s#@PORT@#$PORT#g" \
      -e "s#@POOL@#${POOL_NET%/*}#g" -e "s#@LAN_NET@#$LAN_NET#g" "$1" > "$2"
}

# --- openconnect client -----------------------------------------------------------------

# oc_launch IFNAME DTLS(1|0) NO_ROUTES(1|0): openconnect in rsb-cli, backgrounded (-b) with
# a pid file; returns at once (background job of the caller). Log: $CLI_DIR/IFNAME.log;
# bench/oc-script.sh writes $CLI_DIR/IFNAME.up when the tun is configured.
oc_launch() {
  local ifn=$1 dtls=$2 noroutes=${3:-0} args=()
  rm -f "$CLI_DIR/$ifn.up" "$CLI_DIR/$ifn.pid" "$CLI_DIR/$ifn.log"
  args=(--protocol=anyconnect --non-inter --passwd-on-stdin --user "$VPN_USER"
        --interface "$ifn" --script "$HERE/oc-script.sh" --disable-ipv6
        --background --pid-file "$CLI_DIR/$ifn.pid" --cafile "$STATE/certs/ca-cert.pem")
  [ "$dtls" = 1 ] || args+=(--no-dtls)
  printf '%s\n' "$VPN_PASS" |
    RSB_STAMP_DIR="$CLI_DIR" RSB_NO_ROUTES="$noroutes" \
    ip netns exec "$NS_CLI" openconnect "${args[@]}" "$URL" > "$CLI_DIR/$ifn.log" 2>&1 &
}

# oc_stop IFNAME: clean logout (SIGINT -> BYE) of the openconnect owning IFNAME, by PID
oc_stop() {
  local pid
  pid=$(cat "$CLI_DIR/$1.pid" 2>/dev/null) || return 0
  kill_wait "$pid" 10 INT
  rm -f "$CLI_DIR/$1.pid"
}

# oc_connect IFNAME DTLS [TIMEOUT_S]: start one client and wait (bounded) until its tun is
# configured. Prints "setup_s dtls_ok" (dtls_ok: 1 = openconnect logged "Established DTLS
# connection", waited for up to 5 s in DTLS mode; 0 otherwise). Returns 1 on failure.
oc_connect() {
  local ifn=$1 dtls=$2 timeout=${3:-20} t0 fg fg_rc='' up=0 deadline i ok=0 pid
  nap 0   # open the nap fd before timing starts
  t0=$(now)
  oc_launch "$ifn" "$dtls" 0
  fg=$!
  deadline=$((SECONDS + timeout))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if [ -s "$CLI_DIR/$ifn.up" ]; then up=1; break; fi
    # the foreground openconnect exits 0 when it forks to the background; non-zero = failed
    if [ -z "$fg_rc" ] && ! kill -0 "$fg" 2>/dev/null; then
      fg_rc=0; wait "$fg" 2>/dev/null || fg_rc=$?
      [ "$fg_rc" = 0 ] || break
    fi
    if [ "$fg_rc" = 0 ] && [ -s "$CLI_DIR/$ifn.pid" ] && ! alive "$(cat "$CLI_DIR/$ifn.pid")" \
       && [ ! -s "$CLI_DIR/$ifn.up" ]; then break; fi
    nap 0.005
  done
  if [ $up != 1 ]; then
    log "tunnel $ifn did not come up within ${timeout}s; openconnect log:"
    tail -n 15 "$CLI_DIR/$ifn.log" >&2 || true
    [ -s "$CLI_DIR/$ifn.pid" ] && oc_stop "$ifn"
    kill "$fg" 2>/dev/null || true
    return 1
  fi
  for ((i = 0; i < 200; i++)); do [ -s "$CLI_DIR/$ifn.pid" ] && break; nap 0.01; done
  pid=$(cat "$CLI_DIR/$ifn.pid" 2>/dev/null)
  [ -n "$pid" ] || { log "no pid file for $ifn"; return 1; }
  if [ "$dtls" = 1 ]; then
    for ((i = 0; i < 500; i++)); do   # <= 5 s
      grep -q 'Established DTLS connection' "$CLI_DIR/$ifn.log" && { ok=1; break; }
      # the server offered no DTLS at all (no X-DTLS-* headers): nothing to wait for
      grep -q 'and DTLS disabled' "$CLI_DIR/$ifn.log" && break
      nap 0.01
    done
  fi
  echo "$(sub "$(cat "$CLI_DIR/$ifn.up")" "$t0") $ok"
}

# oc_pid IFNAME
oc_pid() { cat "$CLI_DIR/$1.pid" 2>/dev/null; }
