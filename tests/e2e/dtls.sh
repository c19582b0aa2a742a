# shellcheck shell=bash
# dtls.sh - the DTLS checks of the e2e suite (sourced by run.sh after lib.sh
# and client.sh; run.sh calls dtls_checks). Clients here run WITHOUT
# --no-dtls (cli_login_dtls), one at a time, and ping with -I.
# Needs from run.sh: check ok bad skip, CLI, STATE, SERVER_PID, E2E_DIR.

DTLS_PINGS=20  # pings per "traffic went over UDP" burst
DTLS_SEC=14    # check number printed by dtls_mode (16 in the garbage section)

# srv_counter KEY: one counter of rse-srv's /proc/net/snmp (Udp: InDatagrams,
# OutDatagrams, Tcp: InSegs, ...), e.g. srv_counter Udp InDatagrams
srv_counter() {
  # shellcheck disable=SC2016  # awk program
  ip netns exec "$NS_SRV" awk -v p="$1:" -v k="$2" '
    $1 == p && !h { for (i = 2; i <= NF; i++) col[$i] = i; h = 1; next }
    $1 == p && h  { print $(col[k]); exit }' /proc/net/snmp
}

# counters_snap: "udp_in udp_out tcp_in" of the server namespace
counters_snap() { echo "$(srv_counter Udp InDatagrams) $(srv_counter Udp OutDatagrams) $(srv_counter Tcp InSegs)"; }

# burst_over NAME udp|tcp: DTLS_PINGS pings through tun NAME, all answered, and
# the server namespace's counters show they were carried by UDP (>= one
# datagram each way per ping, TCP almost idle) or by TCP (no UDP at all)
burst_over() {
  local name=$1 via=$2 a b ui uo ti
  read -r -a a <<<"$(counters_snap)"
  ip netns exec "$NS_CLI" ping -n -q -c "$DTLS_PINGS" -i 0.05 -W 2 -I "$name" "$LAN_IP" >/dev/null 2>&1 ||
    { echo "      ping -c $DTLS_PINGS via $name: not all answered"; return 1; }
  read -r -a b <<<"$(counters_snap)"
  ui=$((b[0] - a[0])); uo=$((b[1] - a[1])); ti=$((b[2] - a[2]))
  echo "      $DTLS_PINGS pings: server got $ui UDP datagrams, sent $uo; got $ti TCP segments"
  case "$via" in
    udp) [ "$ui" -ge "$DTLS_PINGS" ] && [ "$uo" -ge "$DTLS_PINGS" ] && [ "$ti" -lt $((DTLS_PINGS / 2)) ] ;;
    tcp) [ "$ui" -eq 0 ] && [ "$ti" -ge "$DTLS_PINGS" ] ;;
  esac
}

# download_over_udp NAME: a 2 s TCP download from the LAN host (iperf3 -R) through tun NAME
# moves >= 1 MB and the server sends it as UDP datagrams (DTLS records, in GSO trains when
# the kernel takes them: the client must see the same datagrams as one by one)
download_over_udp() {
  local name=$1 a b bytes uo
  read -r -a a <<<"$(counters_snap)"
  bytes=$(timeout 30 ip netns exec "$NS_CLI" iperf3 -c "$LAN_IP" -p 5201 -R -t 2 --bind-dev "$name" \
    -J --connect-timeout 5000 2>/dev/null | jq -r '.end.sum_received.bytes // 0' 2>/dev/null)
  read -r -a b <<<"$(counters_snap)"
  uo=$((b[1] - a[1]))
  echo "      iperf3 -R: ${bytes:-0} bytes received by the client in 2 s; server made $uo UDP sends (a GSO train counts once)"
  [ "${bytes:-0}" -ge 1000000 ] 2>/dev/null && [ "$uo" -ge 500 ]
}

