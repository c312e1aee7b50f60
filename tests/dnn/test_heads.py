"""Probabilistic heads (docs/method.md#heads): losses against closed forms, per-jet summaries
(mode, quantiles, correlation) against brute force, config and hash compatibility."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from jetcalib.dnn import CalibrationNet, DNNConfig
from jetcalib.dnn.heads import LEVELS, head_loss, n_params, summarise


def _inv_softplus(s: np.ndarray) -> np.ndarray:
    return np.log(np.expm1(s - 1e-3))


def _density_params(pi, mu_e, mu_m, s_e, s_m, ell) -> torch.Tensor:
    """One jet's raw density-head parameters for a mixture given in natural units."""
    raw = np.concatenate([np.log(pi), mu_e, mu_m, _inv_softplus(np.asarray(s_e)), _inv_softplus(np.asarray(s_m)), ell])
    return torch.tensor(raw[None, :], dtype=torch.float64)


MIX = {"pi": np.array([0.6, 0.3, 0.1]), "mu_e": np.array([0.0, -0.15, 0.2]), "mu_m": np.array([0.05, -0.3, 0.1]),
       "s_e": np.array([0.05, 0.12, 0.3]), "s_m": np.array([0.1, 0.2, 0.25]), "ell": np.array([0.03, 0.1, -0.05])}


def _components() -> list[tuple[float, np.ndarray, np.ndarray]]:
    out = []
    for k in range(3):
        L = np.array([[MIX["s_e"][k], 0.0], [MIX["ell"][k], MIX["s_m"][k]]])
        out.append((MIX["pi"][k], np.array([MIX["mu_e"][k], MIX["mu_m"][k]]), L @ L.T))
    return out


def test_density_loss_is_the_mixture_nll_split_into_marginal_and_conditional():
    params = _density_params(**MIX)
    y = np.array([0.03, -0.1])
    joint = sum(p * stats.multivariate_normal(m, c).pdf(y) for p, m, c in _components())
    marginal = sum(p * stats.norm(m[0], math.sqrt(c[0, 0])).pdf(y[0]) for p, m, c in _components())
    l_e, l_m = head_loss("density", 3, params, torch.tensor([y[0]], dtype=torch.float64),
                         torch.tensor([y[1]], dtype=torch.float64))
    assert float(l_e) == pytest.approx(-math.log(marginal), rel=1e-9)
    assert float(l_e + l_m) == pytest.approx(-math.log(joint), rel=1e-9)


def test_density_summaries_match_brute_force():
    d = summarise("density", 3, _density_params(**MIX))
    comps = _components()
    for i, key in ((0, "e"), (1, "m")):
        grid = np.linspace(-2, 2, 400_001)
        pdf = sum(p * stats.norm(m[i], math.sqrt(c[i, i])).pdf(grid) for p, m, c in comps)
        cdf = sum(p * stats.norm(m[i], math.sqrt(c[i, i])).cdf(grid) for p, m, c in comps)
        assert float(d[f"cal_{key}"]) == pytest.approx(grid[np.argmax(pdf)], abs=2e-5)
        for level, name in zip(LEVELS, ("q16", "q50", "q84"), strict=True):
            assert float(d[f"{name}_{key}"]) == pytest.approx(np.interp(level, cdf, grid), abs=2e-5)
    rng = np.random.default_rng(1)
    counts = rng.multinomial(400_000, MIX["pi"])
    sample = np.concatenate([rng.multivariate_normal(m, c, n) for (_, m, c), n in zip(comps, counts, strict=True)])
    assert float(d["corr"]) == pytest.approx(np.corrcoef(sample.T)[0, 1], abs=5e-3)


