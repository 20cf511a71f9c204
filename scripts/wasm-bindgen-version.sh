#!/usr/bin/env bash
# Print the wasm-bindgen version Cargo.lock resolved; the CLI must be exactly this version.
set -euo pipefail
cd "$(dirname "$0")/.."
awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
