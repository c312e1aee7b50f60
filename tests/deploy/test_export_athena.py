"""``jetcalib export MODEL --athena DIR``: DNN.yaml and a graph that athena's JetDNNCalibStep
runs as it stands. An independent script (yaml, numpy, onnxruntime; no jetcalib) that follows
JetDNNCalibStep.cxx's arithmetic on MeV jets reproduces ``jetcalib calibrate`` within 1e-5."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from jetcalib.cli import main
from jetcalib.dnn.toys import toy_jets

from .conftest import untrained_head_model

#: JetDNNCalibStep::calibrate in numpy (athena, Reconstruction/Jet/JetCalibTools/src/
#: JetDNNCalibStep.cxx): reads only DNN.yaml and the graph it names. Jets in MeV: ``e``, ``m``,
#: ``eta`` (the InScale four-vector), ``NumConstituents``, and one array per InputVars name
#: that is not a built-in log variable (jet attributes and mu/NPV, athena units).
ATHENA_SCRIPT = r'''
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import yaml

assert "jetcalib" not in sys.modules
cfg_path, jets_path, out_path = map(Path, sys.argv[1:4])
cfg = yaml.safe_load(cfg_path.read_text())
names = cfg["InputVars"]
n_in, n_out = int(cfg["onnxInputShape"]), int(cfg["onnxOutputShape"])
assert len(names) == n_in  # initialize(): FATAL otherwise
escale = np.asarray(cfg["EScales"], dtype=np.float32)
offset = np.asarray(cfg["NormOffsets"], dtype=np.float32)
scale = np.asarray(cfg["NormScales"], dtype=np.float32)
jets = dict(np.load(jets_path))
e, m, eta = (jets[k].astype(np.float32) for k in ("e", "m", "eta"))
log_vars = ("log_e", "log_m", "log_m_cap40")
cols = []
with np.errstate(divide="ignore", invalid="ignore"):
    for i, name in enumerate(names):
        if name in log_vars:
            # InputVariable: log(x * Scale), the VarTool's Scale (= EScale) folded in
            x = e if name == "log_e" else m
            v = np.log(x * escale[i])
            cols.append(v * scale[i] + offset[i])
        else:
            v = eta if name == "eta" else jets[name].astype(np.float32)
            cols.append(v * escale[i] * scale[i] + offset[i])
    x = np.stack(cols, axis=1).astype(np.float32)
# pass 1: m <= 0 or one constituent, then NaN/inf inputs: not calibrated
skip = (m <= 0) | (jets["NumConstituents"] == 1)
skip |= ~np.all(np.isfinite(x), axis=1)
batch = np.flatnonzero(~skip)
sess = ort.InferenceSession(str(cfg_path.parent / cfg["ONNXInput"]), providers=["CPUExecutionProvider"])
out_e, out_m = sess.run(["outputE", "outputM"], {"input_1": x[batch]})
assert out_e.shape == out_m.shape == (batch.size, n_out)
pred_e, pred_m = out_e[:, 0], out_m[:, 0]  # element 0: the response
good = (pred_e != 0) & (pred_m != 0)
calibrated = np.zeros(e.shape, dtype=bool)
calibrated[batch[good]] = True
e_cal, m_cal = e.copy(), m.copy()
e_cal[batch[good]] = e[batch[good]] / pred_e[good]
m_cal[batch[good]] = m[batch[good]] / pred_m[good]
with np.errstate(invalid="ignore"):
    pt_cal = (np.sqrt(e_cal * e_cal - m_cal * m_cal) / np.cosh(eta)).astype(np.float32)
np.savez(out_path, e_cal=e_cal, m_cal=m_cal, pt_cal=pt_cal, calibrated=calibrated)
'''


def _athena(directory, jets: dict[str, np.ndarray], tmp_path) -> dict[str, np.ndarray]:
    np.savez(tmp_path / "jets_mev.npz", **jets)
    subprocess.run([sys.executable, "-c", ATHENA_SCRIPT, str(directory / "DNN.yaml"),
                    str(tmp_path / "jets_mev.npz"), str(tmp_path / "athena.npz")], check=True)
    return dict(np.load(tmp_path / "athena.npz"))


def _jets(n: int = 10_000) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Toy jets (GeV, jetcalib names) with the cases where the runtimes' rules meet or part, and
    each jet's constituent count (athena skips one-constituent jets)."""
    table = {k: v for k, v in toy_jets(n, seed=21).items() if not k.startswith("toy_")}
    del table["log_e"], table["log_m"]  # derived by jetcalib from e_reco, m_reco (as athena)
    table["eta"] = table["eta_reco"].copy()  # athena has one η (the jet's)
    table["m_reco"][10:60] = np.linspace(0.2, 1.0, 50)  # log_m = ln(max(m, 1 GeV)) in jetcalib
    table["m_reco"][60:65] = 0.0  # both: not calibrated
    table["tau21"][65:70] = np.nan  # both: not calibrated
    table["eta_reco"][70:75] = table["eta"][70:75] = 5.0  # jetcalib flag 5, athena calibrates
    n_const = np.full(n, 20)
    n_const[75:80] = 1  # athena: not calibrated, jetcalib calibrates
    return table, n_const


