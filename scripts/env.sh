# Sourced by the build scripts: ccache, one shared cache. NOHASHDIR lets checkouts in other
# folders (CI clones) reuse it; only debug-info paths differ.
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.ccache}"
export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-5G}"
export CCACHE_NOHASHDIR=true
