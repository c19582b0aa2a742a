# shellcheck shell=bash
# bench/report.sh - turns results.tsv into summary.tsv and summary.md (sourced by run.sh;
# can also be run alone to rebuild the summary of an earlier run:
#   bench/report.sh RESULTS_DIR [MAX_LOAD_PCT]

# summarize RESULTS_TSV OUT_DIR MAX_LOAD_PCT
summarize() {
  local res=$1 out=$2 maxload=$3
  awk -F'\t' 'NR>1 && $6!="" && $6!="nan" {k=$1"\t"$2"\t"$3"\t"$4; if(!(k in n)){ord[++no]=k; u[k]=$7}
              n[k]++; v[k,n[k]]=$6}
    END{print "server\tsection\tmetric\tvariant\tn\tmedian\tmin\tmax\tunit"
      for(o=1;o<=no;o++){k=ord[o]; m=n[k]; for(i=1;i<=m;i++)a[i]=v[k,i]+0
        for(i=2;i<=m;i++){x=a[i];j=i-1;while(j>0&&a[j]>x){a[j+1]=a[j];j--}a[j+1]=x}
        med=(m%2)?a[(m+1)/2]:(a[m/2]+a[m/2+1])/2
        printf "%s\t%d\t%.6g\t%.6g\t%.6g\t%s\n",k,m,med,a[1],a[m],u[k]}}' "$res" > "$out/summary.tsv"
  {
    echo "# rocserv vs ocserv: benchmark summary"
    echo
    echo '```'; cat "$out/env.txt" 2>/dev/null; echo '```'
    echo
    summary_tables "$out/summary.tsv" "$maxload"
    echo
    echo "## All metrics (median [min-max] over n samples)"
    echo
    echo "| server | section | metric | variant | median | range | n | unit |"
    echo "|---|---|---|---|---|---|---|---|"
    awk -F'\t' 'NR>1{printf "| %s | %s | %s | %s | %s | %s - %s | %s | %s |\n",$1,$2,$3,$4,$6,$7,$8,$5,$9}' "$out/summary.tsv"
  } > "$out/summary.md"
}

