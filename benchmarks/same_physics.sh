#!/usr/bin/env bash
# Same physics as PyTorch: deepjet and PyTorch train the same network of a quick-start template, with
# the same recipe, on the same converted files, and are evaluated on the same test jets; prints both
# headline AUCs side by side (deepjet must be within 0.005 of PyTorch) and both training speeds.
#
#   benchmarks/same_physics.sh [DIR]                   DeepJet (default DIR: same-physics)
#   TEMPLATE=boosted benchmarks/same_physics.sh [DIR]  DeepAK8 (default DIR: same-physics-boosted)
#
#   TEMPLATE   quick-start         PyTorch script                     headline AUC
#   deepjet    deepjet_quickstart  scripts/torch_deepjet_train.py     b vs udsg  (jet_pt > 30, |jet_eta| < 2.5)
#   boosted    boosted_quickstart  scripts/torch_boosted_train.py     top vs QCD (fj_pt > 300, |fj_eta| < 2.4)
# (both scripts take their weighter, split, AUC and training loop from scripts/torch_same_physics.py)
#
# Environment (defaults = the template's quick-start defaults):
#   deepjet: FILES=4 JETS=25000 TEST_JETS=25000 EPOCHS=4 BATCH=500
#   boosted: FILES=3 JETS=10000 TEST_JETS=10000 EPOCHS=3 BATCH=256
#   THREADS=2
#   SEEDS="1"      training seeds; every seed trains both frameworks once on the same data (the
#                  data are generated with the first seed). With several seeds the table shows
#                  each run and the mean and spread (min..max) of both AUCs.
#   QUICKSTART=    the quick-start binary (default: build/examples/<template>/<template>_quickstart
#                  of this repository, built if missing)
#   PYTHON=/usr/bin/python3   Debian's Python with python3-torch and python3-h5py
#
# Steps: `<quick-start> all` on DIR with the first seed (generate, convert, train, predict,
# evaluate), `<PyTorch script> DIR --check` (its weighter and AUCs against deepjet's on deepjet's
# own predictions), then the PyTorch script on DIR with the same options.
# A further seed k trains deepjet in DIR/seed_k (links to DIR's sources and converted files:
# the same data) and PyTorch into DIR/torch_results_seed_k.json.
# Writes DIR/same_physics.json and prints the table. Reruns reuse what a previous run finished
# (delete DIR to start over).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TEMPLATE="${TEMPLATE:-deepjet}"
case "$TEMPLATE" in
  deepjet)
    dir="${1:-same-physics}"
    FILES="${FILES:-4}" JETS="${JETS:-25000}" TEST_JETS="${TEST_JETS:-25000}" EPOCHS="${EPOCHS:-4}" BATCH="${BATCH:-500}"
    torch_script="$repo/scripts/torch_deepjet_train.py" ;;
  boosted)
    dir="${1:-same-physics-boosted}"
    FILES="${FILES:-3}" JETS="${JETS:-10000}" TEST_JETS="${TEST_JETS:-10000}" EPOCHS="${EPOCHS:-3}" BATCH="${BATCH:-256}"
    torch_script="$repo/scripts/torch_boosted_train.py" ;;
  *) echo "same_physics: TEMPLATE must be deepjet or boosted, not '$TEMPLATE'" >&2; exit 2 ;;
esac
THREADS="${THREADS:-2}" SEEDS="${SEEDS:-1}" PYTHON="${PYTHON:-/usr/bin/python3}"
target="${TEMPLATE}_quickstart"
QUICKSTART="${QUICKSTART:-$repo/build/examples/$TEMPLATE/$target}"

if [[ ! -x "$QUICKSTART" ]]; then
  echo "same_physics: building $target in $repo/build"
  cmake -S "$repo" -B "$repo/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$repo/build" -j"$THREADS" --target "$target"
fi
"$PYTHON" -c 'import torch, h5py' || { echo "same_physics: $PYTHON needs python3-torch and python3-h5py" >&2; exit 1; }

mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
read -r -a seeds <<<"$SEEDS"
first="${seeds[0]}"
common=(--epochs "$EPOCHS" --batch "$BATCH" --threads "$THREADS")

echo "== deepjet: $target all (seed $first) =="
if [[ ! -f "$dir/report/results.json" ]]; then
  "$QUICKSTART" all --dir "$dir" --files "$FILES" --jets "$JETS" --test-jets "$TEST_JETS" --seed "$first" "${common[@]}"
elif [[ ! -f "$dir/converted_test/test.h5" ]]; then  # a directory from before convert wrote the test jets
  "$QUICKSTART" convert --dir "$dir" --files "$FILES" --jets "$JETS" --test-jets "$TEST_JETS" --seed "$first" "${common[@]}"
fi
echo "== PyTorch script checked against deepjet's weighter and AUC =="
"$PYTHON" "$torch_script" "$dir" --check
echo "== PyTorch (seed $first) =="
if [[ ! -f "$dir/torch_results.json" ]]; then
  "$PYTHON" "$torch_script" "$dir" --seed "$first" "${common[@]}"
fi

for seed in "${seeds[@]:1}"; do
  run="$dir/seed_$seed"
  echo "== deepjet (seed $seed, same data) =="
  if [[ ! -f "$run/report/results.json" ]]; then
    mkdir -p "$run"
    for d in sources converted converted_test; do ln -sfn "$dir/$d" "$run/$d"; done
    for step in train predict evaluate; do "$QUICKSTART" "$step" --dir "$run" --seed "$seed" "${common[@]}"; done
  fi
  echo "== PyTorch (seed $seed, same data) =="
  if [[ ! -f "$dir/torch_results_seed_$seed.json" ]]; then
    "$PYTHON" "$torch_script" "$dir" --seed "$seed" "${common[@]}" \
      --output "$dir/torch_results_seed_$seed.json"
  fi
