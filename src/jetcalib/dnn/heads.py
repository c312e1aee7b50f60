"""The network's output heads (docs/method.md#heads): what the trunk predicts per jet, its loss,
and the per-jet summaries (calibration response, median, 16/84 % quantiles, E–m correlation).

Every head works in y = (log r_E, log r_m), r = reco/true:

* ``mode`` (the paper's, today's default): one number per target, the mode of p(y | x) sought
  by the LGK loss (:mod:`jetcalib.dnn.losses`). Not handled here; it has no distribution.
* ``density``: a mixture density network, K bivariate Gaussians with full covariance per
  component, Cholesky-parametrised: L_k = [[σ_E,k, 0], [ℓ_k, σ_m,k]], Σ_k = L_k L_kᵀ. Loss: the
  negative log-likelihood split as −log p(y_E) − log p(y_m | y_E) (``log p(y_E, y_m) −
  log p(y_E)``), so the energy term takes the energy weights and the conditional mass term the
  mass weights (0 where m_true ≤ ``loss.mass_min_true``: only the energy marginal is fitted
  there). Both terms are proper scoring rules, so the true density minimises any positive
  weighting of them.
* ``quantile``: per target the 16/50/84 % quantiles (non-crossing: q16 = q50 − softplus,
  q84 = q50 + softplus), pinball loss.
* ``gaussian``: per target one Gaussian N(μ, σ²) in y, negative log-likelihood.

Levels "16/84 %" are Φ(∓1) = 15.87/84.13 %, the ±1σ points, so that for a Gaussian they are
μ ∓ σ and the central interval is the usual 68.27 %.

Summaries (:func:`summarise`), all in y, pure torch, vectorised, traceable for ONNX:

* density, calibration response = the **mode of each marginal** (a 1D mixture of Gaussians with
  σ_E,k and √(ℓ_k² + σ_m,k²)), found by the Gaussian-mixture mean-shift fixed point
  y ← Σ_k w_k(y) μ_k/s_k² / Σ_k w_k(y)/s_k² (w_k ∝ π_k N(y; μ_k, s_k)), which increases the
  density at every step, started from each of the K component means (``MODE_STEPS`` steps); the
  start that ends highest wins. Median and quantiles: bisection of the marginal CDF on
  [min μ_k − 8 s_k, max μ_k + 8 s_k] (``QUANTILE_STEPS`` halvings). Correlation: of the mixture's
  total covariance of (y_E, y_m).
* quantile: q50 (the median) is the calibration response; correlation 0 (not modelled).
* gaussian: μ (mean = median = mode of y); q16/q84 = μ ∓ σ; correlation 0.

Width recalibration (docs/method.md#width-recalibration): ``summarise(..., levels=)`` reads
the three quantiles at other levels, per target (``[2, 3]``, E then m, in place of
:data:`LEVELS`): the levels at which the *predicted* CDF holds 15.87/50/84.13 % of the
validation jets (:func:`recalibrated_levels` of the knots ``[2, PIT_KNOTS]``, the empirical
quantiles of the validation PIT values at the nominal levels :func:`nominal_levels`). Density:
bisection at those levels; gaussian: μ + σ Φ⁻¹(p); quantile: the split normal through its
three quantiles at Φ⁻¹(p). The calibration responses (``cal_*``) and the correlation do not
change. With ``levels=None`` (identity recalibration) the summaries are those of before, bit
for bit.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = [
    "HEADS",
    "LEVELS",
    "PIT_KNOTS",
    "PROBABILISTIC_HEADS",
    "SUMMARY_KEYS",
    "head_loss",
    "identity_recalibration",
    "init_head",
    "marginal_cdf",
    "n_params",
    "nominal_levels",
    "recalibrated_levels",
    "shift_mass",
    "summarise",
]

HEADS = ("mode", "density", "quantile", "gaussian")
PROBABILISTIC_HEADS = ("density", "quantile", "gaussian")
#: The quantile levels Φ(−1), 0.5, Φ(1).
LEVELS = (0.5 * math.erfc(1 / math.sqrt(2)), 0.5, 1 - 0.5 * math.erfc(1 / math.sqrt(2)))
#: Keys of :func:`summarise`'s dict, each ``[B]`` in y = log r.
SUMMARY_KEYS = ("cal_e", "cal_m", "q16_e", "q50_e", "q84_e", "q16_m", "q50_m", "q84_m", "corr")
#: Smallest width of any Gaussian, in log r (0.1 %): keeps the likelihood bounded.
SIGMA_MIN = 1e-3
MODE_STEPS = 25
QUANTILE_STEPS = 32
_LOG_2PI = math.log(2 * math.pi)
#: Knots of the width recalibration's map: the nominal levels p_j = j / (PIT_KNOTS − 1).
PIT_KNOTS = 101
#: Bisection halvings of Φ⁻¹ on [−9, 9] (recalibrated gaussian and quantile heads).
_PPF_STEPS = 48


def nominal_levels() -> torch.Tensor:
    """The knots' nominal levels p_j = j / (PIT_KNOTS − 1), float32 ``[PIT_KNOTS]``."""
    return (torch.arange(PIT_KNOTS, dtype=torch.float64) / (PIT_KNOTS - 1)).float()


