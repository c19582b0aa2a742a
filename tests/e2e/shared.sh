# shellcheck shell=bash
# shared.sh - check 22 of the e2e suite: rocserv's opt-in shared TUN device
# (`shared-tun = true`, a rocserv extension; skipped against ocserv). Sourced
# by run.sh after auth.sh (it starts its server with auth_server_start, in
# $STATE/auth/shared); run.sh calls shared_checks after the authentication
# scenarios, or alone with `run.sh --only shared`.
# Needs from run.sh: check ok bad skip, STATE, CLI, FLAVOR, PASS_OF.

SHARED_DEV=vpns  # the `device` option of conf_base: the shared device's exact name

# lan_counter KEY: one Icmp counter of rse-lan's /proc/net/snmp (InEchos, ...)
lan_counter() {
  # shellcheck disable=SC2016  # awk program
  ip netns exec "$NS_LAN" awk -v k="$1" '
    $1 == "Icmp:" && !h { for (i = 2; i <= NF; i++) col[$i] = i; h = 1; next }
    $1 == "Icmp:" && h  { print $(col[k]); exit }' /proc/net/snmp
}

shared_checks() {
  if [ "$FLAVOR" != rocserv ]; then
    skip "22 shared-tun ($FLAVOR has one device per client only)"
    return
  fi
  AUTH=${AUTH:-$STATE/auth}
  mkdir -p "$AUTH"
  # DTLS on as well: alice sends over TLS (--no-dtls), bob over DTLS
  auth_scenario 22 shared "auth = \"plain[passwd=$STATE/ocpasswd]\"" "udp-port = $PORT" \
    "shared-tun = true" || return
  local senv=$AUTH/shared/script
  cli_login rse-sh-a alice "${PASS_OF[alice]}" 1
  cli_login_dtls rse-sh-b bob
  both_up() { cli_wait_up rse-sh-a 20 && cli_wait_up rse-sh-b 25; }
  check "22 shared-tun: alice (TLS) and bob (DTLS) connected at the same time" both_up
  local a b
  a=$(cli_addr rse-sh-a); b=$(cli_addr rse-sh-b)
  distinct_ab() { [ -n "$a" ] && [ -n "$b" ] && [ "$a" != "$b" ] || { echo "      alice '$a', bob '$b'"; return 1; }; }
  check "22 shared-tun: distinct addresses ($a, $b)" distinct_ab
  check "22 shared-tun: alice pings $LAN_IP" ping_via rse-sh-a
  check "22 shared-tun: bob pings $LAN_IP" ping_via rse-sh-b
  # Downloads: bursts taken from a session's queue of the shared device, as TLS records with one
  # flush (alice) and as UDP GSO trains (bob). --only shared skips check 2, which starts iperf3.
  if [ -z "${IPERF_PID:-}" ]; then
    ip netns exec "$NS_LAN" iperf3 -s -B "$LAN_IP" -p 5201 > "$STATE/iperf3-s.log" 2>&1 {LOCK_FD}>&- &
    IPERF_PID=$!
    wait_for 5 eval "ip netns exec $NS_LAN ss -Hltn 'sport = :5201' | grep -q ."
  fi
  check "22 shared-tun: alice (TLS) downloads from the lan host, one frame per record" tcp_download rse-sh-a rse-sh-a
  check "22 shared-tun: bob (DTLS) downloads from the lan host over UDP" download_over_udp rse-sh-b

  # one device, named exactly as `device`, holding the pool's local address with the pool's prefix
  srv_links() { ip -n "$NS_SRV" -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep '^vpns' | tr '\n' ' '; }
  one_dev() { [ "$(srv_links)" = "$SHARED_DEV " ] || { echo "      vpns* devices in $NS_SRV: '$(srv_links)'"; return 1; }; }
  check "22 shared-tun: $NS_SRV has the single device $SHARED_DEV and no vpns0" one_dev
  dev_addr() {
    local got
    got=$(ip -n "$NS_SRV" -4 -o addr show dev "$SHARED_DEV" | awk '{print $4}' | tr '\n' ' ')
    [ "$got" = "10.243.0.1/24 " ] || { echo "      $SHARED_DEV addresses: '$got'"; return 1; }
  }
  check "22 shared-tun: $SHARED_DEV has 10.243.0.1/24 (the pool routed to it)" dev_addr
  sh_senv() { sed -n "s/^$2=//p" "$senv/$1.connect.env" 2>/dev/null | head -n 1; }
  dev_in_script() {
    local u v
    for u in alice bob; do
      v=$(sh_senv $u DEVICE)
      [ "$v" = "$SHARED_DEV" ] || { echo "      $u: DEVICE='$v'"; return 1; }
    done
  }
  check "22 shared-tun: the connect script saw DEVICE=$SHARED_DEV (alice and bob)" dev_in_script
  script_addrs() {
    [ "$(sh_senv alice IP_REMOTE)" = "$a" ] && [ "$(sh_senv bob IP_REMOTE)" = "$b" ] &&
      [ "$(sh_senv alice IP_LOCAL)" = 10.243.0.1 ] ||
      { echo "      alice IP_REMOTE='$(sh_senv alice IP_REMOTE)' IP_LOCAL='$(sh_senv alice IP_LOCAL)', bob IP_REMOTE='$(sh_senv bob IP_REMOTE)'"; return 1; }
  }
  check "22 shared-tun: script IP_REMOTE/IP_LOCAL as with per-client devices" script_addrs

  # Anti-spoofing: alice sends with bob's address as source. Were it forwarded,
  # the lan host's reply to bob's address would come back through bob's
  # tunnel into this namespace and ping would see it; and the lan host would
  # count the echo request. A policy rule sends only that source via alice.
  local echos0 echos1 echos2
  echos0=$(lan_counter InEchos)
  ip netns exec "$NS_CLI" ping -n -q -c 3 -i 0.2 -W 2 -I rse-sh-a "$LAN_IP" >/dev/null 2>&1
  echos1=$(lan_counter InEchos)
  counts_echos() { [ $((echos1 - echos0)) -ge 3 ] 2>/dev/null || { echo "      InEchos $echos0 -> $echos1"; return 1; }; }
  check "22 shared-tun: the lan host counts alice's genuine echo requests (control)" counts_echos
  ip -n "$NS_CLI" addr add "$b/32" dev rse-sh-a
  ip -n "$NS_CLI" route add "$LAN_IP/32" dev rse-sh-a table 122
  ip -n "$NS_CLI" rule add pref 122 from "$b" lookup 122
  no_spoof_reply() {
    ! ip netns exec "$NS_CLI" ping -n -q -c 3 -i 0.2 -W 2 -I "$b" "$LAN_IP" >/dev/null 2>&1 ||
      { echo "      a reply came back to the spoofed source $b"; return 1; }
  }
  check "22 shared-tun: a packet from alice with bob's address ($b) as source gets no reply" no_spoof_reply
  echos2=$(lan_counter InEchos)
  not_forwarded() { [ "$echos2" = "$echos1" ] || { echo "      InEchos $echos1 -> $echos2"; return 1; }; }
  check "22 shared-tun: the spoofed echo requests never reached the lan host" not_forwarded
  ip -n "$NS_CLI" rule del pref 122 2>/dev/null
  ip -n "$NS_CLI" route flush table 122 2>/dev/null
  ip -n "$NS_CLI" addr del "$b/32" dev rse-sh-a 2>/dev/null
  check "22 shared-tun: alice and bob still pass traffic afterwards" eval "ping_via rse-sh-a && ping_via rse-sh-b"

  # a tunnel ending leaves the device (and the other session) alone
  cli_stop rse-sh-a INT
  check "22 shared-tun: after alice left, bob still pings and $SHARED_DEV stays" eval "ping_via rse-sh-b && one_dev"
  cli_stop rse-sh-b INT
  auth_server_stop
  no_dev_left() { ! ip -n "$NS_SRV" -o link show | grep -q ': vpns'; }
  check "22 shared-tun: the device is gone once the server stopped" wait_for 5 no_dev_left
}
