#!/usr/bin/env bash
# deepjet beside ONNX Runtime on the same ONNX files, one thread each, measured in the same run:
# CMS's production DeepJet and DeepDoubleX files (../shared/data/models), DeepAK8 when DEEPAK8_ONNX
# names its file, or the files given.
#
#   benchmarks/onnx_models.sh [--quick] [OUTPUT_JSON] [MODEL=FILE.onnx ...]
#
#   MODEL is a cms_models model name (deepjet-hlt, deepjet-run3, ...); FILE.onnx is imported into
#   that model's deepjet type by `cms_models benchmark` and run by ONNX Runtime
#   (benchmarks/suite/onnxruntime_benchmarks.js, npm onnxruntime-node, intraOpNumThreads 1).
#   BUILD_DIR=... build directory (default: build-bench, configured as Release when new).
# Prints one table: jets/s at batch 1 and 1024 per second of CPU time (wall clock beside), and the
# ratio deepjet / ONNX Runtime; writes the same as JSON (default benchmarks/onnx_results.json).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build-bench}"
models="$root/../shared/data/models"
output="$root/benchmarks/onnx_results.json"
quick=""
pairs=()
for arg in "$@"; do
  case "$arg" in
    --quick) quick="--quick" ;;
    *=*) pairs+=("$arg") ;;
    *) output="$arg" ;;
  esac
done
if ((${#pairs[@]} == 0)); then
  pairs=("deepjet-hlt=$models/DeepFlavour_HLT_220104.onnx" "deepjet-run3=$models/DeepJet_Run3_122X.onnx"
         "deepdoublex=$models/DeepDoubleX_V02_CvL.onnx")
  # CMS's DeepAK8 file is not in ../shared (cms-data/RecoBTag-Combined,
  # DeepBoostedJet/V02/full/resnet.onnx): give its path in DEEPAK8_ONNX to include it.
  [ -n "${DEEPAK8_ONNX:-}" ] && pairs+=("deepak8=$DEEPAK8_ONNX")
fi

bash "$root/scripts/install-dependencies.sh" --onnxruntime >&2
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >&2
fi
cmake --build "$build" -j2 --target cms_models >&2
work="$(mktemp -d /tmp/deepjet-onnx-benchmarks.XXXXXX)"
trap 'rm -rf "$work"' EXIT

echo "== deepjet (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
for pair in "${pairs[@]}"; do
  "$build/examples/cms_models/cms_models" benchmark "${pair%%=*}" "${pair#*=}" >"$work/${pair%%=*}.txt" 2>&2
  cat "$work/${pair%%=*}.txt" >&2
done
echo "== ONNX Runtime (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
node "$root/benchmarks/suite/onnxruntime_benchmarks.js" $quick "${pairs[@]}" >"$work/onnxruntime.json"

/usr/bin/env python3 - "$work" "$output" "${pairs[@]}" <<'EOF'
import json, re, sys
work, output, pairs = sys.argv[1], sys.argv[2], sys.argv[3:]
ort = json.load(open(f"{work}/onnxruntime.json"))
model_name = "unknown CPU"
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        model_name = line.split(":", 1)[1].strip()
        break
rows = []
for pair in pairs:
    name, path = pair.split("=", 1)
    ours = {}
    for line in open(f"{work}/{name}.txt"):
        m = re.search(r"batch\s+(\d+), 1 thread:\s+([\d.]+) jets/s per CPU second,\s+([\d.]+) per wall", line)
        if m:
            ours[int(m.group(1))] = (float(m.group(2)), float(m.group(3)))
    for batch in (1, 1024):
        theirs = ort["models"][name][f"batch_{batch}"]
        cpu, wall = ours[batch]
        rows.append({"model": name, "file": path, "batch": batch, "deepjet_cpu": cpu, "deepjet_wall": wall,
                     "onnxruntime_cpu": theirs["cpu"], "onnxruntime_wall": theirs["wall"],
                     "ratio_cpu": cpu / theirs["cpu"]})
print(f"machine: {model_name}; ONNX Runtime {ort['version']} (npm onnxruntime-node), 1 intra-op thread; deepjet 1 thread")
print("| model | batch | deepjet jets/s | ONNX Runtime jets/s | ratio | deepjet wall | ONNX Runtime wall |")
print("|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['model']} | {r['batch']} | {r['deepjet_cpu']:,.0f} | {r['onnxruntime_cpu']:,.0f} | "
          f"{r['ratio_cpu']:.2f}x | {r['deepjet_wall']:,.0f} | {r['onnxruntime_wall']:,.0f} |")
json.dump({"machine": model_name, "onnxruntime_version": ort["version"], "rows": rows}, open(output, "w"), indent=1)
print(f"(per second of CPU time; wall-clock columns beside; JSON in {output})")
EOF
