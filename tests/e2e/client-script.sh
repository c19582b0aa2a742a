#!/bin/sh
# client-script.sh - minimal vpnc-script replacement for `openconnect --script`
# (Debian's vpnc-script would rewrite the host's /etc/resolv.conf and may add
# a default route; this one never touches DNS and never adds a default route).
#
# On reason=connect it
#   - dumps its environment (`env | sort`) to $E2E_CLI_DIR/$TUNDEV.env, so the
#     suite can check INTERNAL_IP4_*, CISCO_SPLIT_INC*/EXC*, CISCO_DEF_DOMAIN,
#     CISCO_BANNER, ...
#   - brings $TUNDEV up with the server's MTU and gives it the /32 address
#   - adds the split-include routes via $TUNDEV unless E2E_NO_ROUTES=1 (several
#     tunnels in one namespace would collide on identical routes; those tests
#     ping with -I TUNDEV instead)
#   - writes $E2E_CLI_DIR/$TUNDEV.up last (atomic): "tunnel configured".
# shellcheck disable=SC2154  # reason, TUNDEV, ... come from openconnect
set -e

case "$reason" in
  connect) ;;
  *) exit 0 ;;   # pre-init, disconnect, attempt-reconnect, reconnect
esac

[ -n "$TUNDEV" ] || { echo "client-script: no TUNDEV" >&2; exit 1; }
[ -n "$INTERNAL_IP4_ADDRESS" ] || { echo "client-script: no IPv4 address" >&2; exit 1; }
dir=${E2E_CLI_DIR:-}

if [ -n "$dir" ]; then
  env | sort > "$dir/$TUNDEV.env.tmp" && mv -f "$dir/$TUNDEV.env.tmp" "$dir/$TUNDEV.env"
fi

ip link set dev "$TUNDEV" up mtu "${INTERNAL_IP4_MTU:-1400}"
ip addr add "$INTERNAL_IP4_ADDRESS/32" peer "$INTERNAL_IP4_ADDRESS" dev "$TUNDEV"

if [ "${E2E_NO_ROUTES:-0}" != 1 ]; then
  i=0
  while [ "$i" -lt "${CISCO_SPLIT_INC:-0}" ]; do
    eval net=\"\$CISCO_SPLIT_INC_${i}_ADDR\" len=\"\$CISCO_SPLIT_INC_${i}_MASKLEN\"
    case "$net/$len" in
      *[!0-9./]*|/*|*/) echo "client-script: bad split route '$net/$len'" >&2; exit 1 ;;
    esac
    ip route replace "$net/$len" dev "$TUNDEV"
    i=$((i + 1))
  done
fi

if [ -n "$dir" ]; then
  date +%s.%N > "$dir/$TUNDEV.up.tmp" && mv -f "$dir/$TUNDEV.up.tmp" "$dir/$TUNDEV.up"
fi
exit 0