def test_quantile_and_gaussian_heads():
    raw = torch.tensor([[0.1, -0.2, 0.0, 0.5, 1.0, -1.0]])
    d = summarise("quantile", 1, raw)
    assert float(d["q16_e"]) < float(d["q50_e"]) < float(d["q84_e"])
    assert float(d["cal_m"]) == pytest.approx(-0.2)
    assert float(d["corr"]) == 0.0
    # the pinball loss is minimised by the true quantiles: here its mean over a sample
    y = torch.randn(200_000, dtype=torch.float64) * 0.1
    q = torch.tensor(np.quantile(y.numpy(), LEVELS))
    params = torch.zeros(1, 6, dtype=torch.float64)
    params[0, 0] = q[1]
    params[0, 2], params[0, 4] = float(_inv_softplus(float(q[1] - q[0]))), float(_inv_softplus(float(q[2] - q[1])))

    def pinball(p: torch.Tensor) -> float:
        return float(head_loss("quantile", 1, p.expand(y.numel(), -1), y, y)[0].mean())

    moved = params.clone()
    moved[0, 0] += 0.02
    assert pinball(params) < pinball(moved)
    g = summarise("gaussian", 1, torch.tensor([[0.1, 0.2, float(_inv_softplus(0.05)), float(_inv_softplus(0.3))]]))
    assert float(g["q84_e"] - g["q16_e"]) == pytest.approx(0.1, rel=1e-5)
    l_e, _ = head_loss("gaussian", 1, torch.tensor([[0.0, 0.0, float(_inv_softplus(0.1)), 1.0]]),
                       torch.tensor([0.05]), torch.tensor([0.0]))
    assert float(l_e) == pytest.approx(-stats.norm(0, 0.1).logpdf(0.05), rel=1e-5)


@pytest.mark.parametrize("head", ["density", "quantile", "gaussian"])
def test_network_with_a_probabilistic_head(head):
    cfg = DNNConfig.from_dict({"network": {"width": 16, "n_blocks": 1, "mass_residual_width": 8}, "head": head})
    net = CalibrationNet.from_config(cfg)
    net.set_output_bias(-0.1, 0.05)
    x = torch.randn(64, 21)
    params = net.head_params(x)
    assert params.shape == (64, n_params(head, cfg.head_components))
    d = net.distribution(x)
    e, m = net(x)
    assert torch.equal(e, d["cal_e"])
    assert torch.equal(m, d["cal_m"])
    assert bool((d["q16_e"] <= d["q50_e"]).all() and (d["q50_e"] <= d["q84_e"]).all())
    l_e, l_m = head_loss(head, cfg.head_components, params, torch.zeros(64), torch.zeros(64))
    (l_e.mean() + l_m.mean()).backward()  # differentiable end to end
    assert all(p.grad is not None for p in net.head_p.parameters())


def test_mode_config_stores_no_head_keys_and_old_documents_read_as_mode():
    cfg = DNNConfig()
    doc = cfg.to_document()
    assert "head" not in doc
    assert "head_components" not in doc
    assert DNNConfig.model_validate(doc) == cfg  # an artifact of before reads as head: mode
    dens = DNNConfig.from_dict({"head": "density"})
    assert dens.to_document()["head"] == "density"
    assert dens.to_document()["head_components"] == 4
    assert set(CalibrationNet.from_config(cfg).state_dict()) == set(CalibrationNet(21, cfg.network).state_dict())
    assert "head_e.weight" in CalibrationNet.from_config(cfg).state_dict()


def _untrained(toy: dict, head: str):
    from jetcalib.dnn import DNNCalibration
    from jetcalib.features import Normalisation, feature_matrix

    torch.manual_seed(0)
    cfg = DNNConfig.from_dict({"network": {"width": 16, "n_blocks": 1, "mass_residual_width": 8}, "head": head})
    norm = Normalisation.fit(feature_matrix(toy, cfg.features), cfg.features)
    net = CalibrationNet.from_config(cfg)
    net.set_output_bias(-0.1, 0.05)
    return DNNCalibration(net, cfg, norm)


def test_mode_artifact_keeps_its_layout_and_probabilistic_ones_round_trip(tmp_path, toy_test):
    import json

    from jetcalib.dnn import DNNCalibration
    from jetcalib.io import CALIBRATED_COLUMNS, UNCERTAINTY_COLUMNS, content_hash

    table = {k: v[:400] for k, v in toy_test.items()}
    mode = _untrained(toy_test, "mode")
    d = mode.save(tmp_path / "mode")
    doc = json.loads((d / "artifact.json").read_text())
    assert "head" not in doc["config"]  # as written before the heads: same document, same hash
    assert set(DNNCalibration.load(d).calibrate(table)) == set(CALIBRATED_COLUMNS)
    weights = (d / "weights.pt").read_bytes()
    assert doc["header"]["content_hash"] == content_hash(weights, doc["config"], doc["normalisation"], None)
    for head in ("density", "quantile", "gaussian"):
        model = _untrained(toy_test, head)
        back = DNNCalibration.load(model.save(tmp_path / head))
        assert back.config.head == head
        out = back.calibrate(table)
        assert set(out) == set(CALIBRATED_COLUMNS) | set(UNCERTAINTY_COLUMNS)
        ok = out["calib_flag"] == 0
        assert ok.sum() > 300
        for name in UNCERTAINTY_COLUMNS:
            assert np.isfinite(out[name][ok]).all()
        assert (out["r_e_q16"][ok] < out["r_e_q84"][ok]).all()
        assert (out["e_cal_rel_unc"][ok] > 0).all()
        ref = model.calibrate(table)
        assert np.array_equal(ref["e_cal"], out["e_cal"])
        assert np.array_equal(ref["r_m_q84"], out["r_m_q84"])
        dist = back.predict_distribution(np.full((2, 21), np.nan))
        assert np.isnan(dist["r_e"]).all()


