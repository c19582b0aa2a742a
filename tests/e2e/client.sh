# shellcheck shell=bash
# client.sh - openconnect launcher and helpers of the e2e suite (sourced by
# run.sh after lib.sh). Every client runs in namespace $NS_CLI with our
# client-script.sh, --no-dtls (unless CLI_DTLS=1, see cli_login_dtls), the
# server pinned by --servercert, its own tun
# interface NAME, and -b (it forks to the background once the tunnel is
# configured and writes $CLI/NAME.pid). Files per client in $CLI:
#   NAME.log  openconnect's output      NAME.env  client-script environment
#   NAME.pid  background PID            NAME.up   "tunnel configured" stamp
# Needs: CLI (dir), PIN ("pin-sha256:..."), E2E_DIR.

declare -A FG=()     # NAME -> PID of the foreground openconnect (our job)
declare -A FG_RC=()  # NAME -> its exit status once it exited

# cli_launch NAME STDIN NO_ROUTES(0|1) [openconnect args...]
cli_launch() {
  local name=$1 secret=$2 noroutes=$3
  shift 3
  local dtls=(--no-dtls) inter=(--non-inter)
  [ "${CLI_DTLS:-0}" = 1 ] && dtls=()
  # CLI_INTER=1: without --non-inter, openconnect reads the answer to every
  # further prompt as the next line of stdin (multi-round logins)
  [ "${CLI_INTER:-0}" = 1 ] && inter=()
  rm -f "$CLI/$name".{up,pid,log,env}
  unset "FG_RC[$name]"
  E2E_CLI_DIR=$CLI E2E_NO_ROUTES=$noroutes \
    ip netns exec "$NS_CLI" openconnect --protocol=anyconnect "${inter[@]}" "${dtls[@]}" \
    --servercert "$PIN" --script "$E2E_DIR/client-script.sh" --interface "$name" \
    --disable-ipv6 --background --pid-file "$CLI/$name.pid" "$@" "$URL" \
    <<<"$secret" > "$CLI/$name.log" 2>&1 {LOCK_FD}>&- &
  FG[$name]=$!
}

