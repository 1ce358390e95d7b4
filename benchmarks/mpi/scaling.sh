#!/usr/bin/env bash
# Training speed of the quick-start as 1 process x 1 thread, 1 process x 2 threads and 2 ranks x
# 1 thread (mpirun), on the same converted data, and the gradient exchange of one step
# (ordered_sum_benchmark) beside MPI_Allreduce. docs/distributed.md quotes its output.
#   bash benchmarks/mpi/scaling.sh [build dir (build)] [work dir (/tmp/deepjet-mpi-scaling)]
set -euo pipefail
build=${1:-build}
work=${2:-/tmp/deepjet-mpi-scaling}
quickstart=$build/examples/deepjet/deepjet_quickstart
size=(--files 4 --jets 5000 --test-jets 1000 --epochs 2 --batch 500)
mpirun=(mpirun --oversubscribe)
# As root (containers) Open MPI asks for these.
if [[ $(id -u) -eq 0 ]]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi

lscpu | grep "Model name"
if [[ ! -f $work/data/converted/collection.h5 ]]; then
  "$quickstart" generate --dir "$work/data" "${size[@]}" >/dev/null
  "$quickstart" convert --dir "$work/data" "${size[@]}" >/dev/null 2>&1
fi
run() {  # name, threads, launcher (mpirun ...) or nothing
  local name=$1 threads=$2; shift 2
  rm -rf "$work/$name"
  mkdir -p "$work/$name"
  cp -r "$work/data/converted" "$work/$name/converted"
  local start=$(date +%s.%N)
  "$@" "$quickstart" train --dir "$work/$name" "${size[@]}" --threads "$threads" > "$work/$name.log" 2>&1
  local end=$(date +%s.%N)
  # jets/s of the second epoch (the first includes the start-up), and the weights' fingerprint
  printf "%-22s %s  epoch 2: %s jets/s  wall %.1f s\n" "$name" "$(grep -o 'fingerprint [0-9a-f]*' "$work/$name.log")" \
    "$(grep 'epoch 2/2' "$work/$name.log" | grep -o '[0-9]* jets/s' | cut -d' ' -f1)" "$(echo "$end - $start" | bc)"
}
run "1 process x 1 thread" 1
run "1 process x 2 threads" 2
run "2 ranks x 1 thread" 1 "${mpirun[@]}" -n 2
"${mpirun[@]}" -n 2 "$build/benchmarks/ordered_sum_benchmark" 268258 200
