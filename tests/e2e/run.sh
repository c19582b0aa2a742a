#!/bin/bash
# tests/e2e/run.sh [--server CMD] [--flavor rocserv|ocserv] [--only auth|shared]
#
# End-to-end tests of an ocserv-compatible VPN server with the real
# `openconnect` client, in three network namespaces this script creates
# (rse-cli, rse-srv, rse-lan; see lib.sh) and removes at exit. Needs root.
#
#   --server CMD   server command (default: $REPO/target/release/rocserv); it
#                  is started as `CMD -f [-e] -d 2 -c CONF` inside rse-srv.
#                  CMD may contain extra words (split on blanks).
#   --flavor F     per-server expectations (default: from CMD's basename:
#                  "ocserv" -> ocserv, anything else -> rocserv)
#   --only auth    run only the authentication scenarios 17-21 (auth.sh)
#   --only shared  run only the shared TUN device check 22 (shared.sh)
#
# Prints PASS:/FAIL: per check and ends with "e2e: N passed, N failed";
# exits non-zero if any check failed. See tests/e2e/README.md.
set -uo pipefail
E2E_DIR=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$E2E_DIR/../.." && pwd)
. "$E2E_DIR/lib.sh"
. "$E2E_DIR/client.sh"
. "$E2E_DIR/dtls.sh"
. "$E2E_DIR/auth.sh"
. "$E2E_DIR/shared.sh"

SERVER="$REPO/target/release/rocserv"
FLAVOR=
ONLY=
while [ $# -gt 0 ]; do
  case "$1" in
    --server) SERVER=${2:?--server needs a command}; shift ;;
    --server=*) SERVER=${1#*=} ;;
    --flavor) FLAVOR=${2:?--flavor needs rocserv or ocserv}; shift ;;
    --only) ONLY=${2:?--only needs auth or shared}; shift ;;
    --only=*) ONLY=${1#*=} ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
  shift
done
case "$ONLY" in ""|auth|shared) ;; *) die "--only: unknown phase '$ONLY' (auth, shared)" ;; esac
[ "$(id -u)" = 0 ] || die "must run as root (network namespaces, tun devices)"
read -r -a SERVER_CMD <<<"$SERVER"
[ ${#SERVER_CMD[@]} -gt 0 ] || die "empty --server"
[ -x "${SERVER_CMD[0]}" ] || command -v "${SERVER_CMD[0]}" >/dev/null ||
  die "server command not found: ${SERVER_CMD[0]} (build it: cargo build --release -p rocserv)"
for t in openconnect openssl mkpasswd ip ss ping iperf3 jq timeout flock python3 oathtool useradd userdel chpasswd; do
  command -v "$t" >/dev/null || die "missing tool: $t (scripts/test.sh installs the packages)"
done
if [ -z "$FLAVOR" ]; then
  case "$(basename "${SERVER_CMD[0]}")" in ocserv) FLAVOR=ocserv ;; *) FLAVOR=rocserv ;; esac
fi

# One run at a time on this machine: the namespace names are fixed, and the
# start-up clean-up of "leftovers" would destroy a concurrent run's lab.
LOCK_FILE=/tmp/rocserv-e2e.lock
exec {LOCK_FD}>>"$LOCK_FILE" || die "cannot open $LOCK_FILE"
if ! flock -n "$LOCK_FD"; then
  log "another e2e run holds $LOCK_FILE (pid $(cat "$LOCK_FILE" 2>/dev/null)); waiting up to 15 min"
  flock -w 900 "$LOCK_FD" || die "still locked after 15 min: $LOCK_FILE"
fi
echo $$ > "$LOCK_FILE"
export LOCK_FD

STATE=$(mktemp -d /tmp/rocserv-e2e.XXXXXX) || die "mktemp failed"
chmod 755 "$STATE"
CLI=$STATE/cli
mkdir -p "$CLI"
CONF=$STATE/ocserv.conf
SLOG=$STATE/server.log
BANNER="rocserv e2e banner: authorised use only"

# --- per-server expectations: the ONLY place where the servers differ --------
case "$FLAVOR" in
  ocserv)
    # Debian's ocserv 1.1.6 has no -e; with -f it logs to stderr as well.
    SERVER_OPTS=(-f -d 2)
    EXPECT_SCRIPT_TIMEOUT=0  # ocserv has no script-timeout (ignores the key)
    PAM_SERVICE_OPTION=0     # 1.1.6 has no pam[service=...]: always the service "ocserv"
    ;;
  rocserv)
    SERVER_OPTS=(-f -e -d 2)
    EXPECT_SCRIPT_TIMEOUT=1  # script-timeout = 15 must end the hanging script
    PAM_SERVICE_OPTION=1     # auth = "pam[service=rocserv-e2e]"
    ;;
  *) die "unknown flavor $FLAVOR (rocserv or ocserv)" ;;
