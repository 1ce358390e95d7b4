#!/usr/bin/env bash
# The main job: install what is missing, build the DeepJet quick-start, and run the whole workflow
# on example jets it generates (generate, convert, train, predict, evaluate): about three minutes on
# two cores, build included. Prints the b vs udsg AUC and where the HTML report is.
#   bash scripts/quickstart.sh [build-directory] [extra quick-start options, e.g. --jets 10000]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
shift || true

bash "$here/scripts/install-dependencies.sh"
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j "$(nproc)" --target deepjet_quickstart
"$build/examples/deepjet/deepjet_quickstart" all --dir "$build/deepjet-quickstart" "$@"
