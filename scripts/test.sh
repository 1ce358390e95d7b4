#!/usr/bin/env bash
# The test command: install what is missing, configure, build the tests and examples (the benchmarks
# build on demand, benchmarks/run.sh), run every test.
#   bash scripts/test.sh [build-directory]      (default: build)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
jobs=$(nproc)

bash "$here/scripts/install-dependencies.sh" --test-runtimes
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j "$jobs"
ctest --test-dir "$build" --output-on-failure -j "$jobs"
