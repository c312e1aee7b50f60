#!/usr/bin/env bash
# The standard sample behind benchmarks/results/ (issues #5 and #7), then the three studies.
#   bash benchmarks/standard_sample.sh [DATA_DIR]        (default: data/, git-ignored)
# Generation took 65 min on the 2-core development machine (--workers 2), training 7 min,
# ablation 5 min, physics ~15 min. Each generate step resumes if interrupted.
set -euo pipefail
DATA=${1:-data}
J=${JETCALIB:-.venv/bin/jetcalib}
PY=${PYTHON:-.venv/bin/python}
mkdir -p "$DATA"
# 334,765 + 334,769 matched jets (two seeds; 302,844 + 303,xxx with pT_true > 150 GeV, |eta_true| < 2): training
$J generate --process dijet --events 170000 --seed 1001 --workers 2 --out "$DATA/dijet_train.parquet"
$J generate --process dijet --events 170000 --seed 1003 --workers 2 --out "$DATA/dijet_train_b.parquet"
TRAIN=("$DATA/dijet_train.parquet" "$DATA/dijet_train_b.parquet")
# 108,223 jets: independent test sample (other seed)
$J generate --process dijet --events 55000 --seed 2002 --workers 2 --out "$DATA/dijet_test.parquet"
# 24,431 W'->WZ and 24,435 Z'->tt jets: mass-peak tests
$J generate --process wprime --events 12500 --seed 3003 --workers 2 --out "$DATA/wprime_test.parquet"
$J generate --process zprime_tt --events 12500 --seed 4004 --workers 2 --out "$DATA/top_test.parquet"

[ -f "$DATA/models/dnn/artifact.json" ] || $J train --data "${TRAIN[0]}" --data "${TRAIN[1]}" -o "$DATA/models/dnn"
$PY benchmarks/train_dnn.py --train "${TRAIN[@]}" --test "$DATA/dijet_test.parquet" --model "$DATA/models/dnn"
$PY benchmarks/ablation.py --train "$DATA/dijet_train.parquet" --test "$DATA/dijet_test.parquet" --md benchmarks/results/ablation.md
$PY -m pip install -q lightgbm
$PY benchmarks/physics.py --train "${TRAIN[@]}" --test "$DATA/dijet_test.parquet" \
    --wprime "$DATA/wprime_test.parquet" --top "$DATA/top_test.parquet" --dnn "$DATA/models/dnn" --out benchmarks/results
