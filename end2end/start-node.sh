#!/usr/bin/env bash
# Start a throw-away corral node for the browser tests (Playwright's webServer).
# usage: start-node.sh PORT [NODE_NAME] [ADDRESS]   (uses the debug build of scripts/build.sh;
#        CORRAL_E2E_DATA=<dir> keeps the node's data there, e.g. to restart it)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
port=${1:-18006}
name=${2:-e2enode}
address=${3:-127.0.0.1}
data=${CORRAL_E2E_DATA:-$(mktemp -d /tmp/corral-e2e.XXXXXX)}
bin=${CORRAL_BIN:-$CARGO_TARGET_DIR/debug/corral}
export CORRAL_ROOT_PASSWORD=e2e-root-pw
export CORRAL_LOG=${CORRAL_LOG:-info,openraft=warn}
exec "$bin" serve --data-dir "$data/data" --listen "$address:$port" --node-name "$name" --stats-interval 2 \
  --auth-fail-delay-ms 200 --gossip-port 0 \
  --ssh-dir "$data/ssh-home"
