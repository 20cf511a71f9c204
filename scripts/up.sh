#!/usr/bin/env bash
# Install what is missing, build a release, and start a corral node in the foreground:
# HTTPS on 0.0.0.0:8006 (CORRAL_LISTEN), data in /var/lib/corral (CORRAL_DATA_DIR).
# On the first start root@pam's password is CORRAL_ROOT_PASSWORD if set, else generated and
# saved in <data dir>/initial-root-password. Extra arguments go to `corral serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
source scripts/env.sh
scripts/build.sh --release
exec "$CARGO_TARGET_DIR/release/corral" serve "$@"