def test_density_head_finds_the_mode_and_calibrated_intervals(tmp_path, toy_train, toy_test):
    """On the toy's skewed responses the density head's marginal modes land near the true mode
    (as LGK in test_training; the mean and median sit ~0.09 away) and its 68 % intervals cover."""
    from tests.dnn.conftest import tiny_config

    from jetcalib.dnn import train
    from jetcalib.features import feature_matrix

    base = tiny_config(epochs=4, closure="none", max_jets=6000, batch_size=256, lr=3e-3)
    cfg = DNNConfig.from_dict({**base.model_dump(), "head": "density", "head_components": 3})
    model = train(toy_train, tmp_path / "dens", cfg, progress=False)
    d = model.predict_distribution(feature_matrix(toy_test, model.features))
    heavy = toy_test["m_true"] > 30
    assert abs(np.median(np.log(d["r_e"]) - np.log(toy_test["toy_mode_e"]))) < 0.03
    assert abs(np.median(np.log(d["r_m"][heavy]) - np.log(toy_test["toy_mode_m"][heavy]))) < 0.04
    r = toy_test["e_reco"] / toy_test["e_true"]
    assert 0.62 < np.mean((r > d["r_e_q16"]) & (r < d["r_e_q84"])) < 0.75
    assert np.isfinite(model.summary["best_val_loss"])

def test_marginal_cdf_is_the_mixture_cdf_and_gives_the_quantile_levels():
    from jetcalib.dnn.heads import marginal_cdf

    params = _density_params(**MIX)
    y = torch.tensor([0.02], dtype=torch.float64)
    u_e, u_m = marginal_cdf("density", 3, params, y, y)
    comps = _components()
    assert float(u_e) == pytest.approx(sum(p * stats.norm(m[0], math.sqrt(c[0, 0])).cdf(0.02) for p, m, c in comps))
    assert float(u_m) == pytest.approx(sum(p * stats.norm(m[1], math.sqrt(c[1, 1])).cdf(0.02) for p, m, c in comps))
    for head, raw in (("quantile", torch.tensor([[0.1, -0.2, 0.0, 0.5, 1.0, -1.0]], dtype=torch.float64)),
                      ("gaussian", torch.tensor([[0.1, -0.2, -2.0, -1.5]], dtype=torch.float64))):
        d = summarise(head, 1, raw)
        for name, level in zip(("q16", "q50", "q84"), LEVELS, strict=True):
            u_e, u_m = marginal_cdf(head, 1, raw, d[f"{name}_e"], d[f"{name}_m"])
            assert float(u_e) == pytest.approx(level, abs=1e-6)
            assert float(u_m) == pytest.approx(level, abs=1e-6)


def test_predict_pit_of_a_model(toy_test):
    model = _untrained(toy_test, "density")
    from jetcalib.features import feature_matrix

    x = feature_matrix(toy_test, model.features)[:300]
    d = model.predict_distribution(x)
    u_e, u_m = model.predict_pit(x, d["r_e_q16"], d["r_m_q84"])
    np.testing.assert_allclose(u_e, LEVELS[0], atol=1e-4)
    np.testing.assert_allclose(u_m, LEVELS[2], atol=1e-4)
    assert np.isnan(model.predict_pit(x[:2], np.array([np.nan, 1.0]), np.array([1.0, -1.0]))[0]).all()


def test_density_model_with_closure_calibrates_files_with_the_uncertainty_columns(tmp_path, toy_train, capsys):
    from tests.dnn.conftest import tiny_config

    from jetcalib.cli import main
    from jetcalib.dnn import train
    from jetcalib.io import CALIBRATED_COLUMNS, UNCERTAINTY_COLUMNS, read_table, write_table

    base = tiny_config(epochs=1, batch_size=2048)
    cfg = DNNConfig.from_dict({**base.model_dump(), "head": "gaussian"})
    model = train(toy_train, tmp_path / "g", cfg, progress=False)
    assert model.residual is not None  # the numerical closure is fitted after a probabilistic head too
    src = write_table(tmp_path / "in.parquet", {k: v[:2000] for k, v in toy_train.items() if not k.startswith("toy_")})
    assert main(["calibrate", str(tmp_path / "g"), str(src), "-o", str(tmp_path / "out.parquet")]) in (0, 4), \
        capsys.readouterr().err
    out, _ = read_table(tmp_path / "out.parquet")
    assert set(CALIBRATED_COLUMNS) | set(UNCERTAINTY_COLUMNS) <= set(out)
    ok = out["calib_flag"] == 0
    assert np.isfinite(out["e_cal_rel_unc"][ok]).all()