def identity_recalibration() -> torch.Tensor:
    """The identity map (``recal_pit`` of a network without a fitted recalibration, or saved
    by an earlier jetcalib): each target's knots equal to the nominal levels, ``[2, PIT_KNOTS]``."""
    return nominal_levels().repeat(2, 1)


def recalibrated_levels(recal_pit: torch.Tensor) -> torch.Tensor:
    """The levels ``[2, 3]`` (E, m) at which to read the predicted marginal CDF for the
    recalibrated 15.87/50/84.13 % quantiles: the knots ``recal_pit [2, PIT_KNOTS]`` (the
    empirical quantiles of the PIT at the nominal levels) interpolated at :data:`LEVELS`
    (constant knot indices: pure torch, traced into an ONNX export)."""
    cols = []
    for level in LEVELS:
        pos = level * (PIT_KNOTS - 1)
        i = min(int(pos), PIT_KNOTS - 2)
        f = pos - i
        cols.append(recal_pit[:, i] * (1.0 - f) + recal_pit[:, i + 1] * f)
    return torch.stack(cols, dim=1)


def _norm_ppf(p: torch.Tensor) -> torch.Tensor:
    """Φ⁻¹(p) elementwise by bisection of Φ on [−9, 9] (Erf only: exports to any ONNX opset)."""
    lo = torch.full_like(p, -9.0)
    hi = torch.full_like(p, 9.0)
    for _ in range(_PPF_STEPS):
        mid = 0.5 * (lo + hi)
        below = _norm_cdf(mid) < p
        lo = torch.where(below, mid, lo)
        hi = torch.where(below, hi, mid)
    return 0.5 * (lo + hi)


def n_params(head: str, components: int) -> int:
    """Outputs of the head's last layer."""
    return {"density": 6 * components, "quantile": 6, "gaussian": 4}[head]


def _sigma(raw: torch.Tensor) -> torch.Tensor:
    return nn.functional.softplus(raw) + SIGMA_MIN


def _inv_sigma(s: float) -> float:
    return math.log(math.expm1(s - SIGMA_MIN))


def init_head(layer: nn.Linear, head: str, components: int, log_r_e: float, log_r_m: float) -> None:
    """Start ``layer`` near a constant distribution at the sample's typical log-responses:
    small random weights, widths 0.1 (E) and 0.2 (m); a density head's components spread in
    location and width so that they do not stay identical."""
    with torch.no_grad():
        nn.init.normal_(layer.weight, std=1e-3)
        b = layer.bias
        if head == "gaussian":
            b.copy_(torch.tensor([log_r_e, log_r_m, _inv_sigma(0.1), _inv_sigma(0.2)]))
        elif head == "quantile":
            b.copy_(torch.tensor([log_r_e, log_r_m, _inv_sigma(0.1), _inv_sigma(0.2),
                                  _inv_sigma(0.1), _inv_sigma(0.2)]))
        else:
            k = components
            spread = torch.linspace(-1.0, 1.0, k) if k > 1 else torch.zeros(1)
            b.zero_()
            b[k:2 * k] = log_r_e + 0.1 * spread
            b[2 * k:3 * k] = log_r_m + 0.2 * spread
            b[3 * k:4 * k] = torch.tensor([_inv_sigma(0.1 * (1.5 ** i)) for i in range(k)])
            b[4 * k:5 * k] = torch.tensor([_inv_sigma(0.2 * (1.5 ** i)) for i in range(k)])