def _athena_jets(cfg: dict, table: dict[str, np.ndarray], n_const: np.ndarray) -> dict[str, np.ndarray]:
    """The same jets as athena sees them: MeV, ATLAS names (InputVars)."""
    from jetcalib.deploy.athena_export import ATLAS_INPUT_NAMES, ATLAS_LOG_INPUTS
    from jetcalib.io import COLUMNS

    atlas = {v: k for k, v in ATLAS_INPUT_NAMES.items()}
    jets = {"e": table["e_reco"] * 1e3, "m": table["m_reco"] * 1e3, "eta": table["eta_reco"],
            "NumConstituents": n_const}
    for name in cfg["InputVars"]:
        if name in ATLAS_LOG_INPUTS or name == "eta":
            continue
        col = atlas[name]
        jets[name] = table[col] * (1e3 if COLUMNS[col].unit == "GeV" else 1.0)
    return jets


def _compare(ath: dict[str, np.ndarray], cal: dict[str, np.ndarray]) -> np.ndarray:
    """Where both calibrate, e_cal, m_cal, pt_cal agree within 1e-5; returns that mask."""
    flag = np.asarray(cal["calib_flag"])
    jc_calibrated = ~np.isin(flag, (1, 2, 4, 5))
    # both leave m <= 0 and non-finite inputs alone; athena has no range flag 5 and skips
    # one-constituent jets
    assert not ath["calibrated"][60:70].any()
    assert not jc_calibrated[60:70].any()
    assert ath["calibrated"][70:75].all()
    assert (flag[70:75] == 5).all()
    assert not ath["calibrated"][75:80].any()
    assert jc_calibrated[75:80].all()
    both = jc_calibrated & ath["calibrated"]
    assert both.sum() > 0.98 * flag.size
    # the jets jetcalib leaves alone come out of athena as they went in too: flag 5 (athena
    # runs the graph, which answers response 1) and m <= 0 / non-finite (athena skips them)
    left = np.isin(flag, (1, 2, 4, 5)) & (np.arange(flag.size) < 75)
    assert left.sum() >= 15
    for name in ("e_cal", "m_cal"):
        np.testing.assert_allclose(ath[name][left] / 1e3, np.asarray(cal[name], dtype=np.float64)[left], rtol=1e-6)
    assert set(np.unique(flag[both]).tolist()) <= {0, 3, 6, 7, 8, 9}
    for name in ("e_cal", "m_cal", "pt_cal"):
        rel = np.abs(ath[name][both] / 1e3 / np.asarray(cal[name], dtype=np.float64)[both] - 1)
        print(f"{name}: max relative difference {rel.max():.2e}")
        assert rel.max() < 1e-5, name
    return both


def test_athena_export_reproduces_jetcalib_calibrate(model_dir, tmp_path, capsys):
    import yaml

    import jetcalib
    from jetcalib.features import feature_matrix
    from jetcalib.io import read_table, write_table

    out_dir = tmp_path / "athena"
    assert main(["export", str(model_dir), "--athena", str(out_dir)]) == 0, capsys.readouterr().err
    model = jetcalib.load(model_dir, runtime="torch")
    assert model.residual is not None  # folded into the graph
    assert model.residual.jms is not None
    cfg = yaml.safe_load((out_dir / "DNN.yaml").read_text())
    assert cfg["onnxInputShape"] == 21
    assert cfg["onnxOutputShape"] == 3
    assert cfg["InputVars"][:3] == ["eta", "log_e", "log_m"]

    table, n_const = _jets()
    src = write_table(tmp_path / "in.parquet", table)
    out = tmp_path / "out.parquet"
    assert main(["calibrate", str(model_dir), str(src), "-o", str(out)]) in (0, 4), capsys.readouterr().err
    cal, _ = read_table(out, ["e_cal", "m_cal", "pt_cal", "calib_flag"])
    both = _compare(_athena(out_dir, _athena_jets(cfg, table, n_const), tmp_path), cal)
    # the residual is in the graph: the network alone gives other energies
    r_e, _ = model.predict_responses(feature_matrix(table, model.features)[both])
    assert np.abs(table["e_reco"][both] / r_e / cal["e_cal"][both] - 1).max() > 1e-3