# --- width recalibration (docs/method.md#width-recalibration) ---------------------------------
def _too_wide_sample(model, toy: dict, seed: int, shrink: float = 1.5):
    """Raw features and true responses drawn narrower than the head predicts: per jet
    y ~ N(median, (half the predicted 16-84 % width / shrink)²) in log r, so that its
    intervals are too wide by ``shrink``."""
    from jetcalib.features import feature_matrix

    x = feature_matrix(toy, model.features)
    d = model.predict_distribution(x, recalibrated=False)
    rng = np.random.default_rng(seed)
    out = []
    for t in ("e", "m"):
        q16, q50, q84 = (np.log(d[f"r_{t}_{q}"]) for q in ("q16", "q50", "q84"))
        out.append(np.exp(q50 + rng.normal(size=q50.size) * (q84 - q16) / 2 / shrink))
    return x, out[0], out[1]


def _coverage(model, x, r_e, r_m, recalibrated: bool) -> dict[str, float]:
    d = model.predict_distribution(x, recalibrated=recalibrated)
    u_e, u_m = model.predict_pit(x, r_e, r_m, recalibrated=recalibrated)
    out = {}
    for t, r, u in (("e", r_e, u_e), ("m", r_m, u_m)):
        out[f"68_{t}"] = float(np.mean((r >= d[f"r_{t}_q16"]) & (r <= d[f"r_{t}_q84"])))
        out[f"95_{t}"] = float(np.mean((u >= 0.025) & (u <= 0.975)))
    return out


@pytest.mark.parametrize("head", ["gaussian", "quantile", "density"])
def test_width_recalibration_makes_too_wide_intervals_cover_68_percent(head, toy_train, toy_test):
    model = _untrained(toy_test, head)
    fit_x, fit_e, fit_m = _too_wide_sample(model, toy_train, seed=1)
    test_x, test_e, test_m = _too_wide_sample(model, toy_test, seed=2)
    before = _coverage(model, test_x, test_e, test_m, recalibrated=True)  # identity: as without
    assert before["68_e"] > 0.8
    assert before["68_m"] > 0.8  # too wide
    record = model.fit_recalibration(fit_x, fit_e, fit_m)
    assert model.net.recalibrated
    assert record["energy"]["q16_level"] > LEVELS[0]  # read the CDF nearer the median
    assert record["mass"]["q84_level"] < LEVELS[2]
    after = _coverage(model, test_x, test_e, test_m, recalibrated=True)
    for t in ("e", "m"):
        assert after[f"68_{t}"] == pytest.approx(0.6827, abs=0.02), after
        assert after[f"95_{t}"] == pytest.approx(0.95, abs=0.015), after
    assert _coverage(model, test_x, test_e, test_m, recalibrated=False) == before
    # the calibration itself is not touched
    d0, d1 = model.predict_distribution(test_x[:50], recalibrated=False), model.predict_distribution(test_x[:50])
    assert np.array_equal(d0["r_e"], d1["r_e"])
    assert np.array_equal(d0["r_em_corr"], d1["r_em_corr"])


def test_pit_knots_are_increasing_and_identity_for_uniform_or_few():
    from jetcalib.dnn.heads import PIT_KNOTS, identity_recalibration, recalibrated_levels
    from jetcalib.dnn.recalibration import pit_knots, recalibrated_pit

    grid = identity_recalibration()[0].numpy()
    assert np.array_equal(pit_knots(np.full(10, 0.3)), grid)  # too few jets: the identity
    k = pit_knots(np.concatenate([np.zeros(500), np.full(500, 1.0), np.random.default_rng(0).random(2000)]))
    assert k.shape == (PIT_KNOTS,)
    assert k.dtype == np.float32
    assert (np.diff(k) > 0).all()
    assert k[0] == 0.0
    assert k[-1] == pytest.approx(1.0)
    u = np.random.default_rng(1).random(200_000)
    k = pit_knots(u)
    np.testing.assert_allclose(k, grid, atol=5e-3)
    np.testing.assert_allclose(recalibrated_pit(u[:10], k), u[:10], atol=5e-3)
    levels = recalibrated_levels(identity_recalibration()).numpy()
    np.testing.assert_allclose(levels, np.array([LEVELS, LEVELS]), atol=1e-6)


