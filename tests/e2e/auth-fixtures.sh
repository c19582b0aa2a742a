# shellcheck shell=bash
# shellcheck disable=SC2034  # keys and settings are used by auth.sh
# auth-fixtures.sh - what the authentication scenarios (auth.sh) need besides
# a server: client certificates and a CRL, password and OATH users files, and
# the PAM side (a system user, two PAM service files). Sourced by auth.sh.
# Everything made on the host outside the state directory (the user, the
# files in /etc/pam.d) is recorded and removed by pam_teardown, which
# run.sh's exit trap calls through auth_cleanup.

# The PAM test user and services. The GECOS field marks the user as ours: a
# leftover of an interrupted run is removed only if it carries this mark.
PAM_USER=rocserv-e2e-pam
PAM_GECOS="rocserv e2e test user"
PAM_PW=pw-pam-9-Secret
PAM_SVC=rocserv-e2e
PAM_SVC2=rocserv-e2e-otp
# OATH keys (hex, 20 bytes): TOTP (HOTP/T30) keys of the test users
OTP_KEY_PAM=3132333435363738393031323334353637383930
OTP_KEY_A=00112233445566778899aabbccddeeff00112233
OTP_KEY_B=0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c
OTP_KEY_C=5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a
OTP_KEY_WRONG=ffeeddccbbaa99887766554433221100ffeeddcc

# Servers without pam[service=NAME] (ocserv 1.1.6: "unknown option 'service'";
# per-vhost services came in ocserv 1.5.0) always use the service "ocserv":
# for them (PAM_SERVICE_OPTION=0, run.sh's flavor case) the scenario's
# service file is copied over /etc/pam.d/ocserv, whose original is kept in
# PAM_OCSERV_BACKUP (or PAM_OCSERV_NONE marks that there was none) and put
# back by pam_teardown, or by the next run if this one was killed.
PAM_OCSERV=/etc/pam.d/ocserv
PAM_OCSERV_BACKUP=/etc/pam.d/ocserv.rocserv-e2e-backup
PAM_OCSERV_NONE=/etc/pam.d/ocserv.rocserv-e2e-none
PAM_OCSERV_SUM=      # sha256 of the original /etc/pam.d/ocserv ("none" if absent)

PAM_MADE_USER=0      # 1 once useradd succeeded
PAM_MADE_FILES=()    # the /etc/pam.d files this run wrote

# --- client certificates ------------------------------------------------------

# cert_ca DIR NAME CN: a CA (ECDSA P-256) DIR/NAME-key.pem, DIR/NAME-cert.pem
cert_ca() {
  openssl ecparam -name prime256v1 -genkey -noout -out "$1/$2-key.pem" 2>/dev/null &&
    openssl req -x509 -new -key "$1/$2-key.pem" -sha256 -days 30 -subj "/CN=$3" \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
      -out "$1/$2-cert.pem" 2>/dev/null
}

# cert_client DIR NAME CA SUBJECT: an X.509 v3 client certificate (the
# extfile makes it v3) DIR/NAME-cert.pem + DIR/NAME-key.pem signed by CA
cert_client() {
  local d=$1 n=$2 ca=$3 subj=$4
  printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=clientAuth" > "$d/client.ext"
  openssl ecparam -name prime256v1 -genkey -noout -out "$d/$n-key.pem" 2>/dev/null &&
    openssl req -new -key "$d/$n-key.pem" -subj "$subj" -out "$d/$n.csr" 2>/dev/null &&
    openssl x509 -req -in "$d/$n.csr" -CA "$d/$ca-cert.pem" -CAkey "$d/$ca-key.pem" \
      -CAcreateserial -days 30 -sha256 -extfile "$d/client.ext" -out "$d/$n-cert.pem" 2>/dev/null
}