esac
SERVER_ARGS=("${SERVER_OPTS[@]}" -c "$CONF")

PASS=0; FAIL=0; SERVER_PID=; IPERF_PID=; HANG_T0=
ok()  { PASS=$((PASS + 1)); echo "PASS: $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL: $*"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
skip() { echo "SKIP: $*"; }

cleanup() {
  trap - EXIT INT TERM
  cli_stop_all
  [ -n "$IPERF_PID" ] && kill_wait "$IPERF_PID" 5 TERM
  [ -n "$SERVER_PID" ] && kill_wait "$SERVER_PID" 10 TERM
  auth_cleanup
  lab_down
  return 0
}
trap 'cleanup' EXIT
trap 'cleanup; exit 130' INT TERM

# --- lab ---------------------------------------------------------------------
if ns_exists "$NS_CLI" || ns_exists "$NS_SRV" || ns_exists "$NS_LAN"; then
  log "removing leftovers of an interrupted earlier run"
  lab_down
fi
lab_up || die "could not build the namespace lab"
no_default_routes || die "a lab namespace has a default route: refusing to run"
make_pki "$STATE/pki" || die "PKI generation failed"
PIN=$(cat "$STATE/pki/server-pin.txt")
make_passwd "$STATE/ocpasswd" || die "password file generation failed"
render_conf "$STATE"
log "server: ${SERVER_CMD[*]} ($FLAVOR); state: $STATE"
check "0 no lab namespace has a default route" no_default_routes

# finish: the summary (and the server log tail if anything failed); exits
finish() {
  [ -e "$SLOG" ] && echo "server log: $SLOG"
  if [ "$FAIL" -gt 0 ] && [ -e "$SLOG" ]; then
    echo "---- last 50 lines of the server log ----"
    tail -n 50 "$SLOG"
    echo "---- end of server log (state kept in $STATE) ----"
  fi
  echo "e2e: $PASS passed, $FAIL failed"
  [ "$FAIL" -eq 0 ]
  exit
}
if [ "$ONLY" = auth ]; then
  auth_checks
  finish
fi
if [ "$ONLY" = shared ]; then
  shared_checks
  finish
fi

# --- 1. server start -----------------------------------------------------------
ip netns exec "$NS_SRV" "${SERVER_CMD[@]}" "${SERVER_ARGS[@]}" > "$SLOG" 2>&1 {LOCK_FD}>&- &
SERVER_PID=$!
tcp_listening() {
  alive "$SERVER_PID" || return 1
  ip netns exec "$NS_SRV" ss -Hltn "src $SRV_IP and sport = :$PORT" | grep -q .
}
listening() {
  local i
  for ((i = 0; i < 200; i++)); do
    tcp_listening && return 0
    alive "$SERVER_PID" || { echo "      the server exited"; return 1; }
    nap 0.1
  done
  return 1
}
check "1 server listens on $SRV_IP:$PORT/tcp" listening
if ! tcp_listening; then
  echo "server not listening: no point in running the client checks"
  echo "server log: $SLOG"; tail -n 50 "$SLOG"
  echo "e2e: $PASS passed, $((FAIL)) failed"
  exit 1
fi
udp_bound() { ip netns exec "$NS_SRV" ss -Hlun "sport = :$PORT" | grep -q .; }
check "1 server bound to udp/$PORT (DTLS)" udp_bound
alive "$SERVER_PID" || log "server exited early; log: $SLOG"

# --- 2. alice: tunnel, ping, TCP transfer ------------------------------------------
ip netns exec "$NS_LAN" iperf3 -s -B "$LAN_IP" -p 5201 > "$STATE/iperf3-s.log" 2>&1 {LOCK_FD}>&- &
IPERF_PID=$!
cli_login rse-a alice
check "2 alice logs in, tunnel up" cli_wait_up rse-a 20
route_via_tun() { ip -n "$NS_CLI" route get "$LAN_IP" 2>/dev/null | grep -q "dev rse-a "; }
check "2 route to $LAN_NET via alice's tunnel" route_via_tun
ping_lan() { ip netns exec "$NS_CLI" ping -n -q -c 3 -i 0.2 -W 2 "$LAN_IP" >/dev/null 2>&1; }
check "2 ping $LAN_IP through the tunnel" ping_lan
tcp_transfer() {
  local bytes
  bytes=$(timeout 30 ip netns exec "$NS_CLI" iperf3 -c "$LAN_IP" -p 5201 -t 2 -J --connect-timeout 5000 \
    2>/dev/null | jq -r '.end.sum_received.bytes // 0' 2>/dev/null)
  echo "      iperf3: ${bytes:-0} bytes received by the lan host in 2 s"
  [ "${bytes:-0}" -ge 1000000 ] 2>/dev/null
}
check "2 TCP transfer (iperf3 -t 2) to the lan host through the tunnel" tcp_transfer

# --- 3. client environment ----------------------------------------------------------
A_ADDR=$(cli_addr rse-a)
in_pool() { [[ $1 =~ ^10\.243\.0\.([0-9]{1,3})$ ]] && [ "${BASH_REMATCH[1]}" -ge 1 ] && [ "${BASH_REMATCH[1]}" -le 254 ]; }
check "3 client address $A_ADDR within $VPN_NET" in_pool "$A_ADDR"
split_is() { # split_is NAME INC|EXC EXPECTED
  local v
  v=$(split_set "$1" "$2")
  [ "$v" = "$3" ] || { echo "      split $2: '$v', expected '$3'"; return 1; }
}
check "3 split include 10.242.0.0/24 10.250.0.0/16" split_is rse-a INC "10.242.0.0/24 10.250.0.0/16 "
check "3 split exclude 10.242.0.128/25" split_is rse-a EXC "10.242.0.128/25 "
check "3 DNS 10.242.0.53 10.242.0.54" env_is rse-a INTERNAL_IP4_DNS "10.242.0.53 10.242.0.54"
check "3 default domain corp.example" env_is rse-a CISCO_DEF_DOMAIN corp.example
check "3 banner text" env_is rse-a CISCO_BANNER "$BANNER"
mtu_ok() { local m; m=$(cli_env rse-a INTERNAL_IP4_MTU); [ "${m:-0}" -gt 0 ] 2>/dev/null; }
check "3 MTU > 0 ($(cli_env rse-a INTERNAL_IP4_MTU))" mtu_ok

# --- 4. server-side tun --------------------------------------------------------------
# srv_tun_for ADDR: "DEVICE LOCAL" of the rse-srv point-to-point tun whose peer is ADDR
srv_tun_for() {
  ip -n "$NS_SRV" -4 -o addr show 2>/dev/null |
    awk -v a="$1" '$2 ~ /^vpns/ && $5 == "peer" && $6 == a "/32" {print $2, $4; exit}'
}
read -r S_DEV S_LOCAL <<<"$(srv_tun_for "$A_ADDR")"
srv_tun_ok() {
  [ -n "${S_DEV:-}" ] || { echo "      no vpns* device with peer $A_ADDR/32:"; ip -n "$NS_SRV" -4 -o addr show | sed 's/^/      /'; return 1; }
  in_pool "$S_LOCAL" && [ "$S_LOCAL" != "$A_ADDR" ]
}
check "4 server tun ${S_DEV:-?}: inet ${S_LOCAL:-?} peer $A_ADDR/32" srv_tun_ok

# --- 5. connect / disconnect script environment -----------------------------------------
SENV=$STATE/script
senv() { sed -n "s/^$2=//p" "$SENV/$1" 2>/dev/null | head -n 1; }
senv_is() { # senv_is FILE KEY EXPECTED
  local v
  v=$(senv "$1" "$2")
  [ "$v" = "$3" ] || { echo "      $2='$v', expected '$3'"; return 1; }
}
senv_has() { # senv_has FILE KEY SUBSTRING...
  local f=$1 k=$2 v s
  v=$(senv "$f" "$k")
  shift 2
  for s in "$@"; do
    [[ $v == *"$s"* ]] || { echo "      $k='$v' lacks '$s'"; return 1; }
  done
}
senv_set() { grep -q "^$2=" "$SENV/$1" 2>/dev/null || { echo "      $2 not set"; return 1; }; }
senv_pos() { local v; v=$(senv "$1" "$2"); [[ $v =~ ^[0-9]+$ ]] && [ "$v" -gt 0 ] || { echo "      $2='$v'"; return 1; }; }
group_ok() { senv_set "$1" GROUPNAME && case "$(senv "$1" GROUPNAME)" in ""|staff) ;; *) false ;; esac; }
C=alice.connect.env
check "5 connect script ran for alice" test -s "$SENV/$C"
check "5 script REASON=connect" senv_is $C REASON connect
check "5 script USERNAME=alice" senv_is $C USERNAME alice
check "5 script GROUPNAME set (empty or staff): '$(senv $C GROUPNAME)'" group_ok $C
check "5 script DEVICE=${S_DEV:-?}" senv_is $C DEVICE "${S_DEV:-?}"
check "5 script IP_REMOTE=$A_ADDR" senv_is $C IP_REMOTE "$A_ADDR"
check "5 script IP_LOCAL=${S_LOCAL:-?}" senv_is $C IP_LOCAL "${S_LOCAL:-?}"
check "5 script IP_REAL=$CLI_IP" senv_is $C IP_REAL "$CLI_IP"
check "5 script IP_REAL_LOCAL=$SRV_IP" senv_is $C IP_REAL_LOCAL "$SRV_IP"
ua_ok() { local v; v=$(senv $C USER_AGENT); [[ $v == *AnyConnect* || $v == *OpenConnect* ]] || { echo "      USER_AGENT='$v'"; return 1; }; }
check "5 script USER_AGENT names AnyConnect/OpenConnect" ua_ok
# ocserv renders every route as addr/dotted-netmask (the CIDR 10.250.0.0/16 of
# the config becomes 10.250.0.0/255.255.0.0), space-separated with a trailing space
ROUTES="10.242.0.0/255.255.255.0 10.250.0.0/255.255.0.0 "
check "5 script OCSERV_ROUTES='$ROUTES'" senv_is $C OCSERV_ROUTES "$ROUTES"
check "5 script OCSERV_ROUTES4='$ROUTES'" senv_is $C OCSERV_ROUTES4 "$ROUTES"
check "5 script OCSERV_NO_ROUTES='10.242.0.128/255.255.255.128 '" senv_is $C OCSERV_NO_ROUTES "10.242.0.128/255.255.255.128 "
check "5 script OCSERV_DNS='10.242.0.53 10.242.0.54 '" senv_is $C OCSERV_DNS "10.242.0.53 10.242.0.54 "
check "5 script ID set" senv_pos $C ID
A_ID=$(senv $C ID)

