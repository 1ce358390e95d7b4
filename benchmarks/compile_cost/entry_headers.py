#!/usr/bin/env python3
"""Compile cost of a four-feature toy model through each of deepjet's entry headers.

    python3 benchmarks/compile_cost/entry_headers.py [build-directory]

A user who declares and runs a small network should not pay for the data path, ROOT and the
report. For each entry header (deepjet/layers.hpp ... deepjet/deepjet.hpp) this compiles one small
translation unit that includes only that header and does what the header is for with a toy model
(Input<4>, Dense 16, ReLU, Dense 3, Softmax), with the compile command CMake uses for the project's
own programs (from compile_commands.json: same compiler, -O3, -march=native, include paths), and
reports the fastest of three compiles and the compiler's peak memory. Run it on an idle machine.
"""
import json
import pathlib
import resource
import shlex
import subprocess
import sys
import tempfile
import time

TOY = "using Toy = deepjet::Sequential<deepjet::Input<4>, deepjet::Dense<16>, deepjet::ReLU, deepjet::Dense<3>, deepjet::Softmax>;\n"
# One training step of the toy: what deepjet/training.hpp (and deepjet/deepjet.hpp) is for.
TRAIN_STEP = TOY + """int main() {
  deepjet::Model<Toy> model(1);
  auto x = deepjet::make_tensors<Toy::input_shape>(8);
  xt::xtensor<float, 2> target = xt::zeros<float>({std::size_t{8}, std::size_t{3}});
  deepjet::Adam adam{.learning_rate = 1e-3};
  return model.train_step(x, target, nullptr, deepjet::CategoricalCrossEntropy{}, adam) >= 0 ? 0 : 1;
}
"""
# What each entry header is for, as the body of main() (a toy use that instantiates its templates).
UNITS = {
    "deepjet/layers.hpp": TOY + "int main() { return static_cast<int>(Toy::output_shape::size) == 3 ? 0 : 1; }\n",
    "deepjet/inference.hpp": TOY + """int main() {
  deepjet::Model<Toy> model(1);
  auto x = deepjet::make_tensors<Toy::input_shape>(8);
  return model.predict(x)(0, 0) >= 0.0f ? 0 : 1;
}
""",
    "deepjet/training.hpp": TRAIN_STEP,
    "deepjet/deepjet.hpp": TRAIN_STEP,
    "deepjet/data.hpp": "int main() { return 0; }\n",
    "deepjet/evaluation.hpp": "int main() { return 0; }\n",
    "deepjet/root.hpp": "int main() { return 0; }\n",
}

build = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "build")
commands = json.loads((build / "compile_commands.json").read_text())
entry = next(e for e in commands if e["file"].endswith("compile_cost/deepjet_training_unit.cpp"))
template = shlex.split(entry["command"]) if "command" in entry else entry["arguments"]


def compile_once(source, output):
    command = list(template)
    command[command.index("-o") + 1] = str(output)
    command[command.index("-c") + 1] = str(source)
    # Peak memory of this compile alone: run it from a fresh child whose children are only it.
    probe = ("import resource,subprocess,sys,time; t=time.monotonic(); subprocess.run(sys.argv[1:], check=True); "
             "print(time.monotonic()-t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", probe] + command, cwd=entry["directory"], check=True,
                         capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1]) / 1024.0


print("%-24s %9s %9s" % ("entry header", "seconds", "peak MB"))
with tempfile.TemporaryDirectory() as work:
    for header, body in UNITS.items():
        source = pathlib.Path(work) / (header.replace("/", "_").replace(".hpp", "") + ".cpp")
        source.write_text("#include <%s>\n\n%s" % (header, body))
        runs = [compile_once(source, source.with_suffix(".o")) for _ in range(3)]
        print("%-24s %9.1f %9.0f" % (header, min(r[0] for r in runs), max(r[1] for r in runs)))