def test_identity_recalibration_changes_nothing_and_old_weights_load(tmp_path, toy_test):
    """A probabilistic network has the identity buffer: its summaries are those of summarise()
    without levels, bit for bit; a model saved without the buffer (an earlier jetcalib) loads
    and gives exactly the same outputs; a mode network has no buffer."""
    import io
    import json

    from jetcalib.dnn import DNNCalibration
    from jetcalib.dnn.model import _payload_hash
    from jetcalib.features import Normalisation, feature_matrix

    assert "recal_pit" not in CalibrationNet.from_config(DNNConfig()).state_dict()
    x = feature_matrix(toy_test, DNNConfig().features)[:500]
    for head in ("density", "quantile", "gaussian"):
        model = _untrained(toy_test, head)
        assert not model.net.recalibrated
        xn = torch.from_numpy(model.normalisation.apply(x))
        with torch.no_grad():
            d = model.net.distribution(xn)
            ref = summarise(head, model.config.head_components, model.net.head_params(xn))
        for key in ref:
            assert torch.equal(d[key], ref[key]), key
        out = model.save(tmp_path / head)
        # as an earlier jetcalib saved it: no recal_pit in weights.pt, hashed over those bytes
        state = {k: v for k, v in model.net.state_dict().items() if k != "recal_pit"}
        buffer = io.BytesIO()
        torch.save(state, buffer)
        (out / "weights.pt").write_bytes(buffer.getvalue())
        doc = json.loads((out / "artifact.json").read_text())
        doc["header"]["content_hash"] = _payload_hash(buffer.getvalue(), doc["config"],
                                                      Normalisation.from_dict(doc["normalisation"]), None, None)
        (out / "artifact.json").write_text(json.dumps(doc))
        old = DNNCalibration.load(out)
        assert not old.net.recalibrated
        a, b = model.predict_distribution(x), old.predict_distribution(x)
        for key in a:
            assert np.array_equal(a[key], b[key], equal_nan=True), key
        r = np.exp(np.log(a["r_e_q50"]) + 0.05)
        assert all(np.array_equal(p, q, equal_nan=True) for p, q in
                   zip(model.predict_pit(x, r, r), old.predict_pit(x, r, r, recalibrated=False), strict=True))


@pytest.mark.parametrize("head", ["density", "quantile"])
def test_fitted_recalibration_survives_save_load_and_onnx_export(head, tmp_path, toy_train, toy_test):
    import onnxruntime as ort

    from jetcalib.deploy.onnx_export import export_onnx
    from jetcalib.dnn import DNNCalibration

    model = _untrained(toy_test, head)
    fit_x, fit_e, fit_m = _too_wide_sample(model, toy_train, seed=3, shrink=1.3)
    model.save(tmp_path / "plain")
    plain_hash = model.header.content_hash
    model.fit_recalibration(fit_x, fit_e, fit_m)
    back = DNNCalibration.load(model.save(tmp_path / "fitted"))
    assert back.header.content_hash != plain_hash  # the knots are in the weights and the hash
    assert torch.equal(back.net.recal_pit, model.net.recal_pit)
    assert back.summary["width_recalibration"] == model.summary["width_recalibration"]
    x = fit_x[:3000].astype(np.float32)
    d = model.predict_distribution(x)
    for key, v in back.predict_distribution(x).items():
        assert np.array_equal(v, d[key]), key
    assert not np.allclose(d["r_e_q84"], model.predict_distribution(x, recalibrated=False)["r_e_q84"])
    paths = export_onnx(back, tmp_path / "fitted.onnx")
    sess = ort.InferenceSession(str(paths["onnx"]), providers=["CPUExecutionProvider"])
    out_e, out_m = sess.run(["outputE", "outputM"], {"features": x})
    for out, t in ((out_e, "e"), (out_m, "m")):
        for col, name in enumerate((f"r_{t}", f"r_{t}_q16", f"r_{t}_q84", f"r_{t}_q50")):
            np.testing.assert_allclose(out[:, col], d[name], rtol=1e-5, err_msg=name)
        np.testing.assert_allclose(out[:, 4], d["r_em_corr"], atol=1e-5)