def _mass_loc(head: str, components: int) -> slice:
    if head == "density":
        return slice(2 * components, 3 * components)
    return slice(1, 2)


def shift_mass(head: str, components: int, params: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """``params`` with the mass location(s) moved by g(x) ``[B]`` (the multiplicative mass
    path of docs/method.md#network): every mass quantile moves with it."""
    # a constant mask, no in-place writes: the graph keeps a dynamic batch axis in ONNX
    mask = torch.zeros(params.shape[-1], dtype=params.dtype, device=params.device)
    mask[_mass_loc(head, components)] = 1.0
    return params + g.unsqueeze(-1) * mask


# --- density ------------------------------------------------------------------------------------
def _mixture(params: torch.Tensor, k: int) -> tuple[torch.Tensor, ...]:
    """(log π, μ_E, μ_m, σ_E, σ_m, ℓ), each ``[B, K]``."""
    logits, mu_e, mu_m, se_raw, sm_raw, ell = params.split(k, dim=-1)
    return torch.log_softmax(logits, dim=-1), mu_e, mu_m, _sigma(se_raw), _sigma(sm_raw), ell


def _density_loss(params: torch.Tensor, y_e: torch.Tensor, y_m: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    log_pi, mu_e, mu_m, s_e, s_m, ell = _mixture(params, k)
    z1 = (y_e.unsqueeze(-1) - mu_e) / s_e
    z2 = (y_m.unsqueeze(-1) - mu_m - ell * z1) / s_m
    log_e_k = -0.5 * _LOG_2PI - torch.log(s_e) - 0.5 * z1 * z1
    log_m_k = -0.5 * _LOG_2PI - torch.log(s_m) - 0.5 * z2 * z2  # log N(y_m | y_E), component k
    log_p_e = torch.logsumexp(log_pi + log_e_k, dim=-1)
    log_p_em = torch.logsumexp(log_pi + log_e_k + log_m_k, dim=-1)
    return -log_p_e, -(log_p_em - log_p_e)


def _norm_cdf(z: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1.0 + torch.erf(z / math.sqrt(2.0)))


def _marginal_mode(log_pi: torch.Tensor, mu: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Mode ``[B]`` of the 1D mixture Σ π_k N(μ_k, s_k²): mean-shift from every μ_k."""
    inv_var = 1.0 / (s * s)  # [B, K]
    y = mu  # [B, K] starts: one per component mean
    for _ in range(MODE_STEPS):
        z = (y.unsqueeze(-1) - mu.unsqueeze(1)) * s.unsqueeze(1).reciprocal()  # [B, start, K]
        logw = log_pi.unsqueeze(1) - torch.log(s).unsqueeze(1) - 0.5 * z * z
        w = torch.softmax(logw, dim=-1)  # responsibilities; the common factor cancels
        wi = w * inv_var.unsqueeze(1)
        y = (wi * mu.unsqueeze(1)).sum(-1) / wi.sum(-1)
    z = (y.unsqueeze(-1) - mu.unsqueeze(1)) / s.unsqueeze(1)
    logp = torch.logsumexp(log_pi.unsqueeze(1) - torch.log(s).unsqueeze(1) - 0.5 * z * z, dim=-1)  # [B, start]
    best = torch.argmax(logp, dim=-1, keepdim=True)
    return torch.gather(y, 1, best).squeeze(-1)


def _marginal_quantiles(log_pi: torch.Tensor, mu: torch.Tensor, s: torch.Tensor,
                        at: torch.Tensor | None = None) -> torch.Tensor:
    """The :data:`LEVELS` quantiles ``[B, 3]`` of Σ π_k N(μ_k, s_k²), by bisection of the CDF;
    ``at [3]``: at these levels instead."""
    pi = torch.exp(log_pi).unsqueeze(1)  # [B, 1, K]
    levels = mu.new_tensor(LEVELS) if at is None else at.to(mu.dtype)
    zero = 0.0 * levels  # [3]: broadcasting, not expand(), keeps the ONNX batch axis dynamic
    lo = (mu - 8 * s).min(dim=-1, keepdim=True).values + zero  # [B, 3]
    hi = (mu + 8 * s).max(dim=-1, keepdim=True).values + zero
    mu3, s3 = mu.unsqueeze(1), s.unsqueeze(1)
    for _ in range(QUANTILE_STEPS):
        mid = 0.5 * (lo + hi)
        cdf = (pi * _norm_cdf((mid.unsqueeze(-1) - mu3) / s3)).sum(-1)
        below = cdf < levels
        lo = torch.where(below, mid, lo)
        hi = torch.where(below, hi, mid)
    return 0.5 * (lo + hi)


def _density_summary(params: torch.Tensor, k: int, levels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    log_pi, mu_e, mu_m, s_e, s_m, ell = _mixture(params, k)
    s_mm = torch.sqrt(ell * ell + s_m * s_m)  # marginal σ of y_m per component
    q_e = _marginal_quantiles(log_pi, mu_e, s_e, None if levels is None else levels[0])
    q_m = _marginal_quantiles(log_pi, mu_m, s_mm, None if levels is None else levels[1])
    pi = torch.exp(log_pi)
    mean_e, mean_m = (pi * mu_e).sum(-1), (pi * mu_m).sum(-1)
    de, dm = mu_e - mean_e.unsqueeze(-1), mu_m - mean_m.unsqueeze(-1)
    var_e = (pi * (s_e * s_e + de * de)).sum(-1)
    var_m = (pi * (s_mm * s_mm + dm * dm)).sum(-1)
    cov = (pi * (s_e * ell + de * dm)).sum(-1)
    return {
        "cal_e": _marginal_mode(log_pi, mu_e, s_e), "cal_m": _marginal_mode(log_pi, mu_m, s_mm),
        "q16_e": q_e[:, 0], "q50_e": q_e[:, 1], "q84_e": q_e[:, 2],
        "q16_m": q_m[:, 0], "q50_m": q_m[:, 1], "q84_m": q_m[:, 2],
        "corr": cov / torch.sqrt(var_e * var_m),
    }


# --- quantile, gaussian ----------------------------------------------------------------------------
def _quantiles(params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``[B, 3]`` (q16, q50, q84) for E and for m."""
    q50, lo, hi = params[:, 0:2], _sigma(params[:, 2:4]), _sigma(params[:, 4:6])
    q = torch.stack([q50 - lo, q50, q50 + hi], dim=-1)  # [B, 2, 3]
    return q[:, 0], q[:, 1]


def _pinball(q: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    levels = q.new_tensor(LEVELS)
    d = y.unsqueeze(-1) - q
    return torch.maximum(levels * d, (levels - 1) * d).sum(-1)


def _gaussian_nll(mu: torch.Tensor, s: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    z = (y - mu) / s
    return 0.5 * _LOG_2PI + torch.log(s) + 0.5 * z * z


# --- the heads' interface -------------------------------------------------------------------------
def head_loss(head: str, components: int, params: torch.Tensor, y_e: torch.Tensor,
              y_m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-jet losses ``(L_E, L_m)``, each ``[B]``, of a probabilistic head; L_m is weighted by
    the mass weights (0 where masked), so y_m there may be any finite placeholder."""
    if head == "density":
        return _density_loss(params, y_e, y_m, components)
    if head == "quantile":
        q_e, q_m = _quantiles(params)
        return _pinball(q_e, y_e), _pinball(q_m, y_m)
    mu, s = params[:, 0:2], _sigma(params[:, 2:4])
    return _gaussian_nll(mu[:, 0], s[:, 0], y_e), _gaussian_nll(mu[:, 1], s[:, 1], y_m)


def _split_normal(q: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Quantiles ``[B, 3]`` at standard-normal points ``z [3]`` of the split normal through
    ``q = (q16, q50, q84) [B, 3]`` (as :func:`marginal_cdf` reads the quantile head)."""
    q50 = q[:, 1:2]
    return (q50 + torch.clamp(z, max=0.0) * (q50 - q[:, 0:1])
            + torch.clamp(z, min=0.0) * (q[:, 2:3] - q50))


def summarise(head: str, components: int, params: torch.Tensor,
              levels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Per-jet summaries (:data:`SUMMARY_KEYS`) of a probabilistic head, in y = log r.
    ``levels [2, 3]`` (E, m): read the q16/q50/q84 summaries at these levels of the predicted
    marginal CDFs instead of :data:`LEVELS` (the width recalibration,
    :func:`recalibrated_levels`); None: at :data:`LEVELS`, exactly as before it existed."""
    if head == "density":
        return _density_summary(params, components, levels)
    z = None if levels is None else _norm_ppf(levels.to(params.dtype))  # [2, 3]
    if head == "quantile":
        q_e, q_m = _quantiles(params)
        cal_e, cal_m = q_e[:, 1], q_m[:, 1]
        if z is not None:
            q_e, q_m = _split_normal(q_e, z[0]), _split_normal(q_m, z[1])
        return {"cal_e": cal_e, "cal_m": cal_m,
                "q16_e": q_e[:, 0], "q50_e": q_e[:, 1], "q84_e": q_e[:, 2],
                "q16_m": q_m[:, 0], "q50_m": q_m[:, 1], "q84_m": q_m[:, 2],
                "corr": torch.zeros_like(q_e[:, 0])}
    mu, s = params[:, 0:2], _sigma(params[:, 2:4])
    if z is not None:
        g_e = mu[:, 0:1] + z[0] * s[:, 0:1]  # [B, 3]
        g_m = mu[:, 1:2] + z[1] * s[:, 1:2]
        return {"cal_e": mu[:, 0], "cal_m": mu[:, 1],
                "q16_e": g_e[:, 0], "q50_e": g_e[:, 1], "q84_e": g_e[:, 2],
                "q16_m": g_m[:, 0], "q50_m": g_m[:, 1], "q84_m": g_m[:, 2],
                "corr": torch.zeros_like(mu[:, 0])}
    return {"cal_e": mu[:, 0], "cal_m": mu[:, 1],
            "q16_e": mu[:, 0] - s[:, 0], "q50_e": mu[:, 0], "q84_e": mu[:, 0] + s[:, 0],
            "q16_m": mu[:, 1] - s[:, 1], "q50_m": mu[:, 1], "q84_m": mu[:, 1] + s[:, 1],
            "corr": torch.zeros_like(mu[:, 0])}


def marginal_cdf(head: str, components: int, params: torch.Tensor, y_e: torch.Tensor,
                 y_m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """PIT values ``(F̂_E(y_E), F̂_m(y_m))``, each ``[B]``: the predicted marginal CDFs at the
    true log-responses. Density: the mixture's exact CDF; gaussian: Φ((y − μ)/σ); quantile: the
    split normal through (q16, q50, q84), as :func:`jetcalib.evaluate.coverage.pit_values`."""
    if head == "density":
        log_pi, mu_e, mu_m, s_e, s_m, ell = _mixture(params, components)
        pi = torch.exp(log_pi)
        s_mm = torch.sqrt(ell * ell + s_m * s_m)
        u_e = (pi * _norm_cdf((y_e.unsqueeze(-1) - mu_e) / s_e)).sum(-1)
        u_m = (pi * _norm_cdf((y_m.unsqueeze(-1) - mu_m) / s_mm)).sum(-1)
        return u_e, u_m
    if head == "gaussian":
        mu, s = params[:, 0:2], _sigma(params[:, 2:4])
        return _norm_cdf((y_e - mu[:, 0]) / s[:, 0]), _norm_cdf((y_m - mu[:, 1]) / s[:, 1])
    out = []
    for q, y in zip(_quantiles(params), (y_e, y_m), strict=True):
        below = (y - q[:, 1]) / (q[:, 1] - q[:, 0])
        above = (y - q[:, 1]) / (q[:, 2] - q[:, 1])
        out.append(_norm_cdf(torch.where(y < q[:, 1], below, above)))
    return out[0], out[1]
