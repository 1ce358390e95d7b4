#!/usr/bin/env bash
# Install the Debian packages deepjet's build, tests and examples use. Idempotent: packages that
# are already installed are skipped, and nothing is downloaded when all are present.
#   bash scripts/install-dependencies.sh            build, tests, examples
#   bash scripts/install-dependencies.sh --torch    also PyTorch, for regenerating fixtures and the
#                                                   PyTorch side of the benchmarks
#   bash scripts/install-dependencies.sh --test-runtimes  also the npm packages the tests run: ONNX
#                                                   Runtime (export tests, benchmarks) and JSROOT
#                                                   (independent check of the ROOT writer)
#   bash scripts/install-dependencies.sh --onnxruntime   the same (older name)
set -euo pipefail

packages=(
  g++ cmake make pkg-config python3                      # toolchain; python3 runs scripts/amalgamate.py
  libeigen3-dev xtensor-dev xtl-dev libxsimd-dev         # math
  libhdf5-dev                                            # training, model and prediction files
  zlib1g-dev liblz4-dev libzstd-dev liblzma-dev          # ROOT basket decompression
  libgtest-dev libbenchmark-dev nlohmann-json3-dev       # tests and benchmarks
  clang                                                  # libFuzzer targets of the ROOT reader
  clang-19 libclang-rt-19-dev                            # the model readers' one (clang 18+: float template arguments)
  libonnx-dev libprotobuf-dev libonnx-testdata           # ONNX import/export and ONNX's node tests
  libopenmpi-dev openmpi-bin                             # distributed training and its tests (mpirun -n 2)
)
# Node.js runs ONNX Runtime (npm onnxruntime-node) for the export tests and benchmarks. Debian's
# nodejs/npm only where no node is installed: images that ship a newer Node.js conflict with them.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  packages+=(nodejs npm)
fi
if [[ " $* " == *" --torch "* ]]; then
  packages+=(python3-torch python3-h5py python3-numpy libopenblas0-pthread)
fi

# ONNX Runtime from npm into scripts/onnxruntime/node_modules (ignored by git); its install script
# downloads extra binaries that the CPU runtime does not need, hence --ignore-scripts.
install_onnxruntime() {
  local dir
  dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/onnxruntime
  if [[ ! -f "$dir/node_modules/onnxruntime-node/package.json" ]]; then
    echo "deepjet: installing onnxruntime-node from npm into $dir"
    (cd "$dir" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error)
  fi
}

# JSROOT, the ROOT team's JavaScript reader, from npm into scripts/jsroot/node_modules (ignored by
# git): tests/root/jsroot_dump.mjs reads the files deepjet's ROOT writer produces with it.
install_jsroot() {
  local dir
  dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/jsroot
  if [[ ! -f "$dir/node_modules/jsroot/package.json" ]]; then
    echo "deepjet: installing jsroot from npm into $dir"
    (cd "$dir" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error)
  fi
}

install_test_runtimes() {
  if [[ " $* " == *" --test-runtimes "* || " $* " == *" --onnxruntime "* ]]; then
    install_onnxruntime
    install_jsroot
  fi
}

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "deepjet: all ${#packages[@]} Debian packages are installed"
  install_test_runtimes "$@"
  exit 0
fi

as_root=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "deepjet: run as root (or install sudo) to install: ${missing[*]}" >&2; exit 1; }
  as_root=(sudo)
fi
echo "deepjet: installing ${missing[*]}"
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
install_test_runtimes "$@"
exit 0
