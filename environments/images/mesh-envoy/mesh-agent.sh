#!/bin/sh
# labkit mesh agent: the part of Istio's pilot-agent that runs before Envoy, reduced to its core.
# labkit delivers the workload's identity (certificate, key, CA) and its Envoy bootstrap into this container
# (docker cp, i.e. the engine's archive API) and finally the marker file .ready; the agent waits for it, then
# becomes Envoy (exec: Envoy is PID 1, so `docker stop`/`kill` reach it). Extra arguments go to Envoy.
set -eu
BOOT=${MESH_BOOTSTRAP:-/etc/mesh/boot/envoy.json}
WAIT_S=${MESH_WAIT_S:-60}
tries=$((WAIT_S * 20))
while [ ! -e "$(dirname "$BOOT")/.ready" ]; do
  tries=$((tries - 1))
  if [ "$tries" -le 0 ]; then
    echo "mesh-agent: no bootstrap delivered to $BOOT within ${WAIT_S}s" >&2
    exit 78
  fi
  sleep 0.05
done
exec /usr/local/bin/envoy -c "$BOOT" "$@"