D=alice.disconnect.env
rm -f "$SENV/$D"
cli_stop rse-a INT
check "2 alice disconnect removes her tunnel" eval "! tun_exists rse-a"
check "5 disconnect script ran for alice" wait_for 10 test -s "$SENV/$D"
check "5 disconnect REASON=disconnect" senv_is $D REASON disconnect
check "5 disconnect ID = connect ID" senv_is $D ID "$A_ID"
check "5 disconnect STATS_BYTES_IN > 0 ($(senv $D STATS_BYTES_IN))" senv_pos $D STATS_BYTES_IN
check "5 disconnect STATS_BYTES_OUT > 0 ($(senv $D STATS_BYTES_OUT))" senv_pos $D STATS_BYTES_OUT
# IN = bytes received from the client (the iperf3 upload), OUT = sent to it
in_gt_out() { [ "$(senv $D STATS_BYTES_IN)" -gt "$(senv $D STATS_BYTES_OUT)" ] 2>/dev/null; }
check "5 disconnect STATS_BYTES_IN (from the client) > STATS_BYTES_OUT after the upload" in_gt_out
dur_ok() { [[ $(senv $D STATS_DURATION) =~ ^[0-9]+$ ]] || { echo "      STATS_DURATION='$(senv $D STATS_DURATION)'"; return 1; }; }
check "5 disconnect STATS_DURATION ($(senv $D STATS_DURATION))" dur_ok