@pytest.mark.parametrize(("mass_min", "with_residual"), [(40.0, True), (0.0, False)])
def test_athena_graph_folds_the_mass_fallbacks(model_dir, tmp_path, mass_min, with_residual):
    """mass_min_reco = 40 GeV (flag 6: the mass follows the energy) is in the graph too; a
    model without residual closure (DNNConfig closure "none") exports the network alone."""
    import onnxruntime as ort
    import yaml

    import jetcalib
    from jetcalib.deploy.athena_export import export_athena
    from jetcalib.dnn import DNNCalibration

    base = jetcalib.load(model_dir, runtime="torch")
    model = DNNCalibration(base.net, base.config.model_copy(update={"mass_min_reco": mass_min}),
                           base.normalisation, base.header,
                           residual=base.residual if with_residual else None,
                           training_domain=base.training_domain)
    paths = export_athena(model, tmp_path / "a")
    cfg = yaml.safe_load(paths["yaml"].read_text())
    table, n_const = _jets()
    cal = model.calibrate(table)
    if mass_min > 0:
        assert (cal["calib_flag"] == 6).sum() > 100
    _compare(_athena(tmp_path / "a", _athena_jets(cfg, table, n_const), tmp_path), cal)
    # a batch of one jet (athena's legacy step) gives what the batch gives
    sess = ort.InferenceSession(str(paths["onnx"]), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).normal(size=(64, 21)).astype(np.float32)
    full = sess.run(None, {"input_1": x})
    for k in (0, 63):
        one = sess.run(None, {"input_1": x[k:k + 1]})
        for a, b in zip(one, full, strict=True):
            np.testing.assert_allclose(a[0], b[k], rtol=1e-6)


def test_athena_export_keeps_the_onnx_path(model_dir, tmp_path, capsys):
    assert main(["export", str(model_dir)]) == 2
    assert "-o" in capsys.readouterr().err
    assert main(["export", str(model_dir), "-o", str(tmp_path / "m.onnx"), "--athena",
                 str(tmp_path / "a")]) == 0, capsys.readouterr().err
    assert (tmp_path / "m.onnx").is_file()
    assert (tmp_path / "a" / "DNN.yaml").is_file()
    assert (tmp_path / "a" / "jetcalib_dnn_athena.onnx").is_file()


@pytest.mark.parametrize("head", ["density", "quantile"])
def test_athena_graph_of_a_probabilistic_head_carries_the_quantiles(model_dir, tmp_path, head):
    """Column 0 still calibrates as jetcalib does (athena's arithmetic); columns 1-2 are the
    15.87/84.13 % quantiles of r_E, r_m, onnxruntime = PyTorch within 1e-5 for every column."""
    import onnxruntime as ort
    import torch
    import yaml

    from jetcalib.deploy.athena_export import _wrapped, export_athena
    from jetcalib.features import feature_matrix

    model = untrained_head_model(model_dir, head, seed=1)
    paths = export_athena(model, tmp_path / "a")
    ycfg = yaml.safe_load(paths["yaml"].read_text())
    table, n_const = _jets(3000)
    cal = model.calibrate(table)
    _compare(_athena(tmp_path / "a", _athena_jets(ycfg, table, n_const), tmp_path), cal)
    x = model.normalisation.apply(feature_matrix(table, model.features)).astype(np.float32)
    x = x[np.all(np.isfinite(x), axis=1)]
    sess = ort.InferenceSession(str(paths["onnx"]), providers=["CPUExecutionProvider"])
    onnx_e, onnx_m = sess.run(["outputE", "outputM"], {"input_1": x})
    with torch.no_grad():
        torch_e, torch_m = (t.numpy() for t in _wrapped(model)(torch.from_numpy(x)))
    np.testing.assert_allclose(onnx_e, torch_e, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(onnx_m, torch_m, rtol=1e-5, atol=1e-6)
    dist = model.predict_distribution(feature_matrix(table, model.features))
    ok = np.all(np.isfinite(feature_matrix(table, model.features)), axis=1)
    calibrated = onnx_e[:, 0] != 1
    assert calibrated.mean() > 0.95
    for col, name in ((1, "r_e_q16"), (2, "r_e_q84")):
        np.testing.assert_allclose(onnx_e[calibrated, col], dist[name][ok][calibrated], rtol=1e-5)
    for col, name in ((1, "r_m_q16"), (2, "r_m_q84")):
        np.testing.assert_allclose(onnx_m[calibrated, col], dist[name][ok][calibrated], rtol=1e-5)
    assert (onnx_e[~calibrated, 1:] == 0).all()
