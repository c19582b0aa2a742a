# shellcheck shell=bash
# auth.sh - the authentication scenarios 17-21 of the e2e suite (sourced by
# run.sh after lib.sh and client.sh; run.sh calls auth_checks after check 13,
# once the main server is stopped, or alone with `run.sh --only auth`).
# Each scenario renders its own ocserv.conf in $STATE/auth/NAME/, starts the
# server (same command and flavor options as run.sh: SERVER_CMD, SERVER_OPTS),
# runs openconnect clients against it and stops it by PID (bounded).
# Needs from run.sh: check ok bad skip, STATE, CLI, SERVER_CMD, SERVER_OPTS,
# SERVER_PID (the running scenario server, so run.sh's exit trap stops it).
. "$E2E_DIR/auth-fixtures.sh"

AUTH=       # $STATE/auth
ASLOG=      # the running scenario server's log

# auth_server_start NAME CONF-LINES...: writes $AUTH/NAME/ocserv.conf (the
# lines, then conf_base) and starts the server on it; 0 once it listens
auth_server_start() {
  local name=$1 d=$AUTH/$1 i
  shift
  mkdir -p "$d" && script_wrapper "$d" || return 1
  {
    echo "# rendered by tests/e2e/auth.sh - scenario $name"
    printf '%s\n' "$@"
    conf_base "$d" "$STATE/pki"
  } > "$d/ocserv.conf"
  ASLOG=$d/server.log
  ip netns exec "$NS_SRV" "${SERVER_CMD[@]}" "${SERVER_OPTS[@]}" -c "$d/ocserv.conf" \
    > "$ASLOG" 2>&1 {LOCK_FD}>&- &
  SERVER_PID=$!
  for ((i = 0; i < 100; i++)); do
    alive "$SERVER_PID" || break
    ip netns exec "$NS_SRV" ss -Hltn "src $SRV_IP and sport = :$PORT" | grep -q . && return 0
    nap 0.1
  done
  echo "      server ($name) not listening; log $ASLOG:"
  tail -n 15 "$ASLOG" | sed 's/^/      /'
  auth_server_stop
  return 1
}

# auth_server_stop: SIGTERM to the server (by PID, bounded), then whatever of
# ours is left in rse-srv; waits until its vpns* devices are gone
auth_server_stop() {
  cli_stop_all
  [ -n "$SERVER_PID" ] && kill_wait "$SERVER_PID" 10 TERM
  SERVER_PID=
  wait_for 5 eval '[ -z "$(ns_pids "$NS_SRV" | tr -d " ")" ]' || ns_kill_all "$NS_SRV"
  wait_for 5 eval '! ip -n "$NS_SRV" -o link show | grep -q ": vpns"'
  return 0
}

# auth_scenario LABEL NAME CONF-LINES...: starts a scenario server or records
# why not (the scenario's client checks are then skipped)
auth_scenario() {
  local label=$1
  shift
  if auth_server_start "$@"; then
    log "scenario $label: server up ($AUTH/$1)"
    return 0
  fi
  bad "$label server starts with configuration $1"
  return 1
}

# tunnel_ok NAME: the client's tunnel comes up and passes traffic (ping -I);
# on failure prints the client's last lines. Stops the client either way.
tunnel_ok() {
  local rc=0
  if ! cli_wait_up "$1" 20; then
    rc=1
  elif ! ping_via "$1"; then
    echo "      tunnel up but no ping answer through $1"; rc=1
  fi
  [ $rc = 0 ] || { echo "      client log tail:"; tail -n 4 "$CLI/$1.log" | sed 's/^/      /'; }
  cli_stop "$1" INT
  return $rc
}

# refused NAME: the client is refused; on failure prints its last lines
refused() {
  cli_expect_refused "$1" 20 && return 0
  echo "      client log tail:"; tail -n 4 "$CLI/$1.log" | sed 's/^/      /'
  return 1
}

# asked NAME REGEX: openconnect's log shows a prompt/message matching REGEX
asked() { grep -q -i -E "$2" "$CLI/$1.log" || { echo "      no '$2' in $CLI/$1.log"; return 1; }; }

