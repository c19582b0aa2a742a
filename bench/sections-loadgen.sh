# shellcheck shell=bash
# bench/sections-loadgen.sh - section "sessions-lg" of bench/run.sh (sourced by it; uses its
# globals OUT STATE LOADGEN LG_* and rec/fail/log/server_start/server_stop).
#
# rocserv-loadgen (crates/rocserv-loadgen) in rsb-cli opens LG_SESSIONS sessions from ONE
# process (TLS, XML auth, CONNECT, DTLS PSK; no TUN on the client), LG_CONC at a time, holds
# them LG_HOLD s with 1 ping/s per session to the LAN host and a client DPD every LG_DPD s,
# then probes every channel with a DPD request and logs out. Then, on a restarted server, the
# same with LG_BIG sessions (rocserv always; ocserv only with --lg-big-ocserv) and no pings.
# The servers run on $STATE/server-lg.conf: server.conf with a /16 pool (10.253.0.0/16,
# 65534 addresses) and max-clients = 0 (no limit), so both servers can hold the count.
# File descriptors: run.sh raises `ulimit -n` before it starts the servers (ocserv's main
# process keeps sockets per worker; rocserv one TCP socket and one TUN fd per session), and
# the load generator raises its own soft limit to the hard one (one TCP and one UDP socket
# per session; see --help of rocserv-loadgen).
# shellcheck disable=SC2046,SC2086  # PID lists are word-split on purpose

LG_POOL_NET=10.253.0.0/16

# render_lg_conf: the section's server configuration (run.sh calls it once)
render_lg_conf() {
  sed -e 's/^ipv4-netmask = .*/ipv4-netmask = 255.255.0.0/' \
      -e 's/^max-clients = .*/max-clients = 0/' "$STATE/server.conf" > "$STATE/server-lg.conf"
  grep -q '^ipv4-netmask = 255.255.0.0$' "$STATE/server-lg.conf"
}

# lg_json FILE JQ_EXPR: one value of the load generator's JSON summary ("nan" when absent)
lg_json() { jq -r "($2) // \"nan\"" "$1" 2>/dev/null | head -1; }

