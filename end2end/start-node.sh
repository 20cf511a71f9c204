#!/usr/bin/env bash
# Start a throw-away corral node for the browser tests (Playwright's webServer).
# Uses the debug build made by scripts/build.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
port=${1:-18006}
data=$(mktemp -d /tmp/corral-e2e.XXXXXX)
bin=${CORRAL_BIN:-$CARGO_TARGET_DIR/debug/corral}
export CORRAL_ROOT_PASSWORD=e2e-root-pw
exec "$bin" serve --data-dir "$data/data" --listen "127.0.0.1:$port" --node-name e2enode --stats-interval 2 \
  --auth-fail-delay-ms 200