# dtls_line NAME: openconnect's "Established DTLS connection ..." line
dtls_line() { grep -m1 'Established DTLS connection' "$CLI/$1.log" 2>/dev/null; }
# dtls_suite NAME: the GnuTLS ciphersuite description, e.g. (DTLS1.2)-(PSK)-(AES-256-GCM)
dtls_suite() { dtls_line "$1" | sed -n 's/.*Ciphersuite \(.*\)\.$/\1/p'; }
dtls_established() { wait_for 3 eval "dtls_line $1 >/dev/null"; }
# DTLS trouble in the client log ("DTLS handshake failed/timed out", falling back to CSTP, ...)
DTLS_TROUBLE='DTLS handshake (failed|timed out)|[Ff]alling back|DTLS Dead Peer Detection detected dead peer|Failed to (open|connect) UDP'
no_dtls_trouble() {
  local t
  t=$(grep -E "$DTLS_TROUBLE" "$CLI/$1.log")
  [ -z "$t" ] || { echo "      client log: $(tr '\n' '|' <<<"$t")"; return 1; }
}
suite_is() { # suite_is NAME ERE
  local s
  s=$(dtls_suite "$1")
  [[ $s =~ $2 ]] || { echo "      ciphersuite '$s' does not match $2"; return 1; }
}
mtu_at_least() { # mtu_at_least NAME MIN
  local m
  m=$(cli_env "$1" INTERNAL_IP4_MTU)
  [ "${m:-0}" -ge "$2" ] 2>/dev/null || { echo "      INTERNAL_IP4_MTU='$m' (< $2: DPD MTU probes not echoed?)"; return 1; }
}

# reply_has NAME HEADER-LINE: the CONNECT reply (logged by openconnect -v) has this line
reply_has() {
  tr -d '\r' < "$CLI/$1.log" | grep -q -x -F "$2" ||
    { echo "      reply: $(grep -E '^X-DTLS(12)?-CipherSuite' "$CLI/$1.log" | tr -d '\r' | tr '\n' '|')"; return 1; }
}

# dtls_mode LABEL NAME USER REPLY_HEADER SUITE_ERE [openconnect args...]: one
# DTLS client: its tunnel, the server's cipher reply header, the negotiated
# suite, traffic over UDP, its MTU; the client is left running
dtls_mode() {
  local label=$1 name=$2 user=$3 hdr=$4 ere=$5 t0 ms
  shift 5
  t0=$EPOCHREALTIME
  cli_login_dtls "$name" "$user" "$@"
  if ! cli_wait_up "$name" 25; then
    bad "$DTLS_SEC $label: tunnel up"
    echo "      client log tail:"; tail -n 5 "$CLI/$name.log" | sed 's/^/      /'
    return 1
  fi
  ms=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%d", (b - a) * 1000}')
  ok "$DTLS_SEC $label: tunnel up in $ms ms"
  # openconnect 9.01 sleeps up to 1 s before configuring its tunnel when its DTLS handshake
  # completed early, unless a datagram wakes it: rocserv sends a KEEPALIVE after the MTU probe
  # answer (ocserv does not, and its clients may take the extra second)
  if [ "$FLAVOR" = rocserv ]; then
    no_dtls_stall() { [ "$ms" -lt 1000 ] || { echo "      $ms ms: the client slept through its 1 s DTLS wait"; return 1; }; }
    check "$DTLS_SEC $label: tunnel up in < 1 s (no 1 s DTLS wait in the client)" no_dtls_stall
  fi
  check "$DTLS_SEC $label: CONNECT reply has '$hdr'" reply_has "$name" "$hdr"
  check "$DTLS_SEC $label: client log says 'Established DTLS connection'" dtls_established "$name"
  check "$DTLS_SEC $label: ciphersuite '$(dtls_suite "$name")' matches $ere" suite_is "$name" "$ere"
  check "$DTLS_SEC $label: $DTLS_PINGS pings through the tunnel carried over UDP" burst_over "$name" udp
  check "$DTLS_SEC $label: TCP download from the lan host carried over UDP" download_over_udp "$name"
  check "$DTLS_SEC $label: no DTLS failure/fallback in the client log" no_dtls_trouble "$name"
  check "$DTLS_SEC $label: INTERNAL_IP4_MTU $(cli_env "$name" INTERNAL_IP4_MTU) >= 1200" mtu_at_least "$name" 1200
}

dtls_mode_once() { # like dtls_mode, then stops the client
  dtls_mode "$@"
  cli_stop "$2" INT
}

