#!/usr/bin/env bash
# Build a release and print the figures of docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
source scripts/env.sh
scripts/build.sh --release >/dev/null
python3 bench/foundation.py "$@"
