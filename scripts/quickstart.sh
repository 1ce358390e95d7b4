#!/usr/bin/env bash
# The main job: install what is missing, build the quick-start, run it.
#   bash scripts/quickstart.sh [build-directory]      (default: build)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}

bash "$here/scripts/install-dependencies.sh"
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j "$(nproc)" --target iris
"$build/examples/iris/iris" "$here/examples/iris/iris.csv" "$build/iris-model.h5"