# --- fallback: UDP from the server blackholed inside rse-cli ---------------------------------------------
# This kernel has no tc actions or qdiscs (no act_gact, netem, prio) and
# nftables/iptables are not installed, so the block is policy routing
# (iproute2 only): a rule blackholes UDP with source port $PORT at the
# client's input route lookup (a silent drop: forwarding is off in rse-cli,
# so no ICMP). Input lookups for local addresses hit rule 0 "lookup local"
# first, so the block goes in at pref 1 and the local rule moves to pref 2
# while the block lasts. The server's DTLS answers never arrive: openconnect's
# handshake times out and the tunnel runs over CSTP.
udp_block() {
  ip -n "$NS_CLI" rule add pref 2 lookup local || return 1
  ip -n "$NS_CLI" rule del pref 0 lookup local || return 1
  ip -n "$NS_CLI" rule add pref 1 ipproto udp sport "$PORT" blackhole
}
udp_unblock() {
  ip -n "$NS_CLI" rule add pref 0 lookup local 2>/dev/null
  ip -n "$NS_CLI" rule del pref 1 2>/dev/null
  ip -n "$NS_CLI" rule del pref 2 2>/dev/null
  return 0
}
unblocked() { ! ip -n "$NS_CLI" rule show | grep -q -E 'ipproto udp|^2:'; }
no_dtls_up() { ! dtls_line "$1" >/dev/null; }
dtls_gave_up() { grep -q -E 'DTLS handshake (timed out|failed)' "$CLI/$1.log"; }

dtls_fallback() {
  local cli=rse-dfb t0
  if ! udp_block; then
    bad "15 fallback: cannot block UDP in $NS_CLI (ip rule ipproto/sport unsupported?)"
    udp_unblock
    return
  fi
  t0=$SECONDS
  cli_login_dtls "$cli" alice
  check "15 UDP blocked: tunnel up within 20 s (openconnect's DTLS handshake timeout)" cli_wait_up "$cli" 20
  echo "      tunnel up after $((SECONDS - t0)) s"
  check "15 UDP blocked: the server offered DTLS (reply has X-DTLS-Port: $PORT)" reply_has "$cli" "X-DTLS-Port: $PORT"
  check "15 UDP blocked: client log says the DTLS handshake timed out/failed" dtls_gave_up "$cli"
  check "15 UDP blocked: $DTLS_PINGS pings carried over CSTP (TCP)" burst_over "$cli" tcp
  check "15 UDP blocked: no DTLS connection established" no_dtls_up "$cli"
  cli_stop "$cli" INT
  udp_unblock
  check "15 UDP block removed" unblocked
}

captured() { [ "$(grep -c . "$1" 2>/dev/null)" -ge 3 ]; }
# garbage CMD ARGS...: udp-garbage.py in rse-cli; sets G_OUT (its summary) and
# G_UDP (how many UDP datagrams the server namespace received meanwhile)
garbage() {
  local a b
  a=$(srv_counter Udp InDatagrams)
  G_OUT=$(timeout 20 ip netns exec "$NS_CLI" python3 "$E2E_DIR/udp-garbage.py" "$@" 2>&1 | tail -n 1)
  nap 0.2
  b=$(srv_counter Udp InDatagrams)
  G_UDP=$((b - a))
}
# garbage_arrived MIN: the script ran and >= MIN datagrams reached a server socket
garbage_arrived() {
  echo "      $G_UDP datagrams delivered to the server's UDP sockets"
  [[ $G_OUT =~ ^(sent|replayed|spoofed) ]] && [ "$G_UDP" -ge "$1" ]
}

# --- garbage on the DTLS port --------------------------------------------------------------------------------
dtls_garbage() {
  local name=rse-dg cap=$STATE/dtls-capture.hex cap_pid n DTLS_SEC=16
  rm -f "$cap"
  # record the client's first datagrams (ClientHello, Finished, MTU probes, data)
  ip netns exec "$NS_CLI" python3 "$E2E_DIR/udp-garbage.py" capture "$IF_CS" "$SRV_IP" "$PORT" "$cap" 40 30 \
    > "$STATE/dtls-capture.log" 2>&1 {LOCK_FD}>&- &
  cap_pid=$!
  nap 0.3
  dtls_mode "garbage: first client" "$name" carol "$PSK_HDR" '^\(DTLS1\.2\)-\(PSK\)-' || { kill_wait "$cap_pid" 2 TERM; return; }
  kill_wait "$cap_pid" 3 TERM
  n=$(grep -c . "$cap" 2>/dev/null); n=${n:-0}
  check "16 captured $n of the client's DTLS datagrams (ClientHello, Finished, probes, data)" captured "$cap"
  garbage send "$SRV_IP" "$PORT"
  check "16 random datagrams, fake/truncated ClientHellos reached the server ($G_OUT)" garbage_arrived 60
  # unknown ids and junk get no answer at all (no amplification, protocol.md 5.1)
  check "16 the server answered none of them" grep -q ', 0 answers$' <<<"$G_OUT"
  if [ -s "$cap" ]; then
    garbage replay "$IF_CS" "$cap"
    check "16 replayed the captured datagrams, same 4-tuple ($G_OUT)" garbage_arrived "$n"
    garbage spoof "$IF_CS" "$cap"
    check "16 the same garbage from the established client's 4-tuple ($G_OUT)" garbage_arrived 60
  fi
  check "16 server still running" alive "$SERVER_PID"
  check "16 established tunnel still passes $DTLS_PINGS pings over UDP" burst_over "$name" udp
  check "16 established client saw no DTLS failure" no_dtls_trouble "$name"
  dtls_mode "garbage: a new DTLS client" rse-dg2 dave "$PSK_HDR" '^\(DTLS1\.2\)-\(PSK\)-'
  cli_stop rse-dg2 INT
  cli_stop "$name" INT
}

