# shellcheck shell=bash
# shellcheck disable=SC2034  # settings are used by run.sh / client.sh
# lib.sh - shared settings and helpers of the rocserv end-to-end suite.
# Sourced by run.sh; adapted from the team's earlier netns lab.
#
# Topology (three network namespaces this suite creates and removes):
#
#   [rse-cli] rse-c0 10.241.0.2/24 ==veth== 10.241.0.1/24 rse-s0 [rse-srv]
#                                            VPN server listens on 10.241.0.1:443/tcp
#   [rse-srv] rse-s1 10.242.0.1/24 ==veth== 10.242.0.2/24 rse-l0 [rse-lan]
#                                            "protected LAN" host (ping / iperf3 target)
#   VPN pool 10.243.0.0/24 (server-side tun devices vpns*), routed back by rse-lan via rse-srv.
#
# No namespace has a default route and nothing is attached to the host's interfaces.

NS_CLI=rse-cli
NS_SRV=rse-srv
NS_LAN=rse-lan
IF_CS=rse-c0   # veth end in rse-cli
IF_SC=rse-s0   # veth end in rse-srv (client side)
IF_SL=rse-s1   # veth end in rse-srv (lan side)
IF_LS=rse-l0   # veth end in rse-lan

CLI_IP=10.241.0.2
SRV_IP=10.241.0.1
SRV_LAN_IP=10.242.0.1
LAN_IP=10.242.0.2
LAN_NET=10.242.0.0/24
VPN_NET=10.243.0.0/24
PORT=443
URL=https://$SRV_IP:$PORT/

export LC_ALL=C

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Fork-free sleep for polling loops (the machine has 2 cores).
nap() {
  [ -n "${NAP_FD:-}" ] || exec {NAP_FD}<> <(:)
  read -r -t "$1" -u "$NAP_FD" _ || true
}

# alive PID: true while PID runs; a zombie counts as gone (orphans of
# `openconnect -b` are reaped late by PID 1 in some sandboxes).
alive() {
  local st
  st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  st=${st#*) }
  [ "${st%% *}" != Z ]
}

# kill_wait PID [TIMEOUT_S] [SIG]: signal one PID we started, wait (bounded),
# escalate to SIGKILL. Never matches processes by name.
kill_wait() {
  local pid=$1 t=${2:-10} sig=${3:-TERM} i
  [ -n "$pid" ] || return 0
  alive "$pid" || return 0
  kill -"$sig" "$pid" 2>/dev/null || true
  for ((i = 0; i < t * 20; i++)); do
    alive "$pid" || return 0
    nap 0.05
  done
  log "pid $pid did not exit after SIG$sig in ${t}s, sending KILL"
  kill -KILL "$pid" 2>/dev/null || true
  nap 0.2
}

# wait_for SECONDS CMD...: poll CMD every 0.1 s until it succeeds (bounded).
wait_for() {
  local t=$1 i
  shift
  for ((i = 0; i < t * 10; i++)); do
    "$@" && return 0
    nap 0.1
  done
  return 1
}

ns_exists() { ip netns list | awk '{print $1}' | grep -qx "$1"; }
ns_pids() { ip netns pids "$1" 2>/dev/null | tr '\n' ' '; }

# ns_kill_all NS: TERM then KILL exactly the PIDs inside one of OUR namespaces
# (only processes this suite started can live there).
ns_kill_all() {
  local ns=$1 p pids i
  ns_exists "$ns" || return 0
  pids=$(ns_pids "$ns")
  [ -n "${pids// /}" ] || return 0
  for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
  for ((i = 0; i < 40; i++)); do
    [ -z "$(ns_pids "$ns" | tr -d ' ')" ] && return 0
    nap 0.05
  done
  for p in $(ns_pids "$ns"); do kill -KILL "$p" 2>/dev/null || true; done
  nap 0.2
}

lab_down() {
  local ns
  for ns in "$NS_CLI" "$NS_SRV" "$NS_LAN"; do ns_kill_all "$ns"; done
  for ns in "$NS_CLI" "$NS_SRV" "$NS_LAN"; do
    ns_exists "$ns" && ip netns del "$ns" 2>/dev/null
  done
  return 0
}

no_default_routes() {
  local ns
  for ns in "$NS_SRV" "$NS_CLI" "$NS_LAN"; do
    if ip -n "$ns" route show default | grep -q .; then
      log "namespace $ns has a default route"
      return 1
    fi
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
  # the LAN answers VPN clients via the server
  ip -n "$NS_LAN" route add "$VPN_NET" via "$SRV_LAN_IP" dev "$IF_LS" || return 1
  no_default_routes
}

# --- PKI and password file ---------------------------------------------------

# make_pki DIR: throw-away CA + server cert (ECDSA P-256, SAN IP $SRV_IP);
# writes DIR/server-pin.txt ("pin-sha256:...").
make_pki() {
  local d=$1
  mkdir -p "$d" && cd "$d" || return 1
  (
    set -e
    openssl ecparam -name prime256v1 -genkey -noout -out ca-key.pem 2>/dev/null
    openssl req -x509 -new -key ca-key.pem -sha256 -days 30 -subj "/CN=rocserv e2e test CA" \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
      -out ca-cert.pem 2>/dev/null
    openssl ecparam -name prime256v1 -genkey -noout -out server-key.pem 2>/dev/null
    openssl req -new -key server-key.pem -subj "/CN=vpn.e2e.test" -out server.csr 2>/dev/null
    printf '%s\n' "subjectAltName=IP:$SRV_IP,DNS:vpn.e2e.test" \
      "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
      "extendedKeyUsage=serverAuth" > server.ext
    openssl x509 -req -in server.csr -CA ca-cert.pem -CAkey ca-key.pem -CAcreateserial \
      -days 30 -sha256 -extfile server.ext -out server-cert.pem 2>/dev/null
    pin=$(openssl x509 -in server-cert.pem -pubkey -noout | openssl pkey -pubin -outform der |
      openssl dgst -sha256 -binary | base64)
    echo "pin-sha256:$pin" > server-pin.txt
    chmod 644 ca-cert.pem server-cert.pem server-pin.txt
    chmod 600 ca-key.pem server-key.pem
  )
  local rc=$?
  cd - >/dev/null || return 1
  return $rc
}

# Test users: NAME PASSWORD GROUPS HASH-METHOD. "!" before the method = locked.
USERS=(
  "alice pw-alice-1 staff sha512"
  "bob pw-bob-2 - yescrypt"
  "carol pw-carol-3 - sha256"
  "dave pw-dave-4 - md5"
  "erin pw-erin-5 - bcrypt"
  "lock pw-lock-6 - !sha512"
  "hang pw-hang-7 - sha512"
  "deny pw-deny-8 - sha512"
)
declare -A PASS_OF=()
for _u in "${USERS[@]}"; do
  read -r _n _p _ _ <<<"$_u"
  PASS_OF[$_n]=$_p
done
unset _u _n _p

# hash_pw METHOD PASSWORD: prints a crypt(3) hash, or nothing if unsupported.
hash_pw() {
  case "$1" in
    sha512) openssl passwd -6 -stdin <<<"$2" ;;
    sha256) openssl passwd -5 -stdin <<<"$2" ;;
    md5) openssl passwd -1 -stdin <<<"$2" ;;
    yescrypt) printf '%s' "$2" | mkpasswd -m yescrypt --stdin 2>/dev/null ;;
    bcrypt) printf '%s' "$2" | mkpasswd -m bcrypt --stdin 2>/dev/null ;;
  esac
}

