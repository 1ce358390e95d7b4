#!/bin/sh
# Builds the ROOT reader's libFuzzer target with clang++ and runs it for a while.
#   run_fuzz.sh SOURCE_DIR BUILD_DIR SHARED_DIR SECONDS
# Seeds come from the shared ROOT files (copied into a corpus under BUILD_DIR, never into the
# repository) and from files deepjet's writer makes here (make_seeds.cpp: nested vectors, strings,
# counted arrays, Double32_t / Float16_t, every codec). Exits 0 when clang++ is missing (the test
# is then reported as skipped).
set -eu
source_dir=$1
build_dir=$2
shared_dir=$3
seconds=$4
clang=${CLANGXX:-$(command -v clang++ || true)}
if [ -z "$clang" ]; then
  echo "SKIPPED: clang++ not found; the libFuzzer target needs clang (apt-get install clang)"
  exit 0
fi
mkdir -p "$build_dir/corpus"
binary="$build_dir/fuzz_root_reader"
if [ ! -x "$binary" ] || [ -n "$(find "$source_dir/include/deepjet/io" "$source_dir/tests/root/fuzz" -newer "$binary" -name '*.?pp' | head -1)" ]; then
  echo "building $binary with $clang"
  "$clang" -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$source_dir/include" "$source_dir/tests/root/fuzz/fuzz_root_reader.cpp" \
    -o "$binary" -lz -llzma -llz4 -lzstd
fi
# Seeds written by deepjet's writer (built without sanitizers: it only has to run once).
seeder="$build_dir/make_seeds"
if [ ! -x "$seeder" ] || [ -n "$(find "$source_dir/include/deepjet/io" "$source_dir/tests/root/fuzz" -newer "$seeder" -name '*.?pp' | head -1)" ]; then
  echo "building $seeder with $clang"
  "$clang" -std=c++20 -O1 -I"$source_dir/include" "$source_dir/tests/root/fuzz/make_seeds.cpp" \
    -o "$seeder" -lz -llzma -llz4 -lzstd
fi
"$seeder" "$build_dir/corpus"
# Seed corpus: small real files prefixed with the mode byte 0 (whole file).
for file in uproot-simple.root uproot-leaflist.root uproot-foriter.root uproot-empty.root \
            uproot-sample-6.20.04-zlib.root uproot-sample-6.20.04-lz4.root uproot-small-flat-tree.root \
            uproot-stl_containers.root uproot-small-evnt-tree-fullsplit.root; do
  if [ -f "$shared_dir/data/root/$file" ] && [ ! -f "$build_dir/corpus/seed-$file" ]; then
    { printf '\000'; cat "$shared_dir/data/root/$file"; } > "$build_dir/corpus/seed-$file"
  fi
done
exec "$binary" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 \
  -print_final_stats=1 "$build_dir/corpus"
