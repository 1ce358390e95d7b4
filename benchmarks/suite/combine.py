#!/usr/bin/env python3
"""Combine the benchmark suite's parts into one table and one JSON file (called by benchmarks/run.sh).

    combine.py DEEPJET_JSON TORCH_JSON|- COMPILE_JSON|- OUTPUT_JSON [DEEPJET_O3_JSON [DEEPJET_AVX2_JSON [ORT_JSON|-]]]

DEEPJET_JSON is deepjet_benchmarks' output, TORCH_JSON torch_benchmarks.py's ("-" when PyTorch is
absent), COMPILE_JSON compile_cost/measure.py's ("-" when it was not run), DEEPJET_O3_JSON the
same suite compiled at -O3 (deepjet_benchmarks_o3; its figures go in the column "deepjet -O3"),
DEEPJET_AVX2_JSON the suite with AVX2 kernels (deepjet_benchmarks_avx2; a second table, fractions of
the AVX2 peak measured by that run), ORT_JSON onnxruntime_benchmarks.js's figures for the same DeepJet
(same weights, exported by export_deepjet_onnx) at batches 1, 30, 32 and 1024 (a third table: the
one-thread inference figures beside ONNX Runtime's). Ratio = how many times
faster deepjet is than PyTorch (> 1: deepjet faster; for the latency, PyTorch's time over ours).
Fractions of peak: the figure's FLOPs per second over the machine's measured AVX-512 FMA peak
(one thread or two threads, as the figure), for both frameworks with the same FLOP count.
The two-thread inference figures appear twice: against PyTorch with torch.set_num_threads(2) (one
call spread over both cores) and against two independent one-thread PyTorch processes (the
counterpart of deepjet's two callers sharing one model).
"""
import json
import sys


def load(path):
    if path == "-":
        return None
    with open(path) as f:
        return json.load(f)


ours = load(sys.argv[1])
torch = load(sys.argv[2])
compile_cost = load(sys.argv[3])
output = sys.argv[4]
ours_o3 = load(sys.argv[5]) if len(sys.argv) > 5 else None
figs_o3 = ours_o3["figures"] if ours_o3 else {}
ours_avx2 = load(sys.argv[6]) if len(sys.argv) > 6 else None
onnxruntime = load(sys.argv[7]) if len(sys.argv) > 7 else None
figs = ours["figures"]
theirs = torch["figures"] if torch else {}


def peak(threads, clock):
    return figs["peak_avx512_2t" if threads > 1 else "peak_avx512_1t"][clock]


# Rows: every deepjet figure beside PyTorch's figure of the same key; the two-thread inference
# figures also beside PyTorch run as two independent one-thread processes (key ..._2p).
entries = []
for key, f in figs.items():
    entries.append((key, f["label"], f, theirs.get(key)))
    if key.startswith("inference_") and key.endswith("_2t"):
        alternative = key[:-2] + "2p"
        if alternative in theirs:
            entries.append((alternative, f["label"].replace("2 threads", "2 thr. vs PyTorch 2 proc."), f,
                            theirs[alternative]))

rows = []
for key, label, f, t in entries:
    row = {"key": key, "label": label, "unit": f["unit"], "threads": f["threads"],
           "deepjet_cpu": f["cpu"], "deepjet_wall": f["wall"]}
    o3 = figs_o3.get(key if key in figs else key[:-2] + "2t")
    if o3:
        row["deepjet_o3_cpu"], row["deepjet_o3_wall"] = o3["cpu"], o3["wall"]
        if f["flops_per_unit"] > 0:
            o3_peak = figs_o3["peak_avx512_2t" if f["threads"] > 1 else "peak_avx512_1t"]["cpu"]
            row["deepjet_o3_peak_fraction_cpu"] = o3["cpu"] * f["flops_per_unit"] * 1e-9 / o3_peak
    if t and not key.startswith("peak"):
        row["pytorch_cpu"], row["pytorch_wall"] = t["cpu"], t["wall"]
        lower_is_better = f["unit"] == "us"
        for clock in ("cpu", "wall"):
            a, b = f[clock], t[clock]
            row["ratio_" + clock] = (b / a if lower_is_better else a / b) if a > 0 and b > 0 else None
    if f["flops_per_unit"] > 0:
        for clock in ("cpu", "wall"):
            row["deepjet_peak_fraction_" + clock] = f[clock] * f["flops_per_unit"] * 1e-9 / peak(f["threads"], clock)
            if t:
                row["pytorch_peak_fraction_" + clock] = t[clock] * f["flops_per_unit"] * 1e-9 / peak(f["threads"], clock)
    rows.append(row)