# --- 17. PAM ---------------------------------------------------------------------------
auth_pam() {
  local otpf=$AUTH/pam.oath
  mkdir -p "$AUTH"
  write_otp "$otpf" "$PAM_USER:$OTP_KEY_PAM" || { bad "17 OATH users file"; return; }
  if ! pam_setup "$otpf"; then
    bad "17 PAM test user and service files created"
    pam_teardown
    return
  fi
  ok "17 PAM test user $PAM_USER and /etc/pam.d/{$PAM_SVC,$PAM_SVC2} created"
  if pam_select "$PAM_SVC" && auth_scenario 17 pam "$(pam_auth_line "$PAM_SVC")"; then
    cli_login rse-p1 "$PAM_USER" "$PAM_PW" 1
    check "17 PAM (pam_unix): right password -> tunnel" tunnel_ok rse-p1
    cli_login rse-p2 "$PAM_USER" "wrong-$PAM_PW" 1
    check "17 PAM (pam_unix): wrong password -> refused" refused rse-p2
    auth_server_stop
  fi
  if pam_select "$PAM_SVC2" && auth_scenario 17 pam2 "$(pam_auth_line "$PAM_SVC2")"; then
    # no --non-inter: openconnect reads the answer to the second prompt (the
    # OATH code) as the next stdin line
    CLI_INTER=1 cli_login rse-p3 "$PAM_USER" "$PAM_PW"$'\n'"$(totp "$OTP_KEY_PAM")" 1
    check "17 PAM two rounds (pam_unix + pam_oath): password, then TOTP -> tunnel" tunnel_ok rse-p3
    check "17 PAM two rounds: the client saw pam_oath's prompt" asked rse-p3 'one-time password|OATH'
    CLI_INTER=1 cli_login rse-p4 "$PAM_USER" "$PAM_PW"$'\n'"$(totp "$OTP_KEY_WRONG")" 1
    check "17 PAM two rounds: right password, wrong TOTP -> refused" refused rse-p4
    auth_server_stop
  fi
  pam_teardown
  no_pam_left() {
    ! getent passwd "$PAM_USER" >/dev/null && [ ! -e "/etc/pam.d/$PAM_SVC" ] &&
      [ ! -e "/etc/pam.d/$PAM_SVC2" ] && [ ! -e "$PAM_OCSERV_BACKUP" ] && [ ! -e "$PAM_OCSERV_NONE" ] &&
      [ "$(pam_ocserv_sum)" = "$PAM_OCSERV_SUM" ]
  }
  check "17 PAM test user and service files removed, /etc/pam.d/ocserv as before" no_pam_left
}