# cli_login NAME USER [PASSWORD] [NO_ROUTES] [openconnect args...]
cli_login() {
  local name=$1 user=$2 pw=${3-${PASS_OF[$2]:-}} noroutes=${4:-0}
  shift $(($# < 4 ? $# : 4))
  cli_launch "$name" "$pw" "$noroutes" --user "$user" --passwd-on-stdin "$@"
}

# cli_login_dtls NAME USER [openconnect args...]: like cli_login but WITHOUT
# --no-dtls (and with -v), no routes (ping with -I NAME)
cli_login_dtls() {
  local name=$1 user=$2
  shift 2
  CLI_DTLS=1 cli_launch "$name" "${PASS_OF[$user]:-}" 1 --user "$user" --passwd-on-stdin -v "$@"
}

# cli_cookie NAME COOKIE [NO_ROUTES]
cli_cookie() { cli_launch "$1" "$2" "${3:-0}" --cookie-on-stdin; }

# fg_done NAME: true once the foreground openconnect has exited (reaps it and
# records its status in FG_RC).
fg_done() {
  local name=$1 rc=0
  [ -n "${FG_RC[$name]:-}" ] && return 0
  alive "${FG[$name]}" && return 1
  wait "${FG[$name]}" 2>/dev/null || rc=$?
  FG_RC[$name]=$rc
  return 0
}

bg_pid() { cat "$CLI/$1.pid" 2>/dev/null; }
tun_exists() { ip -n "$NS_CLI" link show "$1" >/dev/null 2>&1; }
tun_up() { [ -s "$CLI/$1.up" ] && ip -n "$NS_CLI" link show "$1" 2>/dev/null | grep -q ',UP'; }

# cli_wait_up NAME [TIMEOUT_S]: 0 when the tunnel is configured and up;
# 1 as soon as openconnect failed (non-zero exit, or the background process
# died before configuring the tunnel), or at the timeout.
cli_wait_up() {
  local name=$1 t=${2:-20} i p
  for ((i = 0; i < t * 20; i++)); do
    tun_up "$name" && return 0
    # -b: the foreground process exits 0 at "Continuing in background" and
    # the script may run just after; a non-zero exit is a failure.
    if fg_done "$name"; then
      [ "${FG_RC[$name]}" = 0 ] || return 1
      p=$(bg_pid "$name")
      if [ -n "$p" ] && ! alive "$p" && [ ! -s "$CLI/$name.up" ]; then return 1; fi
    fi
    nap 0.05
  done
  log "client $name: no tunnel within ${t}s"
  return 1
}

# cli_expect_refused NAME [TIMEOUT_S]: 0 when openconnect exits non-zero and
# no tunnel appeared. Stops whatever is left either way.
cli_expect_refused() {
  local name=$1 t=${2:-20} i
  for ((i = 0; i < t * 20; i++)); do
    fg_done "$name" && break
    nap 0.05
  done
  if ! fg_done "$name"; then
    log "client $name: still running after ${t}s (expected a refusal)"
    cli_stop "$name" TERM
    return 1
  fi
  if [ "${FG_RC[$name]}" = 0 ] || tun_exists "$name" || [ -e "$CLI/$name.up" ]; then
    log "client $name: exit ${FG_RC[$name]}, tunnel present: expected a refusal"
    cli_stop "$name" TERM
    return 1
  fi
  return 0
}

# cli_stop NAME [SIG]: stop this client (SIGINT = clean logout with BYE 0xb0,
# SIGKILL = vanish without a word), bounded; waits until its tun is gone.
cli_stop() {
  local name=$1 sig=${2:-INT} p
  p=$(bg_pid "$name")
  [ -n "$p" ] && kill_wait "$p" 10 "$sig"
  if [ -n "${FG[$name]:-}" ] && ! fg_done "$name"; then
    kill_wait "${FG[$name]}" 10 "$sig"
    fg_done "$name" || true
  fi
  rm -f "$CLI/$name.pid"
  wait_for 5 eval "! tun_exists $name"
}

cli_stop_all() {
  local name
  for name in "${!FG[@]}"; do cli_stop "$name" TERM >/dev/null 2>&1; done
  return 0
}

# cli_env NAME KEY: a value from the client-script environment dump
cli_env() { sed -n "s/^$2=//p" "$CLI/$1.env" 2>/dev/null | head -n 1; }
cli_addr() { cli_env "$1" INTERNAL_IP4_ADDRESS; }
# split_set NAME INC|EXC: the pushed split routes as sorted "addr/masklen" words
split_set() {
  local n i out=()
  n=$(cli_env "$1" "CISCO_SPLIT_$2")
  for ((i = 0; i < ${n:-0}; i++)); do
    out+=("$(cli_env "$1" "CISCO_SPLIT_$2_${i}_ADDR")/$(cli_env "$1" "CISCO_SPLIT_$2_${i}_MASKLEN")")
  done
  printf '%s\n' "${out[@]}" | sort | tr '\n' ' '
}
env_is() { # env_is NAME KEY EXPECTED
  local v
  v=$(cli_env "$1" "$2")
  [ "$v" = "$3" ] || { echo "      $2='$v', expected '$3'"; return 1; }
}

# ping_via NAME: the lan host answers through this tunnel (ping -I binds to it)
ping_via() { ip netns exec "$NS_CLI" ping -n -q -c 3 -i 0.2 -W 2 -I "$1" "$LAN_IP" >/dev/null 2>&1; }

# tcp_download NAME [DEV]: a 2 s TCP download from the lan host (iperf3 -R) through tun DEV
# (SO_BINDTODEVICE) when given, else by the routes, moves >= 1 MB, and client NAME's log has no
# sign of a broken CSTP stream. The server sends bursts of TUN packets, each its own CSTP frame
# in its own TLS record, with one flush: openconnect takes a record holding anything but one
# frame for a broken stream ("Unexpected packet length") and reconnects.
tcp_download() {
  local bytes t bind=()
  [ -n "${2:-}" ] && bind=(--bind-dev "$2")
  bytes=$(timeout 30 ip netns exec "$NS_CLI" iperf3 -c "$LAN_IP" -p 5201 -R -t 2 "${bind[@]}" -J \
    --connect-timeout 5000 2>/dev/null | jq -r '.end.sum_received.bytes // 0' 2>/dev/null)
  echo "      iperf3 -R: ${bytes:-0} bytes received by the client in 2 s"
  t=$(grep -E 'Unexpected packet length|Short packet received|Unknown packet|[Rr]econnect' "$CLI/$1.log")
  [ -z "$t" ] || { echo "      client log: $(tr '\n' '|' <<<"$t")"; return 1; }
  [ "${bytes:-0}" -ge 1000000 ] 2>/dev/null
}

# authenticate USER: runs `openconnect --authenticate` and sets COOKIE from
# its output. The output is parsed, never eval'ed: only
# NAME='value' lines with known names and no quote inside are accepted.
authenticate() {
  local user=$1 out line re="^(COOKIE|FINGERPRINT|HOST|CONNECT_URL|RESOLVE)='([^']*)'$"
  COOKIE=
  out=$(timeout 20 ip netns exec "$NS_CLI" openconnect --authenticate --protocol=anyconnect \
    --non-inter --passwd-on-stdin --user "$user" --servercert "$PIN" "$URL" \
    <<<"${PASS_OF[$user]}" 2>"$CLI/authenticate-$user.log") || return 1
  while IFS= read -r line; do
    [[ $line =~ $re ]] || continue
    [ "${BASH_REMATCH[1]}" = COOKIE ] && COOKIE=${BASH_REMATCH[2]}
  done <<<"$out"
  [ -n "$COOKIE" ]
}