PSK_HDR='X-DTLS-CipherSuite: PSK-NEGOTIATE'
dtls_checks() {
  # openconnect 9.01 (GnuTLS) names the suite (DTLS1.2)-(PSK)-(AES-256-GCM) etc.
  # (label, tun name, user, the server's cipher reply header, suite ERE, openconnect args)
  dtls_mode_once "default (PSK-NEGOTIATE)" rse-dpsk alice "$PSK_HDR" \
    '^\(DTLS1\.2\)-\(PSK\)-\((AES-(128|256)-GCM|CHACHA20-POLY1305)\)$'
  dtls_mode_once "OC-DTLS1_2-AES128-GCM" rse-d12a alice 'X-DTLS-CipherSuite: OC-DTLS1_2-AES128-GCM' \
    '^\(DTLS1\.2\)-\(RSA\)-\(AES-128-GCM\)$' --dtls-ciphers=OC-DTLS1_2-AES128-GCM
  dtls_mode_once "OC-DTLS1_2-AES256-GCM" rse-d12b alice 'X-DTLS-CipherSuite: OC-DTLS1_2-AES256-GCM' \
    '^\(DTLS1\.2\)-\(RSA\)-\(AES-256-GCM\)$' --dtls-ciphers=OC-DTLS1_2-AES256-GCM
  # only X-DTLS12 names: X-DTLS-CipherSuite gets the unknown name NONE (no PSK-NEGOTIATE)
  dtls_mode_once "X-DTLS12 AES256-GCM-SHA384" rse-dx12 alice 'X-DTLS12-CipherSuite: AES256-GCM-SHA384' \
    '^\(DTLS1\.2\)-\(RSA\)-\(AES-256-GCM\)$' --dtls-ciphers=NONE --dtls12-ciphers=AES256-GCM-SHA384
  if [ "$FLAVOR" = rocserv ]; then
    # Cisco's X-DTLS12 ECDHE names (resumed, so no key exchange happens); ocserv 1.1.6 only serves
    # them to IP phones.
    dtls_mode_once "X-DTLS12 ECDHE-RSA-AES128-GCM-SHA256" rse-dx12e alice \
      'X-DTLS12-CipherSuite: ECDHE-RSA-AES128-GCM-SHA256' \
      '^\(DTLS1\.2\)-\(ECDHE-RSA\)-\(AES-128-GCM\)$' --dtls-ciphers=NONE --dtls12-ciphers=ECDHE-RSA-AES128-GCM-SHA256
  else
    skip "$DTLS_SEC X-DTLS12 ECDHE-RSA names ($FLAVOR serves them to IP phones only)"
  fi
  dtls_mode_once "AES128-SHA (DTLS 0.9)" rse-d09a alice 'X-DTLS-CipherSuite: AES128-SHA' \
    '^\(DTLS0\.9\)-\(RSA\)-\(AES-128-CBC\)-\(SHA1\)$' --dtls-ciphers=AES128-SHA
  dtls_mode_once "AES256-SHA (DTLS 0.9)" rse-d09b alice 'X-DTLS-CipherSuite: AES256-SHA' \
    '^\(DTLS0\.9\)-\(RSA\)-\(AES-256-CBC\)-\(SHA1\)$' --dtls-ciphers=AES256-SHA
  dtls_fallback
  dtls_garbage
}
