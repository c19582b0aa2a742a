#!/bin/sh
# server-script.sh - connect-script and disconnect-script of the e2e server.
# The server runs it (as root, no arguments) with REASON, USERNAME, DEVICE,
# IP_REMOTE, ... in the environment; run.sh reads what it records.
#
# E2E_STATE (set by the wrapper run.sh renders) is the suite's state dir.
#   - always: `env | sort` -> $E2E_STATE/script/$USERNAME.$REASON.env (atomic rename)
#   - USERNAME=hang: sleep 600, then exit 0 (a hanging script must not block
#     other users; its PID goes to $E2E_STATE/script/hang.sleep.pid so the
#     suite can end it)
#   - USERNAME=deny: exit 1 (the server must refuse the tunnel)
#   - anyone else: exit 0
set -u
dir=${E2E_STATE:?E2E_STATE not set}/script
mkdir -p "$dir"
f=$dir/${USERNAME:-unknown}.${REASON:-unknown}.env
env | sort > "$f.tmp.$$" && mv -f "$f.tmp.$$" "$f"

case "${USERNAME:-}" in
  hang)
    if [ "${REASON:-}" = connect ]; then
      sleep 600 &
      echo $! > "$dir/hang.sleep.pid"
      wait $!
    fi
    exit 0 ;;
  deny) exit 1 ;;
  *) exit 0 ;;
esac
