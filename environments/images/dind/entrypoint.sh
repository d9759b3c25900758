#!/bin/sh
# Make /sys and the cgroup hierarchies writable for the inner dockerd, then become dockerd.
# A non-privileged container gets them read-only; CAP_SYS_ADMIN (from --cap-add ALL) lets us remount.
# Extra arguments (the container command) go to dockerd, e.g. `--debug`.
set -eu
say() { echo "labkit-dind: $*" >&2; }

mount -o remount,rw /sys || { say "cannot remount /sys read-write (missing CAP_SYS_ADMIN or systempaths=unconfined?)"; exit 1; }

if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  # cgroup v2 (unified): move ourselves into a child group so the root can delegate controllers
  # (the nesting step of moby's hack/dind). Not exercised on the cgroup v1 CI machines.
  mount -o remount,rw /sys/fs/cgroup
  mkdir -p /sys/fs/cgroup/init
  xargs -rn1 < /sys/fs/cgroup/cgroup.procs > /sys/fs/cgroup/init/cgroup.procs || :
  sed -e 's/ / +/g' -e 's/^/+/' < /sys/fs/cgroup/cgroup.controllers > /sys/fs/cgroup/cgroup.subtree_control
else
  # cgroup v1: each controller is its own bind mount; busybox's `remount,rw` fails on these, util-linux's works.
  for d in /sys/fs/cgroup/*; do
    [ -d "$d" ] || continue
    mount -o remount,bind,rw "$d" || { say "cannot remount $d read-write"; exit 1; }
  done
fi

say "starting dockerd $*"
exec dockerd --host=unix:///var/run/docker.sock "$@"
