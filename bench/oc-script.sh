#!/bin/sh
# bench/oc-script.sh - minimal replacement for vpnc-script, given to openconnect with
# --script by bench/run.sh. Debian's vpnc-script would rewrite the HOST's
# /etc/resolv.conf (the mount namespace is shared) and forks many helpers (noisy setup
# times). This one only:
#   - brings $TUNDEV up with the server's MTU and gives it the VPN address (/32 p-t-p)
#   - adds the split-include routes via $TUNDEV unless RSB_NO_ROUTES=1 (many tunnels in
#     one namespace would collide on identical routes)
#   - writes a "tunnel configured" timestamp to $RSB_STAMP_DIR/$TUNDEV.up (setup time)
# It never touches DNS and never adds a default route.
# shellcheck disable=SC2154  # reason, TUNDEV, ... come from openconnect
set -e
case "$reason" in
  connect) ;;
  *) exit 0 ;;
esac
[ -n "$TUNDEV" ] || { echo "oc-script: no TUNDEV" >&2; exit 1; }
[ -n "$INTERNAL_IP4_ADDRESS" ] || { echo "oc-script: no IPv4 address from server" >&2; exit 1; }

ip link set dev "$TUNDEV" up mtu "${INTERNAL_IP4_MTU:-1400}"
ip addr add "$INTERNAL_IP4_ADDRESS/32" peer "$INTERNAL_IP4_ADDRESS" dev "$TUNDEV"
if [ "${RSB_NO_ROUTES:-0}" != 1 ]; then
  i=0
  while [ "$i" -lt "${CISCO_SPLIT_INC:-0}" ] && [ "$i" -lt 64 ]; do
    eval net=\"\$CISCO_SPLIT_INC_${i}_ADDR\" len=\"\$CISCO_SPLIT_INC_${i}_MASKLEN\"
    ip route replace "$net/$len" dev "$TUNDEV"
    i=$((i + 1))
  done
fi
if [ -n "$RSB_STAMP_DIR" ]; then
  date +%s.%N > "$RSB_STAMP_DIR/$TUNDEV.up.tmp" && mv "$RSB_STAMP_DIR/$TUNDEV.up.tmp" "$RSB_STAMP_DIR/$TUNDEV.up"
fi
exit 0