# --- 18. OTP with the plain backend ---------------------------------------------------------
auth_otp() {
  local d=$AUTH/otp-files
  mkdir -p "$d"
  write_passwd "$d/passwd" "otpa::pw-otpa-1" "otpb::pw-otpb-2" "otponly::" &&
    write_otp "$d/otp" "otpa:$OTP_KEY_A" "otpb:$OTP_KEY_B" "otponly:$OTP_KEY_C" ||
    { bad "18 password and OATH files"; return; }
  auth_scenario 18 otp "auth = \"plain[passwd=$d/passwd,otp=$d/otp]\"" || return
  # openconnect fills a secondary_password field from --token-secret itself;
  # a "password" field gets the next stdin line (no --non-inter): both given
  local code
  code=$(totp "$OTP_KEY_A")
  CLI_INTER=1 cli_login rse-o1 otpa "pw-otpa-1"$'\n'"$code" 1 \
    --token-mode=totp --token-secret="0x$OTP_KEY_A"
  check "18 OTP: right password + right TOTP -> tunnel" tunnel_ok rse-o1
  check "18 OTP: the client was asked for the OTP" asked rse-o1 'OTP'
  # liboath's users file: the server records the used code in place
  # ("HOTP/T30 user - key counter last-otp time"); an unused line stays as written
  otp_recorded() {
    awk -v c="$code" '$2 == "otpa" && $6 == c {f = 1} END {exit !f}' "$d/otp" ||
      { echo "      otp file: $(tr '\n' '|' < "$d/otp")"; return 1; }
  }
  check "18 OTP: the users file records otpa's used code" otp_recorded
  # the same code again (no --token-mode: exactly this code)
  CLI_INTER=1 cli_login rse-o5 otpa "pw-otpa-1"$'\n'"$code" 1
  check "18 OTP: the same code again (replay) -> refused" refused rse-o5
  CLI_INTER=1 cli_login rse-o2 otpb "pw-otpb-2"$'\n'"$(totp "$OTP_KEY_WRONG")" 1 \
    --token-mode=totp --token-secret="0x$OTP_KEY_WRONG"
  check "18 OTP: right password + wrong TOTP -> refused" refused rse-o2
  CLI_INTER=1 cli_login rse-o3 otpb "wrong-pw"$'\n'"$(totp "$OTP_KEY_B")" 1 \
    --token-mode=totp --token-secret="0x$OTP_KEY_B"
  check "18 OTP: wrong password + right TOTP -> refused" refused rse-o3
  # OTP-only user (empty hash): the code is the only answer
  CLI_INTER=1 cli_login rse-o4 otponly "$(totp "$OTP_KEY_C")" 1
  check "18 OTP-only user (empty hash): right TOTP -> tunnel" tunnel_ok rse-o4
  auth_server_stop
}

# --- 19. client certificates ------------------------------------------------------------------
# cert_login NAME CERT [USER [PASSWORD]]: openconnect with CERT's cert and key
# (no cert for CERT=-); a USER logs in with --passwd-on-stdin
cert_login() {
  local name=$1 c=$2 user=${3:-} pw=${4:-} args=()
  [ "$c" != - ] && args+=(-c "$AUTH/pki/$c-cert.pem" -k "$AUTH/pki/$c-key.pem")
  [ -n "$user" ] && args+=(--user "$user" --passwd-on-stdin)
  cli_launch "$name" "$pw" 1 "${args[@]}"
}

auth_cert() {
  local p=$AUTH/pki d=$AUTH/cert-files
  mkdir -p "$d"
  make_client_pki "$p" || { bad "19 client PKI (CA, certs, CRL)"; return; }
  write_passwd "$d/passwd" "alice::pw-alice-c" "bob::pw-bob-c" || { bad "19 password file"; return; }
  local certconf=("ca-cert = $p/cca-cert.pem" "crl = $p/crl.pem"
    "cert-user-oid = 0.9.2342.19200300.100.1.1")
  if auth_scenario 19 cert "auth = \"certificate\"" "${certconf[@]}"; then
    cert_login rse-c1 alice
    check "19 certificate only: valid cert (UID=alice) -> tunnel, no password asked" tunnel_ok rse-c1
    c1_user() { senv_in "$AUTH/cert" alice.connect.env USERNAME alice; }
    check "19 certificate only: connect script USERNAME=alice (from the cert)" c1_user
    cert_login rse-c2 -
    check "19 certificate only: no cert -> refused" refused rse-c2
    cert_login rse-c3 other
    check "19 certificate only: cert from another CA -> refused" refused rse-c3
    cert_login rse-c4 revoked
    check "19 certificate only: revoked cert (in the CRL) -> refused" refused rse-c4
    auth_server_stop
  fi
  if auth_scenario 19 cert-and-pw "auth = \"certificate\"" "auth = \"plain[passwd=$d/passwd]\"" \
    "${certconf[@]}"; then
    cert_login rse-c5 alice alice pw-alice-c
    check "19 certificate AND password: alice's cert + alice's password -> tunnel" tunnel_ok rse-c5
    cert_login rse-c6 alice bob pw-bob-c
    check "19 certificate AND password: alice's cert, user bob + bob's password -> refused (ocserv #694)" refused rse-c6
    cert_login rse-c7 - alice pw-alice-c
    check "19 certificate AND password: no cert, right password -> refused" refused rse-c7
    cert_login rse-c8 alice alice wrong-pw
    check "19 certificate AND password: alice's cert, wrong password -> refused" refused rse-c8
    auth_server_stop
  fi
  if auth_scenario 19 pw-or-cert "auth = \"plain[passwd=$d/passwd]\"" "enable-auth = \"certificate\"" \
    "${certconf[@]}"; then
    cert_login rse-c9 alice
    check "19 password OR certificate: cert alone -> tunnel" tunnel_ok rse-c9
    cert_login rse-c10 - bob pw-bob-c
    check "19 password OR certificate: password alone -> tunnel" tunnel_ok rse-c10
    cert_login rse-c11 - bob wrong-pw
    check "19 password OR certificate: no cert, wrong password -> refused" refused rse-c11
    auth_server_stop
  fi
}

