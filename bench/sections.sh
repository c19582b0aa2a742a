# shellcheck shell=bash
# bench/sections.sh - the measurements of bench/run.sh (sourced by it; uses its globals:
# OUT RES CLI_DIR REPS DUR PINGS SETUP_REPS SESSIONS IDLE_S and rec/fail/log).
# shellcheck disable=SC2046,SC2086  # PID lists are word-split on purpose
# shellcheck disable=SC2034  # DIRECT_ROUTE is read by run.sh's cleanup

write_env() {
  echo "date: $(date -Is)"
  echo "host: $(uname -srm)"
  echo "cpu: $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo) x $(nproc)"
  echo "mem: $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "os: $(. /etc/os-release; echo "$PRETTY_NAME")"
  echo "rocserv: $ROCSERV ($("$ROCSERV" --version 2>/dev/null | head -1 || echo '?'); built $(date -u -r "$ROCSERV" +%FT%TZ 2>/dev/null); sha256 $(sha256sum "$ROCSERV" 2>/dev/null | cut -c1-16); repo HEAD $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?'))"
  echo "ocserv: $OCSERV ($(dpkg-query -W -f='${Version}' ocserv 2>/dev/null))"
  echo "openconnect: $(dpkg-query -W -f='${Version}' openconnect 2>/dev/null); iperf3: $(dpkg-query -W -f='${Version}' iperf3 2>/dev/null)"
  echo "settings: servers=${SERVERS[*]} sections=$SECTIONS reps=$REPS rounds=$ROUNDS duration=${DUR}s(+1s omitted) pings=$PINGS/$PINGS_BUSY setup_reps=$SETUP_REPS sessions=$SESSIONS quiet_wait=${QUIET_WAIT}s max_load=${MAX_LOAD}%"
  has sessions-lg && echo "loadgen: $LOADGEN (sha256 $(sha256sum "$LOADGEN" 2>/dev/null | cut -c1-16)); lg_sessions=$LG_SESSIONS lg_big=$LG_BIG (ocserv too: $LG_BIG_OCSERV) concurrency=$LG_CONC hold=${LG_HOLD}s big_hold=${LG_BIG_HOLD}s dpd=${LG_DPD}s nofile=$(ulimit -n) pool=$LG_POOL_NET"
  echo "lab: $NS_CLI $CLI_IP -> $NS_SRV $SRV_IP:$PORT | $SRV_LAN_IP -> $NS_LAN $LAN_IP | pool $POOL_NET"
}

# tunnel_ok IFNAME: openconnect alive and the LAN route uses IFNAME
tunnel_ok() {
  local pid
  pid=$(oc_pid "$1") || return 1
  alive "$pid" || return 1
  ip -n "$NS_CLI" route get "$LAN_IP" 2>/dev/null | grep -q "dev $1 "
}

# connect_mode SRV SECTION MODE IFNAME: brings up one tunnel for a section; records the
# DTLS verdict. Returns 0 = up (and, for dtls, really on DTLS), 2 = no DTLS (n/a, client
# already stopped), 1 = failure.
connect_mode() {
  local srv=$1 sec=$2 mode=$3 ifn=$4 out d=1
  [ "$mode" = tls ] && d=0
  if ! out=$(oc_connect "$ifn" "$d"); then
    rec "$srv" "$sec" connect_fail "$mode" 1 1 ""; fail "$srv: $mode connect for $sec"; return 1
  fi
  if [ "$mode" = dtls ]; then
    rec "$srv" "$sec" dtls_established dtls 1 "${out#* }" ""
    if [ "${out#* }" != 1 ]; then
      log "  $srv: no 'Established DTLS connection' from openconnect: DTLS rows are n/a"
      cp "$CLI_DIR/$ifn.log" "$OUT/client-$srv-$sec-nodtls.log"
      oc_stop "$ifn"; return 2
    fi
  fi
  return 0
}