# lg_run SRV N HOLD PPS: one load-generator run against the running server; records
# everything under section sessions-lg, variant N=<N>
lg_run() {
  local srv=$1 n=$2 hold=$3 pps=$4 v="N=$2" json log pids m0 m1 tk0 tk1 lgpid rc i limit est
  local args=()
  json=$OUT/loadgen-$srv-$n.json; log=$OUT/loadgen-$srv-$n.log
  pids=$(srv_pids); m0=$(mem_kb $pids); tk0=$(cpu_ns $pids)
  limit=$((hold + 120 + n / 10))
  args=(--url "$URL" --cafile "$STATE/certs/ca-cert.pem" --user "$VPN_USER" --password "$VPN_PASS"
        --sessions "$n" --concurrency "$LG_CONC" --hold "$hold" --force-dpd "$LG_DPD"
        --timeout "$limit" --json)
  [ "$pps" -gt 0 ] && args+=(--traffic-pps "$pps" --target "$LAN_IP")
  log "  $srv: rocserv-loadgen $n sessions (concurrency $LG_CONC, hold ${hold}s, ${pps} ping/s each)"
  # ip netns exec and bash exec: $! is the load generator itself
  # shellcheck disable=SC2016  # expanded by the inner bash
  ip netns exec "$NS_CLI" bash -c 'ulimit -n "$1" 2>/dev/null; shift; exec "$@"' lg "$LG_NOFILE" \
    "$LOADGEN" "${args[@]}" > "$json" 2> "$log" &
  lgpid=$!
  for ((i = 0; i < limit * 10; i++)); do   # until every session reported its setup
    grep -q 'setup phase done' "$log" 2>/dev/null && break
    alive "$lgpid" || break
    nap 0.1
  done
  tk1=$(cpu_ns $(srv_pids))
  sleep 2
  pids=$(srv_pids); m1=$(mem_kb $pids)
  for ((i = 0; i < (limit + 30) * 10; i++)); do alive "$lgpid" || break; nap 0.1; done
  alive "$lgpid" && { log "  loadgen still running after $((limit + 30)) s: stopping it"; kill_wait "$lgpid" 10 TERM; }
  wait "$lgpid"; rc=$?
  est=$(lg_json "$json" .established)
  if [ "$est" = nan ]; then
    fail "$srv: rocserv-loadgen $n produced no summary (exit $rc): $(tail -n 3 "$log" | tr '\n' ' ')"
    rec "$srv" sessions-lg lg_fail "$v" 1 1 ""
    return 1
  fi
  rec "$srv" sessions-lg established "$v" 1 "$est" ""
  rec "$srv" sessions-lg failed "$v" 1 "$((n - est))" ""
  rec "$srv" sessions-lg all_up_s "$v" 1 "$(lg_json "$json" .establish_all_s)" s
  rec "$srv" sessions-lg setup_p50_ms "$v" 1 "$(lg_json "$json" .setup_ms.p50)" ms
  rec "$srv" sessions-lg setup_p99_ms "$v" 1 "$(lg_json "$json" .setup_ms.p99)" ms
  rec "$srv" sessions-lg dtls_up "$v" 1 "$(lg_json "$json" .dtls_established)" ""
  rec "$srv" sessions-lg server_cpu_ms_per_session "$v" 1 \
    "$(awk -v a="$tk0" -v b="$tk1" -v n="$est" 'BEGIN{printf "%.2f", (n>0)?(b-a)/1e6/n:0}')" ms
  rec "$srv" sessions-lg server_procs "$v" 1 "$(wc -w <<<"$pids")" ""
  rec "$srv" sessions-lg server_pss_kb "$v" 1 "${m1#* }" KiB
  rec "$srv" sessions-lg pss_kb_per_session "$v" 1 \
    "$(awk -v a="${m0#* }" -v b="${m1#* }" -v n="$est" 'BEGIN{printf "%.0f", (n>0)?(b-a)/n:0}')" KiB
  rec "$srv" sessions-lg dpd_sent "$v" 1 "$(lg_json "$json" .dpd_sent)" ""
  rec "$srv" sessions-lg dpd_replies "$v" 1 "$(lg_json "$json" .dpd_replies)" ""
  rec "$srv" sessions-lg final_dpd_cstp_ok "$v" 1 "$(lg_json "$json" .final_dpd_cstp_ok)" ""
  rec "$srv" sessions-lg final_dpd_dtls_ok "$v" 1 "$(lg_json "$json" .final_dpd_dtls_ok)" ""
  rec "$srv" sessions-lg lost_in_hold "$v" 1 "$(jq -r '[.lost[]] | add // 0' "$json" 2>/dev/null)" ""
  rec "$srv" sessions-lg dtls_lost_in_hold "$v" 1 "$(jq -r '[(.dtls_lost // {})[]] | add // 0' "$json" 2>/dev/null)" ""
  if [ "$pps" -gt 0 ]; then
    rec "$srv" sessions-lg ping_sent "$v" 1 "$(lg_json "$json" .pings_sent)" ""
    rec "$srv" sessions-lg ping_replies "$v" 1 "$(lg_json "$json" .pings_received)" ""
    rec "$srv" sessions-lg ping_reply_pct "$v" 1 \
      "$(jq -r 'if .pings_sent > 0 then (1000 * .pings_received / .pings_sent | round / 10) else "nan" end' "$json" 2>/dev/null)" "%"
    rec "$srv" sessions-lg final_probe_p50_ms "$v" 1 "$(lg_json "$json" .final_probe_ms.p50)" ms
    rec "$srv" sessions-lg final_probe_max_ms "$v" 1 "$(lg_json "$json" .final_probe_ms.max)" ms
  fi
  rec "$srv" sessions-lg loadgen_cpu_s "$v" 1 "$(lg_json "$json" .client_cpu_s)" s
  [ "$est" = "$n" ] || fail "$srv: only $est of $n load-generator sessions came up: $(jq -c .failures "$json")"
  log "  $srv loadgen $v: $est up in $(lg_json "$json" .establish_all_s) s (p50 $(lg_json "$json" .setup_ms.p50) ms), DTLS $(lg_json "$json" .dtls_established), PSS ${m1#* } KiB, final DPD cstp $(lg_json "$json" .final_dpd_cstp_ok) dtls $(lg_json "$json" .final_dpd_dtls_ok), failures $(jq -c .failures "$json")"
}

# lg_stop_server SRV N: stops the server and waits (bounded by LG_SETTLE s) until it has really
# let go of its sessions: its listening socket is closed and no vpns* device is left. A
# multi-threaded server whose main thread has exited shows as a zombie (which alive() counts as
# gone) while its other threads still close thousands of TLS connections and TUN devices; the
# next server could not bind the port meanwhile. Records the time as release_s.
lg_stop_server() {
  local srv=$1 n=$2 t0 i left
  t0=$(now)
  server_stop
  for ((i = 0; i < LG_SETTLE * 10; i++)); do
    left=$(ip -n "$NS_SRV" -o link show 2>/dev/null | grep -c ': vpns')
    if [ "$left" = 0 ] && ! ip netns exec "$NS_SRV" ss -Hltn "sport = :$PORT" | grep -q .; then
      rec "$srv" sessions-lg release_s "N=$n" 1 "$(sub "$(now)" "$t0")" s
      log "  $srv released its $n-session run in $(sub "$(now)" "$t0") s"
      return 0
    fi
    nap 0.1
  done
  fail "$srv still holds port $PORT or $left vpns devices ${LG_SETTLE}s after it was stopped"
  return 1
}

# sec_sessions_lg SRV: the server is up on server-lg.conf (run.sh chose it for this section)
sec_sessions_lg() {
  local srv=$1
  ip -n "$NS_LAN" route replace "$LG_POOL_NET" via "$SRV_LAN_IP" dev "$IF_LS" ||
    fail "could not route $LG_POOL_NET in $NS_LAN (pings will fail)"
  lg_run "$srv" "$LG_SESSIONS" "$LG_HOLD" 1
  if [ "$LG_BIG" -gt 0 ] && { [ "$srv" = rocserv ] || [ "$LG_BIG_OCSERV" = 1 ]; }; then
    lg_stop_server "$srv" "$LG_SESSIONS"
    if server_start "$srv"; then
      lg_run "$srv" "$LG_BIG" "$LG_BIG_HOLD" 0
      lg_stop_server "$srv" "$LG_BIG"
    else
      fail "$srv did not restart for the $LG_BIG-session run"
    fi
  else
    lg_stop_server "$srv" "$LG_SESSIONS"
  fi
  ip -n "$NS_LAN" route del "$LG_POOL_NET" via "$SRV_LAN_IP" dev "$IF_LS" 2>/dev/null
  return 0
}
