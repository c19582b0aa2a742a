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
  grep -q '^ipv4-netmask = 255.255.0.0$' "$STATE/server-lg.conf" || return 1
  # The big run on rocserv uses its opt-in shared TUN device (one descriptor per session
  # instead of two: 10,000 sessions fit the sandbox's 20,000-descriptor limit).
  { cat "$STATE/server-lg.conf"; echo "shared-tun = true"; } > "$STATE/server-lg-shared.conf"
}

# any_alive PID...: true while at least one of the processes runs
any_alive() {
  local p
  for p in "$@"; do alive "$p" && return 0; done
  return 1
}

# lg_json FILE JQ_EXPR: one value of the load generator's JSON summary ("nan" when absent)
lg_json() { jq -r "($2) // \"nan\"" "$1" 2>/dev/null | head -1; }

# lg_merge OUT IN...: one summary from the JSON summaries of several load-generator processes:
# counts are summed, failure and loss maps merged; times and percentiles are the WORST of the
# processes (a process's p50 is not the p50 of the union: the merged value is an upper bound).
lg_merge() {
  local out=$1; shift
  jq -s '
    def mapsum(f): map(f // {}) | reduce .[] as $m ({}; reduce ($m | to_entries[]) as $e (.; .[$e.key] += $e.value));
    {sessions: (map(.sessions) | add), processes: length, established: (map(.established) | add),
     failures: mapsum(.failures), establish_all_s: (map(.establish_all_s) | max),
     setup_ms: {p50: (map(.setup_ms.p50) | max), p99: (map(.setup_ms.p99) | max)},
     dtls_established: (map(.dtls_established) | add), dpd_sent: (map(.dpd_sent) | add),
     dpd_replies: (map(.dpd_replies) | add), final_dpd_cstp_ok: (map(.final_dpd_cstp_ok) | add),
     final_dpd_dtls_ok: (map(.final_dpd_dtls_ok) | add),
     final_probe_ms: {p50: (map(.final_probe_ms.p50) | max), max: (map(.final_probe_ms.max) | max)},
     lost: mapsum(.lost), dtls_lost: mapsum(.dtls_lost), pings_sent: (map(.pings_sent) | add),
     pings_received: (map(.pings_received) | add), client_cpu_s: (map(.client_cpu_s) | add)}' \
    "$@" > "$out"
}

# lg_run SRV N HOLD PPS: one load-generator run against the running server; records
# everything under section sessions-lg, variant N=<N>. Above LG_PER_PROC sessions the load
# is split over several load-generator processes (each needs two descriptors per session, and
# this sandbox's open-file limit is 20,000 per process); their summaries are merged (lg_merge).
lg_run() {
  local srv=$1 n=$2 hold=$3 pps=$4 v="N=$2" json log pids m0 m1 tk0 tk1 rc i limit est
  local procs per p done_n lgpids=() parts=() args=()
  json=$OUT/loadgen-$srv-$n.json; log=$OUT/loadgen-$srv-$n.log
  procs=$(( (n + LG_PER_PROC - 1) / LG_PER_PROC )); per=$(( (n + procs - 1) / procs ))
  pids=$(srv_pids); m0=$(mem_kb $pids); tk0=$(cpu_ns $pids)
  limit=$((hold + 120 + n / 10))
  log "  $srv: rocserv-loadgen $n sessions in $procs process(es) (concurrency $LG_CONC each, hold ${hold}s, ${pps} ping/s each)"
  : > "$log"
  for ((p = 0; p < procs; p++)); do
    local cnt=$per; (( p == procs - 1 )) && cnt=$(( n - per * (procs - 1) ))
    args=(--url "$URL" --cafile "$STATE/certs/ca-cert.pem" --user "$VPN_USER" --password "$VPN_PASS"
          --sessions "$cnt" --concurrency "$LG_CONC" --hold "$hold" --force-dpd "$LG_DPD"
          --timeout "$limit" --json)
    [ "$pps" -gt 0 ] && args+=(--traffic-pps "$pps" --target "$LAN_IP")
    parts+=("$json.$p")
    # ip netns exec and bash exec: $! is the load generator itself
    # shellcheck disable=SC2016  # expanded by the inner bash
    ip netns exec "$NS_CLI" bash -c 'ulimit -n "$1" 2>/dev/null; shift; exec "$@"' lg "$LG_NOFILE" \
      "$LOADGEN" "${args[@]}" > "$json.$p" 2> "$log.$p" &
    lgpids+=($!)
  done
  for ((i = 0; i < limit * 10; i++)); do   # until every session reported its setup
    done_n=0
    for ((p = 0; p < procs; p++)); do
      grep -q 'setup phase done' "$log.$p" 2>/dev/null && done_n=$((done_n + 1))
    done
    [ "$done_n" = "$procs" ] && break
    any_alive "${lgpids[@]}" || break
    nap 0.1
  done
  tk1=$(cpu_ns $(srv_pids))
  sleep 2
  pids=$(srv_pids); m1=$(mem_kb $pids)
  for ((i = 0; i < (limit + 30) * 10; i++)); do any_alive "${lgpids[@]}" || break; nap 0.1; done
  if any_alive "${lgpids[@]}"; then
    log "  loadgen still running after $((limit + 30)) s: stopping it"
    for p in "${lgpids[@]}"; do kill_wait "$p" 10 TERM; done
  fi
  rc=0
  for p in "${lgpids[@]}"; do wait "$p" || rc=$?; done
  for ((p = 0; p < procs; p++)); do cat "$log.$p" >> "$log"; rm -f "$log.$p"; done
  if [ "$procs" = 1 ]; then mv "$json.0" "$json"; else lg_merge "$json" "${parts[@]}" && rm -f "${parts[@]}"; fi
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
  fi
  rec "$srv" sessions-lg final_probe_p50_ms "$v" 1 "$(lg_json "$json" .final_probe_ms.p50)" ms
  rec "$srv" sessions-lg final_probe_max_ms "$v" 1 "$(lg_json "$json" .final_probe_ms.max)" ms
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
  if [ "$LG_BIG" -gt 0 ] && [ "${ROUND:-1}" = 1 ] && { [ "$srv" = rocserv ] || [ "$LG_BIG_OCSERV" = 1 ]; }; then
    lg_stop_server "$srv" "$LG_SESSIONS"
    local conf=$SERVER_CONF
    [ "$srv" = rocserv ] && [ "$LG_BIG_SHARED" = 1 ] && SERVER_CONF=$STATE/server-lg-shared.conf
    if server_start "$srv"; then
      [ "$SERVER_CONF" = "$conf" ] || log "  $srv: big run with shared-tun = true"
      lg_run "$srv" "$LG_BIG" "$LG_BIG_HOLD" 0
      lg_stop_server "$srv" "$LG_BIG"
    else
      fail "$srv did not restart for the $LG_BIG-session run"
    fi
    SERVER_CONF=$conf
  else
    lg_stop_server "$srv" "$LG_SESSIONS"
  fi
  ip -n "$NS_LAN" route del "$LG_POOL_NET" via "$SRV_LAN_IP" dev "$IF_LS" 2>/dev/null
  return 0
}
