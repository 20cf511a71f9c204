#!/usr/bin/env bash
# Install what building, running and testing corral needs, skipping whatever is already there.
# Debian packages, the wasm32 target, wasm-bindgen-cli (exactly Cargo.lock's version, from
# crates.io), npm packages of end2end/ and, with --test, a Python venv with proxmoxer.
# usage: scripts/bootstrap.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
with_tests=0
[ "${1:-}" = "--test" ] && with_tests=1

say() { echo "bootstrap: $*"; }

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# QEMU runs the guests (its NFS block driver is in qemu-block-extra); qemu-img makes images.
packages=(gcc pkg-config brotli gzip ca-certificates openssh-client qemu-system-x86 qemu-block-extra)
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
if [ $with_tests = 1 ]; then
  # the lab (lab/lab.sh): namespaces, partitions, one sshd per node, an NFS server (Ganesha)
  packages+=(chromium python3-venv iproute2 iptables openssh-server nfs-ganesha nfs-ganesha-vfs rpcbind busybox-static)
fi
apt_install "${packages[@]}"
# Installing Debian's qemu-system-x86 removes a newer qemu-utils (from bookworm-backports) that
# some machines carry; qemu-img must then come back in the matching version.
command -v qemu-img >/dev/null 2>&1 || apt_install qemu-utils

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32 target"
  rustup target add wasm32-unknown-unknown
fi

want=$(scripts/wasm-bindgen-version.sh)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$want" != "$have" ]; then
  say "installing wasm-bindgen-cli $want (takes a few minutes once)"
  # Not --locked: its lockfile names a webpki-roots release the registry no longer serves.
  cargo install --quiet --root "$CORRAL_TOOLS" --version "$want" wasm-bindgen-cli
fi

if [ ! -x end2end/node_modules/.bin/wasm-opt ] || [ end2end/package-lock.json -nt end2end/node_modules/.stamp ]; then
  say "installing npm packages of end2end/ (no browser download)"
  (cd end2end && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.stamp)
fi

if [ $with_tests = 1 ]; then
  if [ ! -x "$CORRAL_VENV/bin/pytest" ] || ! "$CORRAL_VENV/bin/python" -c 'import proxmoxer, pve_exporter' 2>/dev/null; then
    say "creating the Python venv for conformance tests"
    python3 -m venv "$CORRAL_VENV"
    "$CORRAL_VENV/bin/pip" install --quiet --disable-pip-version-check -r tests/conformance/requirements.txt
  fi
fi
if [ $with_tests = 1 ]; then
  # the tiny Linux guest the guest tests boot (Debian's cloud kernel + a busybox initramfs)
  lab/mkguest.sh "$CORRAL_CACHE/guest" >/dev/null
fi
# cargo fuzz (crates.io) for the fuzz smoke run, where a nightly toolchain is there to use it.
if [ $with_tests = 1 ] && rustup toolchain list 2>/dev/null | grep -q '^nightly' && ! command -v cargo-fuzz >/dev/null; then
  say "installing cargo-fuzz (takes a few minutes once)"
  cargo install --quiet --locked --root "$CORRAL_TOOLS" cargo-fuzz
fi
say "ok"
