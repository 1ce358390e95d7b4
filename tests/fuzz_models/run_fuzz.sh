#!/bin/sh
# Builds the model readers' libFuzzer target (lwtnn JSON, Keras model_config, ONNX protobuf) with
# clang++ and runs it for a while.
#   run_fuzz.sh SOURCE_DIR BUILD_DIR SHARED_DIR SECONDS [extra libFuzzer options...]
# Seeds are written by the target itself at start-up (DEEPJET_FUZZ_SEED_DIR) from the shared model
# files and from small models deepjet builds, into BUILD_DIR/seeds, never into the repository; new
# inputs the fuzzer finds go to BUILD_DIR/corpus. Exits 0 when clang++, libonnx or nlohmann-json is
# missing (the test is then reported as skipped).
set -eu
source_dir=$1
build_dir=$2
shared_dir=$3
seconds=$4
shift 4
# deepjet's models take float template arguments (Dropout<0.1f>), which clang supports from 18 on.
clang=${CLANGXX:-}
if [ -z "$clang" ]; then
  for candidate in clang++ clang++-21 clang++-20 clang++-19 clang++-18; do
    path=$(command -v "$candidate" || true)
    if [ -n "$path" ] && [ "$("$path" -dumpversion | cut -d. -f1)" -ge 18 ]; then clang=$path; break; fi
  done
fi
if [ -z "$clang" ]; then
  echo "SKIPPED: clang++ 18 or newer not found; the libFuzzer target needs it (apt-get install clang-19 libclang-rt-19-dev)"
  exit 0
fi
for header in /usr/include/onnx/onnx_pb.h /usr/include/nlohmann/json.hpp; do
  if [ ! -f "$header" ]; then
    echo "SKIPPED: clang found, but $header is missing (libonnx-dev, nlohmann-json3-dev)"
    exit 0
  fi
done
mkdir -p "$build_dir/corpus" "$build_dir/seeds"
binary="$build_dir/fuzz_model_readers"
if [ ! -x "$binary" ] || [ -n "$(find "$source_dir/include/deepjet" "$source_dir/tests/fuzz_models" -newer "$binary" -name '*.?pp' | head -1)" ]; then
  echo "building $binary with $clang"
  # libonnx and protobuf are Debian's (built with GCC against libstdc++, which clang++ uses too).
  "$clang" -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -DONNX_NAMESPACE=onnx -DONNX_ML=1 -DDEEPJET_SHARED_DIR="\"$shared_dir\"" \
    -I"$source_dir/include" -isystem /usr/include/eigen3 -isystem /usr/include/hdf5/serial \
    "$source_dir/tests/fuzz_models/fuzz_model_readers.cpp" -o "$binary" \
    -L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5 -lonnx -lonnx_proto -lprotobuf \
    -lz -llzma -llz4 -lzstd -lpthread
fi
# HDF5's library keeps some allocations to its exit (see docs/testing.md), hence detect_leaks=0;
# the readers' own leaks would still show as growing RSS against -rss_limit_mb.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"
export DEEPJET_SHARED_DIR="$shared_dir"
export DEEPJET_FUZZ_SEED_DIR="$build_dir/seeds"
exec "$binary" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=1024 -max_len=1200000 -timeout=20 \
  -print_final_stats=1 "$@" "$build_dir/corpus" "$build_dir/seeds"
