#!/usr/bin/env python3
"""Compile cost of the DeepJet training translation unit: wall time and the compiler's peak memory.

    python3 benchmarks/compile_cost/measure.py [build-directory] [--json out.json]

Reruns the exact compile command CMake uses (from compile_commands.json) for
benchmarks/compile_cost/deepjet_training_unit.cpp, three times, and reports the fastest run and the
largest peak resident memory of any compiler process. Targets (issue 3): under 60 s and 2 GB on the
2-core CI machine. Another load on the machine slows the compile; run it on an idle machine.
"""
import json
import pathlib
import resource
import shlex
import subprocess
import sys
import time

build = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("--") else "build")
commands = json.loads((build / "compile_commands.json").read_text())
entry = next(e for e in commands if e["file"].endswith("compile_cost/deepjet_training_unit.cpp"))
command = shlex.split(entry["command"]) if "command" in entry else entry["arguments"]
output = pathlib.Path("/tmp") / "deepjet_training_unit.o"
command = [a if a != entry.get("output", "") else str(output) for a in command]
if "-o" in command:
    command[command.index("-o") + 1] = str(output)

walls = []
for _ in range(3):
    start = time.monotonic()
    subprocess.run(command, cwd=entry["directory"], check=True)
    walls.append(time.monotonic() - start)
peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
result = {"translation_unit": "benchmarks/compile_cost/deepjet_training_unit.cpp",
          "compile_seconds": round(min(walls), 2), "peak_compiler_memory_mb": round(peak_mb),
          "limit_seconds": 60, "limit_memory_mb": 2048}
print("DeepJet training translation unit: %.1f s (fastest of 3), %d MB peak compiler memory "
      "(targets: < 60 s, < 2048 MB)" % (result["compile_seconds"], result["peak_compiler_memory_mb"]))
if "--json" in sys.argv:
    pathlib.Path(sys.argv[sys.argv.index("--json") + 1]).write_text(json.dumps(result, indent=1) + "\n")