# make_client_pki DIR: client CA "cca" with certs alice (UID=alice), bob
# (UID=bob), revoked (UID=alice, revoked in DIR/crl.pem); another CA "oca"
# with other (UID=alice). The CRL is made with `openssl ca` (index database).
make_client_pki() {
  local d=$1
  mkdir -p "$d" || return 1
  cert_ca "$d" cca "rocserv e2e client CA" || return 1
  cert_ca "$d" oca "rocserv e2e other CA" || return 1
  cert_client "$d" alice cca "/UID=alice/CN=Alice Example" || return 1
  cert_client "$d" bob cca "/UID=bob/CN=Bob Example" || return 1
  cert_client "$d" revoked cca "/UID=alice/CN=Alice Revoked" || return 1
  cert_client "$d" other oca "/UID=alice/CN=Alice Elsewhere" || return 1
  : > "$d/index.txt"
  echo 01 > "$d/crlnumber"
  cat > "$d/ca.cnf" <<EOF
[ ca ]
default_ca = cca
[ cca ]
database = $d/index.txt
crlnumber = $d/crlnumber
certificate = $d/cca-cert.pem
private_key = $d/cca-key.pem
default_md = sha256
default_crl_days = 30
EOF
  openssl ca -config "$d/ca.cnf" -revoke "$d/revoked-cert.pem" -batch >/dev/null 2>&1 &&
    openssl ca -config "$d/ca.cnf" -gencrl -out "$d/crl.pem" -batch >/dev/null 2>&1 || return 1
  # sanity: the CRL lists exactly the revoked cert's serial
  local serial
  serial=$(openssl x509 -in "$d/revoked-cert.pem" -noout -serial | cut -d= -f2)
  openssl crl -in "$d/crl.pem" -noout -text | grep -q "Serial Number: $serial" || return 1
  chmod 644 "$d"/*.pem
}

# --- password and OATH users files ---------------------------------------------

# write_passwd FILE ENTRY...: ocpasswd file from "user:groups:password"
# entries (sha512-crypt); an empty password gives an empty hash (OTP-only user)
write_passwd() {
  local f=$1 e u g p h
  shift
  : > "$f" || return 1
  for e in "$@"; do
    IFS=: read -r u g p <<<"$e"
    h=
    if [ -n "$p" ]; then h=$(openssl passwd -6 -stdin <<<"$p") || return 1; fi
    printf '%s:%s:%s\n' "$u" "$g" "$h" >> "$f"
  done
  chmod 600 "$f"
}

# write_otp FILE USER:HEXKEY...: liboath users file, TOTP (30 s steps)
write_otp() {
  local f=$1 e
  shift
  : > "$f" || return 1
  for e in "$@"; do printf 'HOTP/T30 %s - %s\n' "${e%%:*}" "${e#*:}" >> "$f"; done
  chmod 600 "$f"
}

# totp HEXKEY: the current code; waits first if the 30 s step ends within 3 s
# (the server must see the code in the step it was made for: pam_oath and
# liboath also accept neighbouring steps, this just keeps the test exact)
totp() {
  while [ $(($(date +%s) % 30)) -ge 27 ]; do nap 0.5; done
  oathtool --totp "$1"
}

# --- PAM --------------------------------------------------------------------------

# pam_setup OTPFILE: creates $PAM_USER (no home, nologin shell, password
# $PAM_PW) and /etc/pam.d/$PAM_SVC (pam_unix) and /etc/pam.d/$PAM_SVC2
# (pam_unix, then pam_oath asking for a TOTP code from OTPFILE).
pam_setup() {
  local otp=$1 mod=
  for d in /lib/x86_64-linux-gnu/security /lib/security /usr/lib/security \
    /usr/lib/x86_64-linux-gnu/security /lib/aarch64-linux-gnu/security; do
    [ -e "$d/pam_oath.so" ] && mod=$d
  done
  [ -n "$mod" ] || { log "pam_oath.so not found (Debian package libpam-oath)"; return 1; }
  if getent passwd "$PAM_USER" >/dev/null; then
    if [ "$(getent passwd "$PAM_USER" | cut -d: -f5)" = "$PAM_GECOS" ]; then
      log "removing the PAM test user $PAM_USER left by an interrupted run"
      userdel "$PAM_USER" 2>/dev/null
    else
      log "a user $PAM_USER exists and is not ours: PAM scenario skipped"
      return 1
    fi
  fi
  pam_ocserv_restore   # a leftover of a killed run
  PAM_OCSERV_SUM=$(pam_ocserv_sum)
  useradd -M -N -s /usr/sbin/nologin -c "$PAM_GECOS" "$PAM_USER" || return 1
  PAM_MADE_USER=1
  chpasswd <<<"$PAM_USER:$PAM_PW" || return 1
  PAM_MADE_FILES+=("/etc/pam.d/$PAM_SVC")
  cat > "/etc/pam.d/$PAM_SVC" <<EOF
# rocserv e2e test service (tests/e2e/auth-fixtures.sh); removed after the run
auth     required  pam_unix.so nodelay
account  required  pam_unix.so
EOF
  PAM_MADE_FILES+=("/etc/pam.d/$PAM_SVC2")
  cat > "/etc/pam.d/$PAM_SVC2" <<EOF
# rocserv e2e test service (tests/e2e/auth-fixtures.sh); removed after the run
# two questions: the Unix password, then a TOTP code (pam_oath)
auth     requisite pam_unix.so nodelay
auth     required  pam_oath.so usersfile=$otp window=3 digits=6
account  required  pam_unix.so
EOF
}

# pam_ocserv_restore: puts the original /etc/pam.d/ocserv back (idempotent)
pam_ocserv_restore() {
  if [ -e "$PAM_OCSERV_BACKUP" ]; then
    mv -f "$PAM_OCSERV_BACKUP" "$PAM_OCSERV" || log "could not restore $PAM_OCSERV from $PAM_OCSERV_BACKUP"
  elif [ -e "$PAM_OCSERV_NONE" ]; then
    rm -f "$PAM_OCSERV" "$PAM_OCSERV_NONE"
  fi
}

pam_ocserv_sum() { if [ -e "$PAM_OCSERV" ]; then sha256sum < "$PAM_OCSERV"; else echo none; fi; }

# pam_select SVC: makes SVC the service the server will use (a no-op when
# the server takes pam[service=SVC]; else SVC's file goes to /etc/pam.d/ocserv)
pam_select() {
  [ "$PAM_SERVICE_OPTION" = 1 ] && return 0
  if [ ! -e "$PAM_OCSERV_BACKUP" ] && [ ! -e "$PAM_OCSERV_NONE" ]; then
    if [ -e "$PAM_OCSERV" ]; then
      cp -p "$PAM_OCSERV" "$PAM_OCSERV_BACKUP" || return 1
    else
      : > "$PAM_OCSERV_NONE" || return 1
    fi
  fi
  cp -f "/etc/pam.d/$1" "$PAM_OCSERV"
}

# pam_auth_line SVC: the auth = line selecting PAM service SVC
pam_auth_line() {
  if [ "$PAM_SERVICE_OPTION" = 1 ]; then echo "auth = \"pam[service=$1]\""; else echo 'auth = "pam"'; fi
}

# pam_teardown: removes exactly what pam_setup made and restores
# /etc/pam.d/ocserv (idempotent)
pam_teardown() {
  local f
  pam_ocserv_restore
  for f in "${PAM_MADE_FILES[@]}"; do rm -f "$f"; done
  PAM_MADE_FILES=()
  if [ "$PAM_MADE_USER" = 1 ]; then
    userdel "$PAM_USER" 2>/dev/null || log "userdel $PAM_USER failed"
    PAM_MADE_USER=0
  fi
  return 0
}