done

"$PYTHON" - "$TEMPLATE" "$dir" "$FILES" "$JETS" "$TEST_JETS" "$EPOCHS" "$BATCH" "$THREADS" "${seeds[@]}" <<'EOF'
import csv, json, os, statistics, sys

template, directory, files, jets, test_jets, epochs, batch, threads = sys.argv[1:9]
seeds = sys.argv[9:]
# What each template compares: the headline grouping (first in deepjet's results.json) and the
# key of the PyTorch script's results.
TEMPLATES = {
    "deepjet": {"model": "DeepJet", "grouping": "b vs udsg", "key": "auc_b_vs_udsg",
                "cuts": "jet_pt > 30 and |jet_eta| < 2.5", "discriminant": "p_b + p_bb + p_lepb",
                "signal": "b, bb, lepb", "background": "uds, g"},
    "boosted": {"model": "DeepAK8", "grouping": "top vs QCD", "key": "auc_top_vs_qcd",
                "cuts": "fj_pt > 300 and |fj_eta| < 2.4", "discriminant": "p(top) / (p(top) + p(QCD))",
                "signal": "Top_bcq, Top_bqq, Top_bc, Top_bq", "background": "QCD_bb, QCD_cc, QCD_b, QCD_c, QCD_others"},
}
t = TEMPLATES[template]
key = t["key"]


def deepjet_run(run):
    with open(os.path.join(run, "report", "results.json")) as f:
        groupings = json.load(f)["groupings"]
    assert groupings[0]["name"] == t["grouping"], groupings[0]["name"]
    with open(os.path.join(run, "training", "history.csv")) as f:
        history = list(csv.DictReader(f))
    speed = statistics.mean(float(r["jets_per_second"]) for r in history)
    best = min(range(len(history)), key=lambda i: float(history[i]["validation_loss"]))
    return {key: groupings[0]["auc"], "aucs": {g["name"]: g["auc"] for g in groupings},
            "jets_per_second": speed, "epochs": len(history),
            "best_epoch": best, "best_validation_loss": float(history[best]["validation_loss"])}


def torch_run(path):
    with open(path) as f:
        r = json.load(f)
    return {k: r[k] for k in (key, "aucs", "jets_per_second", "epochs", "best_epoch", "best_validation_loss") if k in r}


runs = []
for i, seed in enumerate(seeds):
    d = deepjet_run(directory if i == 0 else os.path.join(directory, "seed_" + seed))
    p = torch_run(os.path.join(directory, "torch_results.json" if i == 0 else "torch_results_seed_%s.json" % seed))
    runs.append({"seed": int(seed), "deepjet": d, "pytorch": p, "auc_difference": d[key] - p[key]})

dj = [r["deepjet"][key] for r in runs]
pt = [r["pytorch"][key] for r in runs]
mean_d, mean_t = statistics.mean(dj), statistics.mean(pt)
difference = mean_d - mean_t
summary = {
    "template": template,
    "setup": {"model": t["model"], "files": int(files), "jets_per_file": int(jets), "test_jets": int(test_jets),
              "epochs": int(epochs), "batch": int(batch), "threads": int(threads), "seeds": [int(s) for s in seeds],
              "auc": t["grouping"], "cuts": t["cuts"], "discriminant": t["discriminant"],
              "signal": t["signal"], "background": t["background"]},
    "runs": runs,
    "deepjet_auc_mean": mean_d, "pytorch_auc_mean": mean_t,
    "deepjet_auc_spread": [min(dj), max(dj)], "pytorch_auc_spread": [min(pt), max(pt)],
    "auc_difference": difference, "tolerance": 0.005, "within_tolerance": abs(difference) <= 0.005,
    "deepjet_jets_per_second": statistics.mean(r["deepjet"]["jets_per_second"] for r in runs),
    "pytorch_jets_per_second": statistics.mean(r["pytorch"]["jets_per_second"] for r in runs),
}
with open(os.path.join(directory, "same_physics.json"), "w") as f:
    json.dump(summary, f, indent=2)
    f.write("\n")

print()
print("Same physics as PyTorch: %s, %s files x %s jets (85 %% training, 15 %% validation), %s test jets,"
      % (t["model"], files, jets, test_jets))
print("%s epochs, batch %s, %s threads; %s AUC (%s)" % (epochs, batch, threads, t["grouping"], t["cuts"]))
print()
print("| seed | deepjet AUC | PyTorch AUC | difference | deepjet jets/s | PyTorch jets/s |")
print("|---:|---:|---:|---:|---:|---:|")
for r in runs:
    print("| %d | %.4f | %.4f | %+.4f | %.0f | %.0f |" % (r["seed"], r["deepjet"][key], r["pytorch"][key],
          r["auc_difference"], r["deepjet"]["jets_per_second"], r["pytorch"]["jets_per_second"]))
if len(runs) > 1:
    print("| mean (min..max) | %.4f (%.4f..%.4f) | %.4f (%.4f..%.4f) | %+.4f | %.0f | %.0f |"
          % (mean_d, min(dj), max(dj), mean_t, min(pt), max(pt), difference,
             summary["deepjet_jets_per_second"], summary["pytorch_jets_per_second"]))
print()
print("deepjet - PyTorch = %+.4f: %s the 0.005 tolerance" % (difference, "within" if summary["within_tolerance"] else "OUTSIDE"))
print("written: %s" % os.path.join(directory, "same_physics.json"))
EOF
