#!/usr/bin/env python3
"""Memory of one process serving DeepJet on several threads, deepjet beside ONNX Runtime (issue 17).

    python3 benchmarks/suite/serving_memory.py [BUILD_DIR] [--threads 8] [--seconds 1] [--json OUT.json]

deepjet: BUILD_DIR/benchmarks/serving_memory (target serving_memory: one Predictor of
deepjet::zoo::DeepJet shared by the threads, one Workspace each). ONNX Runtime: node with
benchmarks/suite/onnxruntime_serving_memory.js on the production DeepJet file
(DEEPJET_SHARED_DIR or ../shared: data/models/DeepFlavour_HLT_220104.onnx, the same network),
once with one session and the requests taking turns (its lower bound) and once with one session per
worker thread (its upper bound); see that file for why node cannot run one session from several
native threads. Each configuration is its own process (peak RSS is per process); batches 1 (one jet
per request, as CMSSW), 30 (an event) and 1024. The table gives each process's peak resident memory,
and the peak minus the resident memory before the model was loaded (what serving adds to the
program). ONNX Runtime missing (scripts/install-dependencies.sh --test-runtimes) is said, not fatal.
"""
import json
import os
import pathlib
import subprocess
import sys

root = pathlib.Path(__file__).resolve().parents[2]
args = sys.argv[1:]


def option(name, default):
    if name in args:
        i = args.index(name)
        value = args[i + 1]
        del args[i:i + 2]
        return value
    return default


threads = int(option("--threads", "8"))
seconds = option("--seconds", "1")
json_out = option("--json", None)
build = pathlib.Path(args[0]) if args else root / "build-bench"
shared = pathlib.Path(os.environ.get("DEEPJET_SHARED_DIR", root.parent / "shared"))
onnx_file = shared / "data" / "models" / "DeepFlavour_HLT_220104.onnx"
ort_script = root / "benchmarks" / "suite" / "onnxruntime_serving_memory.js"
have_ort = (root / "scripts" / "onnxruntime" / "node_modules" / "onnxruntime-node").is_dir() and onnx_file.is_file()
node = "/usr/bin/node" if pathlib.Path("/usr/bin/node").exists() else "node"

rows = []
for batch in (1, 30, 1024):
    runs = [[str(build / "benchmarks" / "serving_memory"), str(threads), str(batch), seconds]]
    if have_ort:
        runs += [[node, str(ort_script), str(onnx_file), str(threads), str(batch), seconds, mode]
                 for mode in ("shared", "workers")]
    for command in runs:
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))

if not have_ort:
    print("ONNX Runtime is ABSENT (scripts/onnxruntime/node_modules or %s missing): deepjet only" % onnx_file,
          file=sys.stderr)
print("Memory of one process serving DeepJet, %d threads (peak resident memory, MB)" % threads)
print("%-22s %6s %10s %12s %16s" % ("engine", "batch", "peak RSS", "peak - base", "requests served"))
for r in rows:
    print("%-22s %6d %10.1f %12.1f %16d" % (r["engine"], r["batch"], r["peak_rss_mb"],
                                          r["peak_rss_mb"] - r["baseline_rss_mb"], r["calls"]))
if json_out:
    pathlib.Path(json_out).write_text(json.dumps({"threads": threads, "runs": rows}, indent=1) + "\n")