def num(v, digits=0):
    if v is None:
        return "-"
    return ("{:,.%df}" % digits).format(v)


def pct(v):
    return "-" if v is None else "%.1f %%" % (100 * v)


def cpu_model():
    """The CPU's model name and its widest vector extensions, as /proc/cpuinfo gives them: the figures
    differ between machines, so each table says which one it was measured on."""
    model, flags = "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and model == "unknown CPU":
                    model = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    isa = [name for name, flag in (("AVX-512F", "avx512f"), ("AVX-512BW", "avx512bw"), ("AVX-512VL", "avx512vl"),
                                   ("AVX2", "avx2"), ("FMA", "fma")) if flag in flags]
    return model, ", ".join(isa) or "no AVX2"


machine_model, machine_isa = cpu_model()
lines = []
lines.append("machine: %s (%s)" % (machine_model, machine_isa))
lines.append("deepjet benchmark suite: kernels for %s (%s), %s cores; load average %s before, %s after" %
             (ours["arch"], ours["flags"], ours["cores"], ours["load_before"], ours["load_after"]))
if torch:
    lines.append("PyTorch %s (%s); '2 threads' = torch.set_num_threads(2), '2 proc.' = two one-thread processes" %
                 (torch["torch_version"], "; ".join(s.strip() for s in torch["config"][1:4])))
else:
    lines.append("PyTorch: ABSENT (/usr/bin/python3 cannot import torch) - its columns are empty")
lines.append("SHARED MACHINE: best of %s repetitions; main columns per second of the working threads' CPU time, "
             "wall-clock columns beside." % ours["repetitions"])
if ours_o3:
    lines.append("Column 'deepjet -O3': the same suite compiled at -O3 (deepjet_benchmarks_o3), load %s before, %s after"
                 % (ours_o3["load_before"], ours_o3["load_after"]))
lines.append("FLOPs: 2 per multiply-add of the matrix products; DeepJet forward %.3f MFLOP/jet, training 3x that."
             % (ours["deepjet_forward_flops_per_jet"] * 1e-6))
FORMAT = "| %-56s | %-7s | %12s | %12s | %9s | %9s | %9s | %12s | %12s | %12s | %9s |"
header = FORMAT % ("figure", "unit", "deepjet", "PyTorch", "ratio", "dj %peak", "pt %peak", "deepjet wall",
                   "PyTorch wall", "deepjet -O3", "-O3 %peak")
lines.append("")
lines.append(header)
lines.append("|" + "|".join("-" * (len(c) + 0) for c in header.split("|")[1:-1]) + "|")
for r in rows:
    digits = 1 if r["unit"] in ("GFLOP/s", "us") else 0
    lines.append(FORMAT % (
        r["label"], r["unit"], num(r["deepjet_cpu"], digits), num(r.get("pytorch_cpu"), digits),
        "-" if r.get("ratio_cpu") is None else "%.2fx" % r["ratio_cpu"],
        pct(r.get("deepjet_peak_fraction_cpu")), pct(r.get("pytorch_peak_fraction_cpu")),
        num(r["deepjet_wall"], digits), num(r.get("pytorch_wall"), digits), num(r.get("deepjet_o3_cpu"), digits),
        pct(r.get("deepjet_o3_peak_fraction_cpu"))))
if compile_cost:
    lines.append(FORMAT % ("Compile DeepJet training TU (fastest of 3, -O3)", "s",
                           "%.1f" % compile_cost["compile_seconds"], *["-"] * 8))
    lines.append(FORMAT % ("Compiler peak memory, DeepJet training TU", "MB",
                           "%d" % compile_cost["peak_compiler_memory_mb"], *["-"] * 8))
else:
    lines.append("(compile cost not measured)")
