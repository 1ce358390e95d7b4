#!/usr/bin/env bash
# The benchmark suite (issue 7) in one command: deepjet's figures beside PyTorch's, measured in the
# same run, with their fractions of the machine's measured FMA peak; one table on stdout, and the
# same as JSON.
#
#   benchmarks/run.sh [OUTPUT_JSON] [--quick] [--no-compile-cost]
#
#   OUTPUT_JSON        where the combined JSON goes (default: benchmarks/results.json)
#   --quick            fewer, shorter repetitions (a smoke test of the suite; figures rougher)
#   --no-compile-cost  skip benchmarks/compile_cost/measure.py (three compiles of the training TU)
#   BUILD_DIR=...      build directory (default: build-bench in the repository; configured as
#                      Release if it has no CMakeCache.txt)
#
# Steps:
#   1. builds the target deepjet_benchmarks (benchmarks/suite/deepjet_benchmarks.cpp, -O2
#      -march=native) and runs it: FMA peak (AVX-512, AVX2; 1 and 2 threads), DeepJet inference at
#      batch 1/32/1024 on 1 and 2 threads, single-jet latency, training at batch 1024 on 1 and 2
#      threads, Dense 265->200, pointwise Conv1D 16->64 x25, LSTM 8->150 x25, Conv1D k=3 32->32 x100;
#      then the same source built at -O3 (deepjet_benchmarks_o3: the table's "deepjet -O3" column)
#      and with AVX2 kernels (deepjet_benchmarks_avx2, -O2 -mno-avx512f: a second, smaller table);
#   2. runs benchmarks/suite/torch_benchmarks.py with Debian's /usr/bin/python3 (python3-torch) for
#      the same figures, if `import torch` works there; otherwise says PyTorch is absent and carries on;
#      then ONNX Runtime (npm onnxruntime-node, one intra-op thread) on the same DeepJet with the same
#      weights (exported by export_deepjet_onnx, which needs libonnx-dev) at batches 1, 30, 32 and 1024,
#      if node and onnxruntime-node are installed; a third table puts deepjet's one-thread inference
#      figures beside its;
#   3. runs benchmarks/compile_cost/measure.py (compile time and compiler memory of the DeepJet
#      training translation unit);
#   4. benchmarks/suite/combine.py prints the table (figure | deepjet | PyTorch | ratio | fractions
#      of peak | wall-clock figures) and writes the JSON;
#   5. benchmarks/suite/serving_memory.py: peak memory of one process serving DeepJet on 8 threads
#      (one Predictor, 8 workspaces; target serving_memory) beside ONNX Runtime's on the same
#      network (node, onnxruntime-node), batches 1, 30 and 1024; its own table after the main one,
#      its JSON beside OUTPUT_JSON (*.serving_memory.json).
# The table's header carries the machine's load average (/proc/loadavg) before and after: on a
# shared machine figures are the best of several repetitions, headline columns per second of the
# working threads' CPU time (less sensitive to other processes than wall-clock rates, also shown).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build-bench}"
output="$root/benchmarks/results.json"
quick=""
compile_cost=1
for arg in "$@"; do
  case "$arg" in
    --quick) quick="--quick" ;;
    --no-compile-cost) compile_cost=0 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) output="$arg" ;;
  esac
done
python=python3
[ -x /usr/bin/python3 ] && python=/usr/bin/python3
work="$(mktemp -d /tmp/deepjet-benchmarks.XXXXXX)"
trap 'rm -rf "$work"' EXIT

echo "== building deepjet_benchmarks in $build" >&2
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >&2
fi
cmake --build "$build" -j2 --target deepjet_benchmarks >&2
cmake --build "$build" -j2 --target deepjet_benchmarks_o3 >&2
cmake --build "$build" -j2 --target deepjet_benchmarks_avx2 >&2
cmake --build "$build" -j2 --target serving_memory >&2

echo "== deepjet figures (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
"$build/benchmarks/deepjet_benchmarks" "$work/deepjet.json" $quick >&2
echo "== deepjet figures at -O3 (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
"$build/benchmarks/deepjet_benchmarks_o3" "$work/deepjet_o3.json" $quick >&2
echo "== deepjet figures with AVX2 kernels (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
"$build/benchmarks/deepjet_benchmarks_avx2" "$work/deepjet_avx2.json" $quick >&2

torch_json=-
if /usr/bin/python3 -c "import torch" >/dev/null 2>&1; then
  echo "== PyTorch figures (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  if /usr/bin/python3 "$root/benchmarks/suite/torch_benchmarks.py" $quick >"$work/torch.json"; then
    torch_json="$work/torch.json"
  else
    echo "   the PyTorch benchmark failed; carrying on without PyTorch's figures" >&2
  fi
else
  echo "== PyTorch is ABSENT (/usr/bin/python3 cannot import torch; Debian: apt install python3-torch):" \
       "the table has deepjet's figures only" >&2
fi

# ONNX Runtime on the same DeepJet (same weights): export it, then run it at the suite's batches.
ort_json=-
ort_node="$root/scripts/onnxruntime/node_modules/onnxruntime-node"
if command -v node >/dev/null 2>&1 && [ -d "$ort_node" ] &&
   cmake --build "$build" -j2 --target export_deepjet_onnx >&2 2>/dev/null; then
  echo "== ONNX Runtime figures (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  if "$build/benchmarks/export_deepjet_onnx" "$work/deepjet.onnx" &&
     node "$root/benchmarks/suite/onnxruntime_benchmarks.js" $quick --batches 1,30,32,1024 deepjet="$work/deepjet.onnx" \
       >"$work/onnxruntime.json"; then
    ort_json="$work/onnxruntime.json"
  else
    echo "   the ONNX Runtime benchmark failed; carrying on without its figures" >&2
  fi
else
  echo "== ONNX Runtime is ABSENT (needs node, scripts/install-dependencies.sh --onnxruntime, and libonnx-dev for" \
       "export_deepjet_onnx): no ONNX Runtime table" >&2
fi

compile_json=-
if [ "$compile_cost" = 1 ]; then
  echo "== compile cost of the DeepJet training translation unit (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  if "$python" "$root/benchmarks/compile_cost/measure.py" "$build" --json "$work/compile.json" >&2; then
    compile_json="$work/compile.json"
  else
    echo "   compile cost measurement failed; carrying on without it" >&2
  fi
fi

echo >&2
"$python" "$root/benchmarks/suite/combine.py" "$work/deepjet.json" "$torch_json" "$compile_json" "$output" \
  "$work/deepjet_o3.json" "$work/deepjet_avx2.json" "$ort_json"

echo >&2
echo "== memory of one process serving DeepJet on 8 threads (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
"$python" "$root/benchmarks/suite/serving_memory.py" "$build" --threads 8 --json "${output%.json}.serving_memory.json"
