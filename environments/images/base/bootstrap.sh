#!/usr/bin/env bash
# Build debian:bookworm-slim locally from a Debian mirror and `docker import` it.
#
# For machines that cannot pull from a registry (air-gapped workshops, our CI):
# debootstrap a minbase rootfs, trim it the way the official slim image is trimmed,
# and import it under the same name, so every lab Dockerfile can say
# `FROM debian:bookworm-slim` unchanged.
#
# Usage: bootstrap.sh [--mirror URL] [--tag debian:bookworm-slim] [--force]
# Needs: root (debootstrap), docker, and debootstrap (apt-get install debootstrap).
set -euo pipefail

mirror="${LABKIT_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
tag="debian:bookworm-slim"
force=0
while [ $# -gt 0 ]; do
  case "$1" in
    --mirror) mirror="$2"; shift 2 ;;
    --tag) tag="$2"; shift 2 ;;
    --force) force=1; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "bootstrap.sh: unknown option '$1' (allowed: --mirror URL, --tag NAME, --force)" >&2; exit 2 ;;
  esac
done

if [ "$force" = 0 ] && docker image inspect "$tag" >/dev/null 2>&1; then
  echo "bootstrap: $tag already present; nothing to do (use --force to rebuild)"
  exit 0
fi
if ! command -v debootstrap >/dev/null 2>&1; then
  echo "bootstrap: debootstrap is missing. Fix: apt-get install -y debootstrap (or pull $tag from a registry)" >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "bootstrap: debootstrap needs root. Fix: sudo $0 $*" >&2
  exit 1
fi

work="$(mktemp -d /var/tmp/labkit-rootfs.XXXXXX)"
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"

echo "bootstrap: debootstrap --variant=minbase bookworm from $mirror"
if ! debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1; then
  echo "bootstrap: debootstrap failed; is the mirror $mirror reachable? Last lines of its log:" >&2
  tail -n 20 "$work/debootstrap.log" >&2
  exit 1
fi

# Trim like the official slim image.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
       "$root"/usr/share/man/* "$root"/usr/share/info/*
find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} + 2>/dev/null || true

cat > "$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
CFG
cat > "$root/etc/apt/apt.conf.d/docker-clean" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG
echo 'APT::Install-Recommends "false";' > "$root/etc/apt/apt.conf.d/docker-no-recommends"
cat > "$root/etc/apt/sources.list" <<SRC
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb ${LABKIT_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security} bookworm-security main
SRC

echo "bootstrap: docker import as $tag"
tar -C "$root" --numeric-owner -c . | docker import \
  -c 'CMD ["bash"]' \
  -c 'LABEL io.labkit.base=bootstrap' \
  - "$tag" >/dev/null
docker image inspect "$tag" --format 'bootstrap: {{.RepoTags}} {{.Size}} bytes'