# ping_sample SRV SECTION VARIANT REP COUNT INTERVAL_S: COUNT pings INTERVAL_S apart; median and
# minimum RTT, loss, and (through a tunnel) the server's CPU per ping (both directions)
ping_sample() {
  local srv=$1 sec=$2 var=$3 rep=$4 count=$5 ival=$6 out med mn loss spids c0 c1
  spids=$(srv_pids); c0=$(cpu_ns $spids)
  out=$(ip netns exec "$NS_CLI" ping -n -c "$count" -i "$ival" -W 1 -w $((count / 10 + 10)) "$LAN_IP" 2>&1)
  c1=$(cpu_ns $spids)
  med=$(sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' <<<"$out" | median)
  mn=$(sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' <<<"$out" | sort -g | head -1)
  loss=$(sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p' <<<"$out")
  if [ "$med" = nan ]; then fail "$srv: ping $var #$rep got no reply"; return 1; fi
  rec "$srv" "$sec" rtt_median_ms "$var" "$rep" "$med" ms
  rec "$srv" "$sec" rtt_min_ms "$var" "$rep" "${mn:-nan}" ms
  rec "$srv" "$sec" ping_loss_pct "$var" "$rep" "${loss:-100}" "%"
  local cpu=""
  if [[ $var != direct* ]]; then
    cpu=$(awk -v a="$c0" -v b="$c1" -v n="$count" 'BEGIN{printf "%.1f", (b-a)/1000/n}')
    rec "$srv" "$sec" cpu_server_us_per_ping "$var" "$rep" "$cpu" "us"
    cpu=", server CPU ${cpu} us per ping"
  fi
  log "  $srv ping $var #$rep: median $med ms, min ${mn:-?} ms, loss ${loss:-?}%$cpu"
}

# ping_pair SRV VARIANT REP: the sparse sample (PINGS, 20 ms apart: every ping wakes an idle
# machine) and the busy one (PINGS_BUSY, 2 ms apart: caches and CPUs stay warm), variant
# VARIANT and VARIANT/2ms
ping_pair() {
  ping_sample "$1" ping "$2" "$3" "$PINGS" 0.02
  ping_sample "$1" ping "$2/2ms" "$3" "$PINGS_BUSY" 0.002
}

# sec_ping SRV: the same path routed without VPN (baseline, measured right before), then
# through a DTLS and a TLS-only tunnel
sec_ping() {
  local srv=$1 rep mode rc
  if ip -n "$NS_CLI" route add "$LAN_NET" via "$SRV_IP" dev "$IF_CS"; then
    DIRECT_ROUTE=1
    for ((rep = 1; rep <= REPS; rep++)); do ping_pair "$srv" direct "$rep"; done
    ip -n "$NS_CLI" route del "$LAN_NET" via "$SRV_IP" dev "$IF_CS"; DIRECT_ROUTE=0
  else
    fail "could not add the direct route"
  fi
  for mode in dtls tls; do
    connect_mode "$srv" ping "$mode" rsbp0; rc=$?
    [ $rc = 0 ] || continue
    tunnel_ok rsbp0 || log "  WARNING: the route to $LAN_IP does not use rsbp0"
    for ((rep = 1; rep <= REPS; rep++)); do ping_pair "$srv" "$mode" "$rep"; done
    oc_stop rsbp0
  done
}

# iperf_sample SRV VARIANT REP DIR(up|down) STREAMS CLIENT_PID
iperf_sample() {
  local srv=$1 var=$2 rep=$3 dir=$4 par=$5 cpid=$6 json rflag=() spids s0 s1 c0 c1 st0 st1 t0 w
  local mbps retr vs vc sys gb
  json=$OUT/iperf-$srv-${var//\//_}-$rep.json
  [ "$dir" = down ] && rflag=(-R)
  spids=$(srv_pids)
  s0=$(cpu_ns $spids); c0=$(cpu_ns "$cpid"); st0=$(stat_cpu); t0=$(now)
  timeout $((DUR + 40)) ip netns exec "$NS_CLI" iperf3 -c "$LAN_IP" -p "$IPERF_PORT" \
    -t "$DUR" -O 1 -P "$par" "${rflag[@]}" -J --connect-timeout 5000 > "$json" 2>&1
  w=$(sub "$(now)" "$t0"); st1=$(stat_cpu); s1=$(cpu_ns $spids); c1=$(cpu_ns "$cpid")
  mbps=$(jq -r '(.end.sum_received.bits_per_second // empty) / 1e6 | . * 10 | round / 10' "$json" 2>/dev/null)
  if [ -z "$mbps" ] || [ "$mbps" = 0 ]; then
    rec "$srv" tput iperf_fail "$var" "$rep" 1 ""
    fail "$srv iperf3 $var #$rep: $(jq -r '.error // empty' "$json" 2>/dev/null | head -c 200)"
    return 1
  fi
  retr=$(jq -r '.end.sum_sent.retransmits // 0' "$json")
  vs=$(cpu_pct "$s0" "$s1" "$w"); vc=$(cpu_pct "$c0" "$c1" "$w")
  sys=$(busy_pct "$st0" "$st1")
  # CPU-seconds of the server per GB (1e9 bytes) through the tunnel
  gb=$(awk -v c="$vs" -v m="$mbps" 'BEGIN{printf "%.2f", (c/100)*8000/m}')
  rec "$srv" tput mbps "$var" "$rep" "$mbps" Mbit/s
  rec "$srv" tput tcp_retrans "$var" "$rep" "$retr" ""
  rec "$srv" tput cpu_server_pct "$var" "$rep" "$vs" "%core"
  rec "$srv" tput cpu_s_per_gb "$var" "$rep" "$gb" "CPU-s/GB"
  rec "$srv" tput cpu_openconnect_pct "$var" "$rep" "$vc" "%core"
  rec "$srv" tput machine_busy_pct "$var" "$rep" "${sys% *}" "%all"
  log "  $srv iperf3 $var #$rep: $mbps Mbit/s (retr $retr) server ${vs}% (${gb} CPU-s/GB) openconnect ${vc}% machine ${sys% *}%"
}

sec_tput() {
  local srv=$1 mode dir par rep pid rc n
  for mode in dtls tls; do
    connect_mode "$srv" tput "$mode" rsbt0; rc=$?
    [ $rc = 0 ] || continue
    pid=$(oc_pid rsbt0)
    rec "$srv" tput tun_mtu "$mode" 1 "$(ip -n "$NS_CLI" -o link show rsbt0 | sed -n 's/.* mtu \([0-9]*\).*/\1/p')" ""
    for dir in up down; do
      for par in 1 4; do
        for ((rep = 1; rep <= REPS; rep++)); do
          if ! tunnel_ok rsbt0; then
            rec "$srv" tput tunnel_lost "$mode/$dir/P$par" "$rep" 1 ""; fail "$srv: tunnel gone before $mode/$dir/P$par #$rep"; continue
          fi
          iperf_sample "$srv" "$mode/$dir/P$par" "$rep" "$dir" "$par" "$pid"
        done
      done
    done
    # DTLS must have carried the traffic: openconnect logs a fall-back to SSL/TLS otherwise
    if [ "$mode" = dtls ]; then
      n=$(grep -c -i -E 'DTLS.*(fail|error|timeout|dead)|Falling back|Reconnect' "$CLI_DIR/rsbt0.log")
      rec "$srv" tput dtls_trouble_lines dtls 1 "$n" ""
      [ "$n" = 0 ] || log "  WARNING: $srv: $n DTLS trouble lines in the openconnect log (client-$srv-tput-dtls.log)"
    fi
    cp "$CLI_DIR/rsbt0.log" "$OUT/client-$srv-tput-$mode.log"
    oc_stop rsbt0
    sleep 1
  done
}

sec_setup() {
  local srv=$1 mode var i out d okc tk0 tk1 t0 pids
  for mode in dtls tls; do
    d=1; [ "$mode" = tls ] && d=0
    var=$mode; okc=0; pids=$(srv_pids); tk0=$(cpu_ns $pids)
    for ((i = 1; i <= SETUP_REPS; i++)); do
      if ! out=$(oc_connect rsbs0 "$d"); then
        rec "$srv" setup connect_fail "$var" "$i" 1 ""; fail "$srv: setup $var #$i"; continue
      fi
      # no DTLS from this server: the DTLS row is n/a; what a default openconnect (which
      # requests DTLS) costs against it is still measured, under its own name
      if [ "$var" = dtls ] && [ "${out#* }" != 1 ]; then
        rec "$srv" setup dtls_established dtls 1 0 ""; var=dtls-requested-not-offered
        log "  $srv: no DTLS: setup/dtls is n/a; measuring a DTLS-requesting client as $var"
      fi
      rec "$srv" setup setup_ms "$var" "$i" "$(awk -v s="${out% *}" 'BEGIN{printf "%.1f", s*1000}')" ms
      # openconnect 9.01 quirk: a DTLS handshake that completes before its main loop starts
      # leaves it asleep for up to 1 s before it configures the tunnel (docs/benchmarks.md)
      if [ "$var" = dtls ]; then
        if awk -v s="${out% *}" 'BEGIN{exit !(s >= 0.9)}'; then rec "$srv" setup dtls_1s_stall dtls "$i" 1 ""
        else rec "$srv" setup dtls_1s_stall dtls "$i" 0 ""; fi
      fi
      okc=$((okc + 1))
      t0=$(now)
      oc_stop rsbs0
      rec "$srv" setup teardown_ms "$var" "$i" "$(awk -v a="$(now)" -v b="$t0" 'BEGIN{printf "%.1f", (a-b)*1000}')" ms
      sleep 0.3
    done
    # server CPU per connect+disconnect (ocserv main's cutime covers its exited workers)
    sleep 0.5; tk1=$(cpu_ns $pids)
    [ $okc -gt 0 ] && rec "$srv" setup server_cpu_ms_per_conn "$var" 1 \
      "$(awk -v a="$tk0" -v b="$tk1" -v n="$okc" 'BEGIN{printf "%.1f", (b-a)/1e6/n}')" ms
    log "  $srv setup $var (ms): $(awk -F'\t' -v s="$srv" -v m="$var" '$1==s&&$3=="setup_ms"&&$4==m{printf "%s ",$6}' "$RES")"
  done
}

# sec_sessions SRV: SESSIONS openconnect clients started at once (DTLS requested, no
# routes), all-up time, server memory per session, idle CPU, a data-path check
sec_sessions() {
  local srv=$1 n=$SESSIONS v i f up deadline m0 m1 tk0 tk1 t0 tall=0 s ok pids cpids
  v="N=$n"
  declare -A launch=()
  rm -f "$CLI_DIR"/rsbn*.up
  pids=$(srv_pids); m0=$(mem_kb $pids); tk0=$(cpu_ns $pids)
  t0=$(now)
  for ((i = 1; i <= n; i++)); do launch[$i]=$(now); oc_launch "rsbn$i" 1 1; done
  deadline=$((SECONDS + 30 + n)); up=0
  shopt -s nullglob
  while [ $SECONDS -lt $deadline ]; do
    f=("$CLI_DIR"/rsbn*.up); up=${#f[@]}
    [ "$up" -ge "$n" ] && break
    nap 0.05
  done
  shopt -u nullglob
  : > "$OUT/sessions-$srv-setup-ms.txt"
  for ((i = 1; i <= n; i++)); do
    [ -s "$CLI_DIR/rsbn$i.up" ] || continue
    s=$(cat "$CLI_DIR/rsbn$i.up")
    awk -v s="$s" -v l="${launch[$i]}" 'BEGIN{printf "%.1f\n",(s-l)*1000}' >> "$OUT/sessions-$srv-setup-ms.txt"
    tall=$(awk -v s="$s" -v t="$t0" -v m="$tall" 'BEGIN{d=s-t; print (d>m)?d:m}')
  done
  tk1=$(cpu_ns $(srv_pids))
  rec "$srv" sessions clients_up "$v" 1 "$up" ""
  [ "$up" = "$n" ] || fail "$srv: only $up of $n sessions came up"
  rec "$srv" sessions all_up_s "$v" 1 "$(printf '%.3f' "$tall")" s
  rec "$srv" sessions setup_median_ms "$v" 1 "$(median < "$OUT/sessions-$srv-setup-ms.txt")" ms
  rec "$srv" sessions server_cpu_ms_per_session "$v" 1 "$(awk -v a="$tk0" -v b="$tk1" -v n="$n" 'BEGIN{printf "%.1f", (b-a)/1e6/n}')" ms
  for ((i = 0; i < 50; i++)); do   # DTLS verdicts, bounded
    ok=$(grep -l 'Established DTLS connection' "$CLI_DIR"/rsbn*.log 2>/dev/null | wc -l)
    [ "$ok" -ge "$up" ] && break
    grep -q 'and DTLS disabled' "$CLI_DIR/rsbn1.log" 2>/dev/null && break
    nap 0.1
  done
  rec "$srv" sessions dtls_up "$v" 1 "$ok" ""
  sleep 2
  pids=$(srv_pids); m1=$(mem_kb $pids)
  rec "$srv" sessions server_procs "$v" 1 "$(wc -w <<<"$pids")" ""
  rec "$srv" sessions server_pss_kb "$v" 1 "${m1#* }" KiB
  rec "$srv" sessions pss_kb_per_session "$v" 1 "$(awk -v a="${m0#* }" -v b="${m1#* }" -v n="$n" 'BEGIN{printf "%.0f", (b-a)/n}')" KiB
  tk0=$(cpu_ns $pids); sleep "$IDLE_S"; tk1=$(cpu_ns $pids)
  rec "$srv" sessions idle_cpu_pct "$v" 1 "$(cpu_pct "$tk0" "$tk1" "$IDLE_S")" "%core"
  ok=0
  for ((i = 1; i <= n && i <= 5; i++)); do
    ip netns exec "$NS_CLI" ping -n -c 1 -W 2 -I "rsbn$i" "$LAN_IP" >/dev/null 2>&1 && ok=$((ok + 1))
  done
  rec "$srv" sessions ping_ok "$v" 1 "$ok" "of $((n < 5 ? n : 5))"
  [ "$ok" = $((n < 5 ? n : 5)) ] || fail "$srv: only $ok sampled sessions passed a ping"
  log "  $srv sessions $v: up $up (DTLS $(awk -F'\t' -v s="$srv" '$1==s&&$3=="dtls_up"{print $6}' "$RES")), all up in $(printf '%.2f' "$tall") s, PSS ${m1#* } KiB"
  cpids=$(for ((i = 1; i <= n; i++)); do oc_pid "rsbn$i"; echo; done | tr '\n' ' ')
  t0=$(now)
  for s in $cpids; do kill -INT "$s" 2>/dev/null; done
  for ((i = 0; i < 300; i++)); do
    ok=0
    for s in $cpids; do alive "$s" && ok=$((ok + 1)); done
    [ $ok = 0 ] && break
    nap 0.1
  done
  rec "$srv" sessions teardown_s "$v" 1 "$(sub "$(now)" "$t0")" s
  for ((i = 1; i <= n; i++)); do oc_stop "rsbn$i"; done   # stragglers (KILL after 10 s)
  unset launch
}
