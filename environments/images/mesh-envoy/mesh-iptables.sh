#!/bin/sh
# labkit mesh init step: install the sidecar's traffic capture in the app's network namespace, the way
# Istio's istio-init does (nat table, REDIRECT). Run once, as root, with NET_ADMIN only, then exit:
#   docker run --rm --network container:<app> --cap-add NET_ADMIN --user 0 \
#              --entrypoint /usr/local/bin/mesh-iptables.sh labkit/mesh-envoy:<tag>
# Prints the nat table afterwards (what `iptables -t nat -S` shows), so the capture can be read.
# Environment: PROXY_UID (1337), INBOUND_PORT (15006), OUTBOUND_PORT (15001),
#              EXCLUDE_INBOUND_PORTS ("15000"), IPTABLES (iptables | iptables-legacy | iptables-nft),
#              MODE (install | remove | show)
set -eu
PROXY_UID=${PROXY_UID:-1337}
INBOUND_PORT=${INBOUND_PORT:-15006}
OUTBOUND_PORT=${OUTBOUND_PORT:-15001}
EXCLUDE_INBOUND_PORTS=${EXCLUDE_INBOUND_PORTS:-15000}
IPT=${IPTABLES:-iptables}
MODE=${MODE:-install}

if [ "$MODE" = show ]; then exec $IPT -t nat -S; fi
# idempotent: drop our chains first
for hook in PREROUTING:MESH_INBOUND OUTPUT:MESH_OUTPUT; do
  $IPT -t nat -D "${hook%%:*}" -p tcp -j "${hook##*:}" 2>/dev/null || true
  $IPT -t nat -F "${hook##*:}" 2>/dev/null || true
  $IPT -t nat -X "${hook##*:}" 2>/dev/null || true
done
[ "$MODE" = remove ] && exit 0

# Inbound: every TCP connection arriving from outside goes to Envoy's inbound listener,
# except the admin/metrics port(s) (Prometheus must reach them without mTLS).
$IPT -t nat -N MESH_INBOUND
for p in $(echo "$EXCLUDE_INBOUND_PORTS" | tr ',' ' '); do
  $IPT -t nat -A MESH_INBOUND -p tcp --dport "$p" -j RETURN
done
$IPT -t nat -A MESH_INBOUND -p tcp -j REDIRECT --to-ports "$INBOUND_PORT"
$IPT -t nat -A PREROUTING -p tcp -j MESH_INBOUND

# Outbound: every TCP connection the app opens goes to Envoy's outbound listener, except
# Envoy's own (uid match: no loop) and loopback (app <-> sidecar, Docker's DNS at 127.0.0.11).
$IPT -t nat -N MESH_OUTPUT
$IPT -t nat -A MESH_OUTPUT -m owner --uid-owner "$PROXY_UID" -j RETURN
$IPT -t nat -A MESH_OUTPUT -d 127.0.0.0/8 -j RETURN
$IPT -t nat -A MESH_OUTPUT -p tcp -j REDIRECT --to-ports "$OUTBOUND_PORT"
$IPT -t nat -A OUTPUT -p tcp -j MESH_OUTPUT
echo "# mesh-iptables: installed with $($IPT -V)"
exec $IPT -t nat -S