if ours_avx2:
    lines.append("")
    lines.append("deepjet with AVX2 kernels (%s, kernels for %s), load average %s before, %s after; same measurement, "
                 "fractions of the AVX2 peak:" % (ours_avx2["flags"], ours_avx2["arch"], ours_avx2["load_before"],
                                                  ours_avx2["load_after"]))
    lines.append("")
    AVX2_FORMAT = "| %-56s | %-7s | %12s | %12s | %9s | %12s |"
    avx2_header = AVX2_FORMAT % ("figure (AVX2 kernels)", "unit", "deepjet", "of AVX2 pk", "x AVX-512", "deepjet wall")
    lines.append(avx2_header)
    lines.append("|" + "|".join("-" * len(c) for c in avx2_header.split("|")[1:-1]) + "|")
    for key, f in ours_avx2["figures"].items():
        digits = 1 if f["unit"] in ("GFLOP/s", "us") else 0
        fraction = f.get("fraction_of_peak_cpu")
        versus = None
        if key in figs and not key.startswith("peak") and f["cpu"] > 0:
            versus = figs[key]["cpu"] / f["cpu"] if f["unit"] != "us" else f["cpu"] / figs[key]["cpu"]
        lines.append(AVX2_FORMAT % (f["label"], f["unit"], num(f["cpu"], digits), pct(fraction),
                                    "-" if versus is None else "%.2fx" % versus, num(f["wall"], digits)))
    lines.append("('x AVX-512': how many times faster the -O2 AVX-512 build of the main table is, per CPU-second.)")
# deepjet's one-thread inference figures beside ONNX Runtime's on the same network and weights.
ort_rows = []
if onnxruntime:
    ort_model = onnxruntime["models"]["deepjet"]
    for key, batch, latency in (("inference_b1_1t", 1, False), ("latency_1jet_us", 1, True),
                                ("inference_b30_1t", 30, False), ("latency_event30_us", 30, True),
                                ("inference_b32_1t", 32, False), ("inference_b1024_1t", 1024, False)):
        f, o = figs.get(key), ort_model.get("batch_%d" % batch)
        if not f or not o:
            continue
        row = {"key": key, "label": f["label"], "unit": f["unit"], "deepjet_cpu": f["cpu"], "deepjet_wall": f["wall"]}
        for clock in ("cpu", "wall"):
            row["onnxruntime_" + clock] = batch * 1e6 / o[clock] if latency else o[clock]
            a, b = row["deepjet_" + clock], row["onnxruntime_" + clock]
            row["ratio_onnxruntime_" + clock] = (b / a if latency else a / b) if a > 0 and b > 0 else None
        ort_rows.append(row)
    lines.append("")
    lines.append("deepjet beside ONNX Runtime %s (npm onnxruntime-node, one intra-op thread, all graph optimisations) "
                 "on the same DeepJet with the same weights (export_deepjet_onnx), measured in the same run:"
                 % onnxruntime.get("version", ""))
    lines.append("")
    ORT_FORMAT = "| %-56s | %-7s | %12s | %12s | %9s | %12s | %12s | %9s |"
    ort_header = ORT_FORMAT % ("figure (one thread)", "unit", "deepjet", "ONNX Runtime", "ratio", "deepjet wall",
                               "ORT wall", "ratio wall")
    lines.append(ort_header)
    lines.append("|" + "|".join("-" * len(c) for c in ort_header.split("|")[1:-1]) + "|")
    for r in ort_rows:
        digits = 1 if r["unit"] == "us" else 0
        ratio = lambda v: "-" if v is None else "%.2fx" % v
        lines.append(ORT_FORMAT % (r["label"], r["unit"], num(r["deepjet_cpu"], digits), num(r["onnxruntime_cpu"], digits),
                                   ratio(r["ratio_onnxruntime_cpu"]), num(r["deepjet_wall"], digits),
                                   num(r["onnxruntime_wall"], digits), ratio(r["ratio_onnxruntime_wall"])))
    lines.append("(ratio: how many times faster deepjet is; for the latencies, ONNX Runtime's time over deepjet's.)")
elif len(sys.argv) > 7:
    lines.append("")
    lines.append("ONNX Runtime: ABSENT (no onnxruntime-node or no deepjet::onnx to export the network) - no ONNX Runtime table")
text = "\n".join(lines)
print(text)
with open(output, "w") as f:
    json.dump({"machine": {"cpu": machine_model, "instruction_sets": machine_isa}, "deepjet": ours, "deepjet_o3": ours_o3, "deepjet_avx2": ours_avx2, "pytorch": torch,
               "compile_cost": compile_cost, "rows": rows, "onnxruntime": onnxruntime, "onnxruntime_rows": ort_rows,
               "table": text}, f, indent=1)
    f.write("\n")
print("\nwritten: %s" % output)