# senv_in DIR FILE KEY EXPECTED: a value of a server-script env dump in DIR/script
senv_in() {
  local v
  v=$(sed -n "s/^$3=//p" "$1/script/$2" 2>/dev/null | head -n 1)
  [ "$v" = "$4" ] || { echo "      $3='$v', expected '$4'"; return 1; }
}

# --- 20. groups -------------------------------------------------------------------------------------
auth_groups() {
  local d=$AUTH/group-files
  mkdir -p "$d/groups"
  write_passwd "$d/passwd" "alice:staff,eng:pw-alice-g" "bob:staff:pw-bob-g" ||
    { bad "20 password file"; return; }
  echo "route = 10.251.0.0/16" > "$d/groups/eng"
  auth_scenario 20 groups "auth = \"plain[passwd=$d/passwd]\"" "select-group = staff[Staff]" \
    "select-group = eng[Engineering]" "config-per-group = $d/groups" || return
  cli_login rse-g1 alice pw-alice-g 1 --authgroup=eng
  if cli_wait_up rse-g1 20; then
    ok "20 alice (staff,eng) picks eng (--authgroup=eng) -> tunnel"
    has_eng_route() {
      local s
      s=$(split_set rse-g1 INC)
      [[ " $s " == *" 10.251.0.0/16 "* ]] || { echo "      split include: '$s'"; return 1; }
    }
    check "20 eng's per-group file route 10.251.0.0/16 reaches the client" has_eng_route
    check "20 connect script GROUPNAME=eng" senv_in "$AUTH/groups" alice.connect.env GROUPNAME eng
    check "20 eng tunnel passes traffic" ping_via rse-g1
  else
    bad "20 alice (staff,eng) picks eng (--authgroup=eng) -> tunnel"
    tail -n 4 "$CLI/rse-g1.log" | sed 's/^/      /'
  fi
  cli_stop rse-g1 INT
  cli_login rse-g2 bob pw-bob-g 1 --authgroup=eng
  check "20 bob (staff only) picks eng -> refused" refused rse-g2
  cli_login rse-g3 bob pw-bob-g 1 --authgroup=staff
  check "20 bob picks staff -> tunnel (control: the refusal is about the group)" tunnel_ok rse-g3
  auth_server_stop
}

# --- 21. per-user configuration ------------------------------------------------------------------------
auth_per_user() {
  local d=$AUTH/user-files
  mkdir -p "$d/users"
  write_passwd "$d/passwd" "alice::pw-alice-u" "bob::pw-bob-u" || { bad "21 password file"; return; }
  printf '%s\n' "dns = 10.242.0.99" "explicit-ipv4 = 10.243.0.200" > "$d/users/alice"
  auth_scenario 21 per-user "auth = \"plain[passwd=$d/passwd]\"" "config-per-user = $d/users" || return
  cli_login rse-u1 alice pw-alice-u 1
  if cli_wait_up rse-u1 20; then
    ok "21 alice -> tunnel"
    check "21 alice's DNS is 10.242.0.99 only (per-user file)" env_is rse-u1 INTERNAL_IP4_DNS 10.242.0.99
    check "21 alice's address is exactly 10.243.0.200 (explicit-ipv4)" env_is rse-u1 INTERNAL_IP4_ADDRESS 10.243.0.200
    check "21 alice's tunnel passes traffic" ping_via rse-u1
  else
    bad "21 alice -> tunnel"
    tail -n 4 "$CLI/rse-u1.log" | sed 's/^/      /'
  fi
  cli_stop rse-u1 INT
  # bob has no file: the global DNS, an address from the pool
  cli_login rse-u2 bob pw-bob-u 1
  if cli_wait_up rse-u2 20; then
    check "21 bob (no per-user file) keeps the global DNS" env_is rse-u2 INTERNAL_IP4_DNS "10.242.0.53 10.242.0.54"
  else
    bad "21 bob (no per-user file) -> tunnel"
  fi
  cli_stop rse-u2 INT
  auth_server_stop
}

