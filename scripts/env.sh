# Sourced by the scripts: where builds and tools live (outside the clone, so clean clones and CI
# reuse them).
export CORRAL_CACHE=${CORRAL_CACHE:-$HOME/.cache/corral}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CORRAL_CACHE/target}
export CORRAL_TOOLS=${CORRAL_TOOLS:-$CORRAL_CACHE/tools}
export CORRAL_VENV=${CORRAL_VENV:-$CORRAL_CACHE/venv}
export PATH="$CORRAL_TOOLS/bin:$HOME/.cargo/bin:$PATH"
