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