# --- 22. acct = "pam" and auto-select-group (rocserv) ------------------------------------------------
ACCT_DENY=/etc/pam.d/rocserv-e2e-acct-deny
ACCT_PERMIT=/etc/pam.d/rocserv-e2e-acct-permit
auth_acct() {
  if [ "$FLAVOR" != rocserv ]; then
    skip "22 acct = pam[service=...] and auto-select-group ($FLAVOR 1.1.6 has no service= for acct)"
    return
  fi
  local d=$AUTH/acct-files
  mkdir -p "$d"
  write_passwd "$d/passwd" "alice:staff,eng:pw-alice-a" "bob:staff:pw-bob-a" || { bad "22 password file"; return; }
  printf '%s\n' "# rocserv e2e (tests/e2e/auth.sh): removed at exit" "auth required pam_deny.so" \
    "account required pam_deny.so" > "$ACCT_DENY" || { bad "22 PAM service files"; return; }
  printf '%s\n' "# rocserv e2e (tests/e2e/auth.sh): removed at exit" "auth required pam_deny.so" \
    "account required pam_permit.so" > "$ACCT_PERMIT" || { bad "22 PAM service files"; return; }
  if auth_scenario 22 acct-deny "auth = \"plain[passwd=$d/passwd]\"" \
      "acct = \"pam[service=${ACCT_DENY##*/}]\""; then
    cli_login rse-a1 alice pw-alice-a 1
    check "22 acct = pam (account denied by PAM): right password -> refused" refused rse-a1
    auth_server_stop
  fi
  if auth_scenario 22 acct-permit "auth = \"plain[passwd=$d/passwd]\"" \
      "acct = \"pam[service=${ACCT_PERMIT##*/}]\"" "auto-select-group = true"; then
    cli_login rse-a2 alice pw-alice-a 1 --authgroup=eng
    check "22 acct = pam (account permitted), auto-select-group: alice picks eng -> tunnel" tunnel_ok rse-a2
    check "22 auto-select-group: connect script GROUPNAME=eng" senv_in "$AUTH/acct-permit" alice.connect.env GROUPNAME eng
    cli_login rse-a3 bob pw-bob-a 1 --authgroup=eng
    check "22 auto-select-group: bob (staff only) picks eng -> refused" refused rse-a3
    auth_server_stop
  fi
  rm -f "$ACCT_DENY" "$ACCT_PERMIT"
}

# --- driver ---------------------------------------------------------------------------------------------------------
auth_checks() {
  AUTH=$STATE/auth
  mkdir -p "$AUTH"
  [ -s "$STATE/pki/server-cert.pem" ] || { bad "17-21 server PKI missing"; return; }
  # E2E_AUTH_SCENARIOS: a subset while developing, e.g. "groups per_user"
  local sc
  for sc in ${E2E_AUTH_SCENARIOS:-pam otp cert groups per_user acct}; do
    case "$sc" in
      pam|otp|cert|groups|per_user|acct) "auth_$sc" ;;
      *) bad "unknown auth scenario '$sc' in E2E_AUTH_SCENARIOS" ;;
    esac
  done
  echo "auth scenario logs: $AUTH/*/server.log"
}

# auth_cleanup: called by run.sh's exit trap (also on failure/interrupt)
auth_cleanup() {
  pam_teardown
  rm -f "$ACCT_DENY" "$ACCT_PERMIT"
}
