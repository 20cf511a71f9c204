#!/usr/bin/env bash
# Build the `corral` binary and the console bundle it serves, with plain cargo + wasm-bindgen
# (no cargo-leptos). Output: $CARGO_TARGET_DIR/{debug,release}/corral and .../site/.
# usage: scripts/build.sh [--release]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

release=0
[ "${1:-}" = "--release" ] && release=1
target=${CARGO_TARGET_DIR:-$PWD/target}
if [ $release = 1 ]; then
  out=$target/release; wasm_profile=wasm-release; wasm_dir=wasm-release; server_flags=(--release)
else
  out=$target/debug; wasm_profile=dev; wasm_dir=debug; server_flags=()
fi

want=$(scripts/wasm-bindgen-version.sh)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$want" != "$have" ]; then
  echo "build: wasm-bindgen CLI is '${have:-missing}', Cargo.lock needs $want - run scripts/bootstrap.sh" >&2
  exit 1
fi

echo "build: console bundle ($wasm_profile)"
cargo build -p corral-frontend --lib --target wasm32-unknown-unknown --profile "$wasm_profile"
site=$out/site
staging=$out/site.new
rm -rf "$staging"
mkdir -p "$staging/pkg"
wasm-bindgen --target web --no-typescript --out-dir "$staging/pkg" --out-name corral \
  "$target/wasm32-unknown-unknown/$wasm_dir/corral_frontend.wasm"
if [ $release = 1 ]; then
  # binaryen from npm (end2end/package.json); Debian's wasm-opt 108 produces a broken bundle.
  wasm_opt=end2end/node_modules/.bin/wasm-opt
  "$wasm_opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
    "$staging/pkg/corral_bg.wasm" -o "$staging/pkg/corral_bg.wasm"
fi
cp style/main.css "$staging/pkg/corral.css"
cp -r public/. "$staging/"
for f in "$staging"/pkg/*.wasm "$staging"/pkg/*.js "$staging"/pkg/*.css; do
  gzip -9 -k -f "$f"
  brotli -q "$([ $release = 1 ] && echo 11 || echo 5)" -k -f "$f"
done
rm -rf "$site"
mv "$staging" "$site"

echo "build: corral binary"
cargo build -p corral-server "${server_flags[@]}"
echo "build: done: $out/corral with $site"
