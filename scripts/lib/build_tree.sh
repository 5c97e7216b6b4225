# Shared by scripts/test, scripts/demo and scripts/bench: build directories and
# the configure-and-build step. Sourced, not run.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
build_jobs=${CELERIAC_BUILD_JOBS:-$(nproc)}

# build_tree NAME CMAKE_ARGS...: configure build/NAME (once) and build it.
build_tree() {
  local name=$1; shift
  local dir="$root/build/$name"
  echo "== build $name"
  cmake -S "$root" -B "$dir" -G Ninja -Wno-dev "$@" >"$dir.configure.log" 2>&1 ||
    { mkdir -p "$dir"; cat "$dir.configure.log" >&2; return 1; }
  cmake --build "$dir" -j "$build_jobs"
}