# make_passwd FILE: ocpasswd format "user:groups:hash" (no ocpasswd needed).
# Sets HAVE_ERIN=1 when a $2b$ hash could be made.
make_passwd() {
  local f=$1 u name pw groups method h locked
  : > "$f" || return 1
  HAVE_ERIN=0
  for u in "${USERS[@]}"; do
    read -r name pw groups method <<<"$u"
    locked=
    [ "${method:0:1}" = "!" ] && { locked='!'; method=${method:1}; }
    h=$(hash_pw "$method" "$pw")
    case "$method:$h" in
      sha512:\$6\$*|sha256:\$5\$*|md5:\$1\$*|yescrypt:\$y\$*) ;;
      bcrypt:\$2b\$*) HAVE_ERIN=1 ;;
      bcrypt:*) log "mkpasswd cannot make bcrypt hashes: user erin skipped"; continue ;;
      *) log "could not hash the password of $name ($method)"; return 1 ;;
    esac
    [ "$groups" = - ] && groups=
    printf '%s:%s:%s%s\n' "$name" "$groups" "$locked" "$h" >> "$f"
  done
  chmod 644 "$f"
}

# --- server configuration ------------------------------------------------------

# script_wrapper DIR: writes DIR/server-script, a wrapper that hands DIR to
# tests/e2e/server-script.sh (so the suite does not depend on which
# environment the server passes to its scripts), and makes DIR/script, DIR/run.
script_wrapper() {
  local s=$1
  cat > "$s/server-script" <<EOF
#!/bin/sh
E2E_STATE='$s' exec '$E2E_DIR/server-script.sh' "\$@"
EOF
  chmod 755 "$s/server-script"
  mkdir -p "$s/script" "$s/run"
}

# conf_base DIR PKI: prints the settings every test configuration shares (no
# auth, no udp-port): listen address, server cert from PKI, pool, routes, DNS,
# banner, limits, scripts (DIR/server-script, see script_wrapper).
conf_base() {
  local s=$1 pki=$2
  cat <<EOF
listen-host = $SRV_IP
tcp-port = $PORT
server-cert = $pki/server-cert.pem
server-key = $pki/server-key.pem
socket-file = $s/run/ocserv-socket
pid-file = $s/run/server.pid
use-occtl = false
isolate-workers = false
device = vpns
predictable-ips = true
ipv4-network = 10.243.0.0
ipv4-netmask = 255.255.255.0
route = 10.242.0.0/255.255.255.0
route = 10.250.0.0/16
no-route = 10.242.0.128/255.255.255.128
dns = 10.242.0.53
dns = 10.242.0.54
default-domain = corp.example
banner = "$BANNER"
cookie-timeout = 120
max-clients = 32
max-same-clients = 0
# every test client comes from one address: no ban scoring, no rate limit
max-ban-score = 0
rate-limit-ms = 0
auth-timeout = 30
keepalive = 32400
dpd = 60
connect-script = $s/server-script
disconnect-script = $s/server-script
EOF
}

# render_conf STATE: writes $STATE/ocserv.conf (the configuration of checks
# 1-16) and its script wrapper.
render_conf() {
  local s=$1
  script_wrapper "$s"
  {
    echo "# rendered by tests/e2e/run.sh - throw-away test server configuration"
    echo "auth = \"plain[passwd=$s/ocpasswd]\""
    conf_base "$s" "$s/pki"
    echo "# DTLS on the same port (the TLS-only checks run their clients with --no-dtls)"
    echo "udp-port = $PORT"
    echo "# rocserv extension (ocserv warns \"skipping unknown option\" and ignores it)"
    echo "script-timeout = 15"
  } > "$s/ocserv.conf"
}