cli_login rse-dl alice
check "2 second alice tunnel (TLS only) up for a download" cli_wait_up rse-dl 20
# (on a client of its own: check 5 looks at the byte counts of alice's upload-only session)
check "2 TCP transfer from the lan host (iperf3 -R -t 2): one frame per TLS record" tcp_download rse-dl
cli_stop rse-dl INT

# --- 6. refusals look the same ------------------------------------------------------------
# failure_lines NAME: openconnect's lines about the refusal, with the parts
# that legitimately differ (user names) masked
failure_lines() {
  grep -v -i -E '^(Connected to|SSL negotiation|POST|GET|XML POST)|certificate' "$CLI/$1.log" |
    grep -i -E 'fail|denied|invalid|refus|error|incorrect|wrong|401|403' |
    sed -E 's/(alice|nosuchuser|lock)/<user>/g'
}
cli_login rse-f1 alice wrong-password
check "6 wrong password refused" cli_expect_refused rse-f1 20
cli_login rse-f2 nosuchuser whatever-pw
check "6 unknown user refused" cli_expect_refused rse-f2 20
cli_login rse-f3 lock
check "6 locked user refused (right password)" cli_expect_refused rse-f3 20
same_failure() {
  local a b c
  a=$(failure_lines rse-f1); b=$(failure_lines rse-f2); c=$(failure_lines rse-f3)
  echo "      client says (exit ${FG_RC[rse-f1]}): $(tr '\n' '|' <<<"$a")"
  [ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" = "$c" ] && [ "${FG_RC[rse-f1]}" = "${FG_RC[rse-f2]}" ] &&
    [ "${FG_RC[rse-f1]}" = "${FG_RC[rse-f3]}" ] || {
    echo "      unknown user: $(tr '\n' '|' <<<"$b")"; echo "      locked user: $(tr '\n' '|' <<<"$c")"; return 1; }
}
check "6 the three refusals look the same to the client" same_failure
no_tuns() { ! ip -n "$NS_CLI" -o link show | grep -q -E ': rse-f[123][:@]'; }
check "6 no tunnel for refused clients" no_tuns

# --- 7. every password hash format ------------------------------------------------------------
hash_login() { # hash_login USER
  cli_login "rse-$1" "$1"
  cli_wait_up "rse-$1" 20 && ping_via "rse-$1" || { cli_stop "rse-$1" INT; return 1; }
  cli_stop "rse-$1" INT
}
check "7 bob (\$y\$ yescrypt) logs in" hash_login bob
check "7 carol (\$5\$ sha256) logs in" hash_login carol
check "7 dave (\$1\$ md5) logs in" hash_login dave
if [ "$HAVE_ERIN" = 1 ]; then
  check "7 erin (\$2b\$ bcrypt) logs in" hash_login erin
else
  skip "7 erin: no bcrypt support in mkpasswd"
fi

# --- 8. cookie reconnect keeps the address ---------------------------------------------------------
check "8 openconnect --authenticate prints a cookie" authenticate alice
cli_cookie rse-k "$COOKIE"
check "8 tunnel from the cookie comes up" cli_wait_up rse-k 20
K1=$(cli_addr rse-k)
cli_stop rse-k KILL
cli_cookie rse-k "$COOKIE"
check "8 same cookie after kill -KILL: tunnel up again" cli_wait_up rse-k 20
K2=$(cli_addr rse-k)
same_addr() { [ -n "$K1" ] && [ "$K1" = "$K2" ] || { echo "      before '$K1', after '$K2'"; return 1; }; }
check "8 same address after reconnect ($K1 -> $K2)" same_addr
check "8 reconnected tunnel passes traffic" ping_via rse-k

# --- 8b. the same cookie while its tunnel is up replaces the old tunnel ----------------------------------
cli_cookie rse-k3 "$COOKIE" 1
check "8 same cookie while its tunnel is up: the new tunnel comes up" cli_wait_up rse-k3 20
K3=$(cli_addr rse-k3)
takeover_addr() { [ -n "$K3" ] && [ "$K3" = "$K1" ] || { echo "      first '$K1', takeover '$K3'"; return 1; }; }
check "8 the new tunnel keeps the session's address ($K3)" takeover_addr
check "8 the new tunnel passes traffic" ping_via rse-k3
if [ "$FLAVOR" = rocserv ]; then
  # rocserv tells the replaced client (DISCONNECT frame), so it exits instead of stealing the
  # session back; ocserv just closes the old connection.
  old_told() {
    local p; p=$(bg_pid rse-k)
    wait_for 10 eval "! alive ${p:-0}" && grep -q -i 'taken over' "$CLI/rse-k.log"
  }
  check "8 the replaced client is told why and exits" old_told
else
  skip "8 replaced client told why ($FLAVOR closes the connection without a reason)"
fi
cli_stop rse-k KILL

# --- 9. logout (SIGINT -> BYE 0xb0) invalidates the cookie ---------------------------------------------
cli_stop rse-k3 INT
check "9 openconnect exits on SIGINT, tunnel gone" eval "! tun_exists rse-k3"
cli_cookie rse-k2 "$COOKIE"
check "9 cookie refused after logout" cli_expect_refused rse-k2 20

# --- 10. failing connect script refuses the client -------------------------------------------------------
cli_login rse-deny deny
check "10 connect script exit 1 refuses user deny" cli_expect_refused rse-deny 20

# --- 11. a hanging connect script blocks nobody else -------------------------------------------------------
rm -f "$SENV/hang.connect.env" "$SENV/hang.sleep.pid"
cli_login rse-hang hang
hang_started() { wait_for 20 test -s "$SENV/hang.sleep.pid"; }
check "11 hang's connect script started" hang_started
HANG_T0=$SECONDS
others_ok() {
  local t0=$SECONDS
  cli_login rse-a2 alice
  cli_wait_up rse-a2 10 && ping_via rse-a2 || return 1
  echo "      alice up and pinging after $((SECONDS - t0)) s"
  [ $((SECONDS - t0)) -le 10 ]
}
check "11 alice connects and passes traffic within 10 s while hang waits" others_ok
hang_waiting() { ! fg_done rse-hang && ! tun_exists rse-hang; }
check "11 hang's client is still waiting (no tunnel)" hang_waiting
cli_stop rse-a2 INT
if [ "$EXPECT_SCRIPT_TIMEOUT" = 1 ]; then
  # (a "TLS handshake timed out" debug line must not count)
  timed_out() { grep -i 'timed out' "$SLOG" | grep -q -v -i 'handshake'; }
  script_timeout_logged() { local left=$((15 + 5 - (SECONDS - HANG_T0))); wait_for $((left > 1 ? left : 1)) timed_out; }
  check "11 server log says the connect script timed out (script-timeout 15 s + 5)" script_timeout_logged
else
  skip "11 script-timeout log check ($FLAVOR has no script-timeout)"
fi
cli_stop rse-hang TERM
# the test's own sleeping script process: end it by PID (ocserv never would)
HANG_SLEEP=$(cat "$SENV/hang.sleep.pid" 2>/dev/null)
[ -n "$HANG_SLEEP" ] && kill_wait "$HANG_SLEEP" 5 TERM

# --- 12. three clients at once ---------------------------------------------------------------------------------
for u in alice bob carol; do cli_login "rse-m-$u" "$u" "${PASS_OF[$u]}" 1; done
all_up() { local u; for u in alice bob carol; do cli_wait_up "rse-m-$u" 20 || return 1; done; }
check "12 alice, bob and carol connected at the same time" all_up
distinct() {
  local n
  n=$(for u in alice bob carol; do cli_addr "rse-m-$u"; done | grep -c .)
  [ "$n" = 3 ] && [ "$(for u in alice bob carol; do cli_addr "rse-m-$u"; done | sort -u | wc -l)" = 3 ]
}
check "12 distinct addresses ($(for u in alice bob carol; do cli_addr "rse-m-$u"; done | tr '\n' ' '))" distinct
for u in alice bob carol; do check "12 $u pings $LAN_IP over her/his own tun" ping_via "rse-m-$u"; done
for u in alice bob carol; do cli_stop "rse-m-$u" INT; done

# --- 14-16. DTLS (dtls.sh): every mode, fallback to CSTP, garbage on the UDP port -----------------------------
dtls_checks

# --- 13. SIGTERM -----------------------------------------------------------------------------------------------------
kill_wait "$IPERF_PID" 5 TERM; IPERF_PID=
stops() {
  kill -TERM "$SERVER_PID" 2>/dev/null
  wait_for 10 eval '! alive "$SERVER_PID"'
}
check "13 server exits on SIGTERM within 10 s" stops
kill_wait "$SERVER_PID" 2 KILL; SERVER_PID=
srv_ns_empty() { [ -z "$(ns_pids "$NS_SRV" | tr -d ' ')" ]; }
srv_ns_drains() { wait_for 5 srv_ns_empty || { echo "      left: $(ns_pids "$NS_SRV")"; return 1; }; }
check "13 no process left in $NS_SRV" srv_ns_drains
no_vpns() { ! ip -n "$NS_SRV" -o link show | grep -q ': vpns'; }
check "13 no vpns* device left in $NS_SRV" wait_for 5 no_vpns

# --- 17-21. authentication scenarios (auth.sh): one server per configuration --------------------------------------
auth_checks

# --- 22. shared TUN device (shared.sh, rocserv only) -------------------------------------------------------------------
shared_checks

# --- end --------------------------------------------------------------------------------------------------------------
finish
