#!/usr/bin/env bash
# Run every test of corral: Rust unit and integration tests (real daemons over HTTPS), the
# proxmoxer conformance suite, and the browser tests in Chromium. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --test
source scripts/env.sh

scripts/build.sh

echo "== Rust unit and integration tests"
cargo test --locked --lib --bins --tests

echo "== proxmoxer conformance"
"$CORRAL_VENV/bin/pytest" -q tests/conformance

echo "== browser tests (Playwright + /usr/bin/chromium)"
(cd end2end && npx playwright test)

echo "== fuzz smoke (cargo fuzz: each target for ${CORRAL_FUZZ_SECS:=20} s)"
scripts/fuzz.sh "$CORRAL_FUZZ_SECS"