# summary_tables SUMMARY_TSV MAX_LOAD: the headline table. rocserv and ocserv side by side
# with the rocserv/ocserv ratio of the medians - unless the background load measured
# before some section exceeded MAX_LOAD: then no comparison, only each server's numbers.
summary_tables() {
  awk -F'\t' -v maxload="$2" '
    NR>1 { k=$1"|"$2"|"$3"|"$4; med[k]=$6; lo[k]=$7; hi[k]=$8; cnt[k]=$5
           if($1!="-") seen[$1]=1
           if($2=="sessions") svar=$4
           if($2=="sessions-lg" && $3=="established"){ n=substr($4,3)+0
             if(lgs=="" || n<lgs+0) lgs=n; if(lgb=="" || n>lgb+0) lgb=n }
           if($2=="noise" && $3=="bg_busy_pct"){ nl++; if($6+0>maxl) maxl=$6+0; load[nl]=$4"/"$1"="$6"%" } }
    function fmt(x){ return (x==int(x))? sprintf("%d",x) : (x>=100)? sprintf("%.0f",x) : (x>=10)? sprintf("%.1f",x) : (x>=1)? sprintf("%.2f",x) : sprintf("%.3f",x) }
    function nodtls(s,sec,var){ return (var=="dtls" || var ~ /^dtls\//) && ((s"|"sec"|dtls_established|dtls") in med) && med[s"|"sec"|dtls_established|dtls"]==0 }
    # value of a row for one server: "" when absent; sets V (median) for ratios
    function cell(s,sec,met,var,   k,d,dl,dh){
      V=""
      if(met=="added_rtt"){ dv="direct"; if(var ~ /\//) dv=dv substr(var, index(var,"/"))
        kd=s"|ping|rtt_median_ms|"dv; k=s"|ping|rtt_median_ms|"var
        if(nodtls(s,"ping",var)) return "n/a (no DTLS)"
        if(!(k in med) || !(kd in med)) return "-"
        V=med[k]-med[kd]; return fmt(V) }
      k=s"|"sec"|"met"|"var
      if(nodtls(s,sec,var)) return "n/a (no DTLS)"
      if(!(k in med)) return "-"
      V=med[k]
      if(cnt[k]>1 && lo[k]!=hi[k]) return fmt(med[k]) " [" fmt(lo[k]) "-" fmt(hi[k]) "]"
      return fmt(med[k]) }
    BEGIN{
      nr=0
      split("up/P1:client->LAN, 1 stream;up/P4:client->LAN, 4 streams;down/P1:LAN->client, 1 stream;down/P4:LAN->client, 4 streams", tv, ";")
      split("dtls:DTLS;tls:TLS only", mv, ";")
      for(m=1;m<=2;m++){ split(mv[m],mm,":"); for(i=1;i<=4;i++){ split(tv[i],t,":")
        row[++nr]="Throughput " mm[2] ", " t[2] " (Mbit/s)|tput|mbps|" mm[1] "/" t[1] } }
      for(m=1;m<=2;m++){ split(mv[m],mm,":"); for(i=1;i<=4;i++){ split(tv[i],t,":")
        row[++nr]="Server CPU " mm[2] ", " t[2] " (% of a core)|tput|cpu_server_pct|" mm[1] "/" t[1] } }
      for(m=1;m<=2;m++){ split(mv[m],mm,":"); for(i=1;i<=4;i++){ split(tv[i],t,":")
        row[++nr]="Server CPU-seconds per GB, " mm[2] ", " t[2] "|tput|cpu_s_per_gb|" mm[1] "/" t[1] } }
      row[++nr]="openconnect CPU, DTLS up 1 stream (% of a core)|tput|cpu_openconnect_pct|dtls/up/P1"
      row[++nr]="openconnect CPU, TLS up 1 stream (% of a core)|tput|cpu_openconnect_pct|tls/up/P1"
      row[++nr]="RTT without VPN, same path routed (ms)|ping|rtt_median_ms|direct"
      row[++nr]="RTT through the tunnel, DTLS (ms)|ping|rtt_median_ms|dtls"
      row[++nr]="RTT through the tunnel, TLS only (ms)|ping|rtt_median_ms|tls"
      row[++nr]="Added RTT, DTLS (ms)|ping|added_rtt|dtls"
      row[++nr]="Added RTT, TLS only (ms)|ping|added_rtt|tls"
      row[++nr]="Server CPU per ping, DTLS (us)|ping|cpu_server_us_per_ping|dtls"
      row[++nr]="Server CPU per ping, TLS only (us)|ping|cpu_server_us_per_ping|tls"
      row[++nr]="RTT without VPN, pings 2 ms apart (ms)|ping|rtt_median_ms|direct/2ms"
      row[++nr]="RTT through the tunnel, DTLS, pings 2 ms apart (ms)|ping|rtt_median_ms|dtls/2ms"
      row[++nr]="RTT through the tunnel, TLS only, pings 2 ms apart (ms)|ping|rtt_median_ms|tls/2ms"
      row[++nr]="Added RTT, DTLS, pings 2 ms apart (ms)|ping|added_rtt|dtls/2ms"
      row[++nr]="Added RTT, TLS only, pings 2 ms apart (ms)|ping|added_rtt|tls/2ms"
      row[++nr]="Server CPU per ping, DTLS, pings 2 ms apart (us)|ping|cpu_server_us_per_ping|dtls/2ms"
      row[++nr]="Server CPU per ping, TLS only, pings 2 ms apart (us)|ping|cpu_server_us_per_ping|tls/2ms"
      row[++nr]="Connect setup, one client, DTLS (ms)|setup|setup_ms|dtls"
      row[++nr]="Connect setup, one client, TLS only (ms)|setup|setup_ms|tls"
      row[++nr]="Connect setup, one client requesting DTLS, server offers none (ms)|setup|setup_ms|dtls-requested-not-offered"
      row[++nr]="Server CPU per connect+disconnect, DTLS (ms)|setup|server_cpu_ms_per_conn|dtls"
      row[++nr]="Server CPU per connect+disconnect, TLS only (ms)|setup|server_cpu_ms_per_conn|tls"
      row[++nr]="Teardown, TLS only (ms)|setup|teardown_ms|tls"
      row[++nr]="Server PSS, idle (KiB)|server|idle_pss_kb|0-sessions"
      row[++nr]="@SESS@ sessions at once: clients up|sessions|clients_up|@SV@"
      row[++nr]="@SESS@ sessions at once: of them on DTLS|sessions|dtls_up|@SV@"
      row[++nr]="@SESS@ sessions at once: all up after (s)|sessions|all_up_s|@SV@"
      row[++nr]="@SESS@ sessions at once: per-client setup, median (ms)|sessions|setup_median_ms|@SV@"
      row[++nr]="@SESS@ sessions at once: server CPU per session setup (ms)|sessions|server_cpu_ms_per_session|@SV@"
      row[++nr]="@SESS@ sessions: server PSS (KiB)|sessions|server_pss_kb|@SV@"
      row[++nr]="@SESS@ sessions: PSS per session (KiB)|sessions|pss_kb_per_session|@SV@"
      row[++nr]="@SESS@ sessions: idle server CPU (% of a core)|sessions|idle_cpu_pct|@SV@"
      row[++nr]="Load generator, @LGS@ sessions: established|sessions-lg|established|@LGSV@"
      row[++nr]="Load generator, @LGS@ sessions: of them on DTLS|sessions-lg|dtls_up|@LGSV@"
      row[++nr]="Load generator, @LGS@ sessions: all established after (s)|sessions-lg|all_up_s|@LGSV@"
      row[++nr]="Load generator, @LGS@ sessions: per-session setup p50 (ms)|sessions-lg|setup_p50_ms|@LGSV@"
      row[++nr]="Load generator, @LGS@ sessions: per-session setup p99 (ms)|sessions-lg|setup_p99_ms|@LGSV@"
      row[++nr]="Load generator, @LGS@ sessions: server CPU per session setup (ms)|sessions-lg|server_cpu_ms_per_session|@LGSV@"
      row[++nr]="Load generator, @LGS@ sessions: server PSS (KiB)|sessions-lg|server_pss_kb|@LGSV@"
      row[++nr]="Load generator, @LGS@ sessions: PSS per session (KiB)|sessions-lg|pss_kb_per_session|@LGSV@"
      row[++nr]="Load generator, @LGS@ sessions: final DPD answered on CSTP|sessions-lg|final_dpd_cstp_ok|@LGSV@"
      row[++nr]="Load generator, @LGS@ sessions: final DPD answered on DTLS|sessions-lg|final_dpd_dtls_ok|@LGSV@"
      row[++nr]="Load generator, @LGS@ sessions: lost during the hold|sessions-lg|lost_in_hold|@LGSV@"
      row[++nr]="Load generator, @LGS@ sessions: pings answered (1/s per session, %)|sessions-lg|ping_reply_pct|@LGSV@"
      row[++nr]="Load generator, @LGS@ sessions: final DPD answered after, p50 (ms)|sessions-lg|final_probe_p50_ms|@LGSV@"
      row[++nr]="Load generator, @LGS@ sessions: final DPD answered after, max (ms)|sessions-lg|final_probe_max_ms|@LGSV@"
      row[++nr]="Load generator, @LGB@ sessions: established|sessions-lg|established|@LGBV@"
      row[++nr]="Load generator, @LGB@ sessions: of them on DTLS|sessions-lg|dtls_up|@LGBV@"
      row[++nr]="Load generator, @LGB@ sessions: all established after (s)|sessions-lg|all_up_s|@LGBV@"
      row[++nr]="Load generator, @LGB@ sessions: per-session setup p50 (ms)|sessions-lg|setup_p50_ms|@LGBV@"
      row[++nr]="Load generator, @LGB@ sessions: per-session setup p99 (ms)|sessions-lg|setup_p99_ms|@LGBV@"
      row[++nr]="Load generator, @LGB@ sessions: server CPU per session setup (ms)|sessions-lg|server_cpu_ms_per_session|@LGBV@"
      row[++nr]="Load generator, @LGB@ sessions: server PSS (KiB)|sessions-lg|server_pss_kb|@LGBV@"
      row[++nr]="Load generator, @LGB@ sessions: PSS per session (KiB)|sessions-lg|pss_kb_per_session|@LGBV@"
      row[++nr]="Load generator, @LGB@ sessions: final DPD answered on CSTP|sessions-lg|final_dpd_cstp_ok|@LGBV@"
      row[++nr]="Load generator, @LGB@ sessions: final DPD answered on DTLS|sessions-lg|final_dpd_dtls_ok|@LGBV@"
      row[++nr]="Load generator, @LGB@ sessions: lost during the hold|sessions-lg|lost_in_hold|@LGBV@"
      row[++nr]="Load generator, @LGB@ sessions: own DPD requests answered during the hold|sessions-lg|dpd_replies|@LGBV@"
      row[++nr]="Load generator, @LGB@ sessions: own DPD requests sent during the hold|sessions-lg|dpd_sent|@LGBV@"
      row[++nr]="Load generator, @LGB@ sessions: released after stop (s)|sessions-lg|release_s|@LGBV@"
    }
    END{
      both=("rocserv" in seen) && ("ocserv" in seen)
      noisy=(maxl > maxload)
      sn=svar; sub("N=","",sn)
      if(noisy){
        printf "> **WARNING: noisy run, no comparison.** The background load measured before a section reached %s%% of all CPUs (limit %s%%): other processes competed for the cores, so the two servers were not measured under the same conditions. Raw numbers only; rerun on a quiet machine to compare.\n\n", maxl, maxload
      }
      print "Medians over the repetitions, [min-max] when they differ. Ratio = rocserv median / ocserv median."
      print ""
      if(both && !noisy){
        print "| metric | rocserv | ocserv | rocserv/ocserv |"
        print "|---|---|---|---|"
        for(r=1;r<=nr;r++){ split(row[r],p,"|"); lab=p[1]; var=p[4]; gsub("@SESS@",sn,lab); if(var=="@SV@")var=svar
          if(var=="@LGSV@"){ var="N=" lgs; gsub("@LGS@",lgs,lab) }
          if(var=="@LGBV@"){ if(lgb==lgs) continue; var="N=" lgb; gsub("@LGB@",lgb,lab) }
          a=cell("rocserv",p[2],p[3],var); va=V; b=cell("ocserv",p[2],p[3],var); vb=V
          if(a=="-" && b=="-") continue
          ratio="-"; if(va!="" && vb!="" && vb!=0) ratio=sprintf("%.2f", va/vb)
          printf "| %s | %s | %s | %s |\n", lab, a, b, ratio }
      } else {
        for(s in seen){
          printf "### %s\n\n| metric | %s |\n|---|---|\n", s, s
          for(r=1;r<=nr;r++){ split(row[r],p,"|"); lab=p[1]; var=p[4]; gsub("@SESS@",sn,lab); if(var=="@SV@")var=svar
          if(var=="@LGSV@"){ var="N=" lgs; gsub("@LGS@",lgs,lab) }
          if(var=="@LGBV@"){ if(lgb==lgs) continue; var="N=" lgb; gsub("@LGB@",lgb,lab) }
            a=cell(s,p[2],p[3],var); if(a=="-") continue
            printf "| %s | %s |\n", lab, a }
          print "" }
      }
      print ""
      printf "Background load before each section (%% of all CPUs, limit %s%%):", maxload
      for(i=1;i<=nl;i++) printf " %s", load[i]
      print ""
    }' "$1"
}

# standalone: rebuild the summary of an earlier run
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -uo pipefail
  export LC_ALL=C
  if [ $# -lt 1 ] || [ ! -s "$1/results.tsv" ]; then echo "usage: $0 RESULTS_DIR [MAX_LOAD_PCT]" >&2; exit 2; fi
  ml=${2:-$(awk -F'\t' '$3=="max_load_threshold"{print $6}' "$1/results.tsv" | tail -1)}
  summarize "$1/results.tsv" "$1" "${ml:-20}"
  cat "$1/summary.md"
fi
