#!/usr/bin/env bash
# The standard sample behind benchmarks/results/ (issues #5 and #7), then the three studies.
#   bash benchmarks/standard_sample.sh [DATA_DIR]
# DATA_DIR defaults to a cache outside the work tree keyed by the simulation version
# ($JETCALIB_CACHE or ~/.cache/jetcalib, then standard-sample-v<version>), so a later session
# reuses a sample of the same simulation instead of paying the generation again; a table that
# is already there is not regenerated.
# Simulation version 3 on the 2-core development machine (--workers 2, beside other work):
# ~37 min per 170k dijet events (dijet_train), ~12 min for the 55k test events, ~7 min for
# W', Z' and dijet_alt; then training, ablation and physics. Each generate step resumes if
# interrupted (its chunks stay in a hidden directory beside the output).
set -euo pipefail
J=${JETCALIB:-.venv/bin/jetcalib}
PY=${PYTHON:-.venv/bin/python}
SIMV=$($PY -c "from jetcalib.io import SIMULATION_VERSION; print(SIMULATION_VERSION)")
DATA=${1:-${JETCALIB_CACHE:-$HOME/.cache/jetcalib}/standard-sample-v$SIMV}
mkdir -p "$DATA"
echo "standard sample (simulation version $SIMV) in $DATA" >&2
gen() {  # gen OUT ARGS...: generate unless OUT exists
    local out=$1; shift
    [ -f "$out" ] || $J generate "$@" --workers 2 --out "$out"
}
# 334,765 + 334,769 matched jets (two seeds; 302,844 + 303,xxx with pT_true > 150 GeV, |eta_true| < 2): training
# --constituents: the jagged cl_*/trk_* columns of the constituent network (#16), ~6x the size
# (561 MB for dijet_train, 181 MB for dijet_test); 35 min for dijet_train on 2 idle cores
gen "$DATA/dijet_train.parquet" --process dijet --events 170000 --seed 1001 --constituents
gen "$DATA/dijet_train_b.parquet" --process dijet --events 170000 --seed 1003
TRAIN=("$DATA/dijet_train.parquet" "$DATA/dijet_train_b.parquet")
# 108,223 jets: independent test sample (other seed)
gen "$DATA/dijet_test.parquet" --process dijet --events 55000 --seed 2002 --constituents
# 24,432 W'->WZ and 24,433 Z'->tt jets: mass-peak tests (with constituents for the constituent
# network's peaks; the other columns are those of a table without them)
gen "$DATA/wprime_test.parquet" --process wprime --events 12500 --seed 3003 --constituents
gen "$DATA/top_test.parquet" --process zprime_tt --events 12500 --seed 4004 --constituents
# altered shower and hadronisation: the generator dependence in physics.md
gen "$DATA/dijet_alt_test.parquet" --process dijet_alt --events 20000 --seed 5005

[ -f "$DATA/models/dnn/artifact.json" ] || $J train --data "${TRAIN[0]}" --data "${TRAIN[1]}" -o "$DATA/models/dnn"
# the reference model shipped with the package (src/jetcalib/reference/README.md): copy this
# .onnx (only it) to src/jetcalib/reference/reference.onnx and commit it
mkdir -p "$DATA/models/reference"
[ -f "$DATA/models/reference/reference.onnx" ] || $J export "$DATA/models/dnn" -o "$DATA/models/reference/reference.onnx"
$PY benchmarks/train_dnn.py --train "${TRAIN[@]}" --test "$DATA/dijet_test.parquet" --model "$DATA/models/dnn"
$PY benchmarks/ablation.py --train "$DATA/dijet_train.parquet" --test "$DATA/dijet_test.parquet" --md benchmarks/results/ablation.md
$PY -m pip install -q lightgbm
$PY benchmarks/physics.py --train "${TRAIN[@]}" --test "$DATA/dijet_test.parquet" \
    --wprime "$DATA/wprime_test.parquet" --top "$DATA/top_test.parquet" --alt "$DATA/dijet_alt_test.parquet" \
    --dnn "$DATA/models/dnn" --out benchmarks/results

# headroom (#16): the oracle bound (two sets of hidden-truth inputs) and the constituent network,
# all trained on dijet_train alone (benchmarks/results/headroom*.md)
CFG=benchmarks/configs
for m in oracle_all oracle_pu_fem constituent; do
    [ -f "$DATA/models/$m/artifact.json" ] || $J train --data "${TRAIN[0]}" --config "$CFG/$m.yaml" -o "$DATA/models/$m"
done
[ -f "$DATA/models/dnn_a/artifact.json" ] || $J train --data "${TRAIN[0]}" -o "$DATA/models/dnn_a"
for o in oracle_all:headroom oracle_pu_fem:headroom_pu_fem; do
    $PY benchmarks/headroom.py --train "${TRAIN[0]}" --test "$DATA/dijet_test.parquet" --dnn "$DATA/models/dnn_a" \
        --oracle "$DATA/models/${o%%:*}" --constituent "$DATA/models/constituent" --md "benchmarks/results/${o#*:}.md"
done
# the four output heads (#15) on all of dijet_train (the probabilistic ones with a flat prior on
# both targets, heads.py's default; ~12 min)
$PY benchmarks/heads.py --train "${TRAIN[0]}" --test "$DATA/dijet_test.parquet" --wprime "$DATA/wprime_test.parquet" \
    --top "$DATA/top_test.parquet" --models-dir "$DATA/models/heads_full" --threads 2 \
    --md benchmarks/results/heads.md
# the four heads on the constituent network (#15/#16; its mode model is models/constituent's
# config, so a copy there is reused; ~40 min of training for the other three)
if [ ! -d "$DATA/models/heads_constituent/mode" ]; then
    mkdir -p "$DATA/models/heads_constituent" && cp -r "$DATA/models/constituent" "$DATA/models/heads_constituent/mode"
fi
$PY benchmarks/heads.py --train "${TRAIN[0]}" --test "$DATA/dijet_test.parquet" --wprime "$DATA/wprime_test.parquet" \
    --top "$DATA/top_test.parquet" --config benchmarks/configs/constituent.yaml --models-dir "$DATA/models/heads_constituent" \
    --threads 2 --md benchmarks/results/heads_constituent.md
