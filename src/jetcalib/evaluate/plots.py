"""Figures of the evaluation report (matplotlib Agg backend, ATLAS-like mplhep style).

Each function returns a :class:`matplotlib.figure.Figure`; every axis has a label with its
unit. Lines: one per method, the baseline dashed black; ratio panels divide by the baseline.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["closure_resolution_figure", "mass_peak_figure", "resolution_map_figure", "response_figure", "setup_style"]

_QUANTITY = {"energy": ("E", "E"), "mass": ("m", "m")}


def setup_style() -> None:
    """Agg backend and the ATLAS-like style (idempotent)."""
    import matplotlib

    matplotlib.use("Agg")
    import mplhep

    mplhep.style.use("ATLAS")


def _colors(methods: list[str], baseline: str) -> dict[str, tuple[str, str]]:
    palette = ["tab:blue", "tab:red", "tab:green", "tab:purple", "tab:orange", "tab:brown"]
    out, i = {}, 0
    for m in methods:
        if m == "uncalibrated":
            out[m] = ("0.55", ":")
        elif m == baseline:
            out[m] = ("black", "--")
        else:
            out[m] = (palette[i % len(palette)], "-")
            i += 1
    return out


def response_figure(
    responses: Mapping[str, Mapping[str, np.ndarray]], baseline: str
):
    """Distributions of E_cal/E_true and m_cal/m_true per method. ``responses[method][q]``."""
    import hist
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 5.2))
    colors = _colors(list(responses), baseline)
    for ax, q in zip(axes, ("energy", "mass"), strict=True):
        sym = _QUANTITY[q][0]
        h0 = hist.Hist.new.Reg(100, 0.4, 1.6, name="r").Double()
        for m, r in responses.items():
            h = h0.copy().fill(r=r[q])  # outside 0.4-1.6: flow bins, not drawn
            c, ls = colors[m]
            vals = h.values() / max(h.values().sum(), 1)
            ax.stairs(vals, h.axes[0].edges, color=c, linestyle=ls, label=m, linewidth=1.6)
        ax.set_xlabel(rf"${sym}^\mathrm{{cal}}/{sym}^\mathrm{{true}}$")
        ax.set_ylabel("fraction of jets / 0.012")
        ax.legend(fontsize=11)
    fig.tight_layout()
    return fig


def closure_resolution_figure(
    binned: Mapping[str, np.ndarray], quantity: str, variable: str, label: str, log_x: bool, baseline: str
):
    """Closure (median, mode dotted), resolution, and resolution / baseline vs ``variable``."""
    import matplotlib.pyplot as plt

    sym = _QUANTITY[quantity][0]
    sel = (binned["quantity"] == quantity) & (binned["variable"] == variable)
    methods = list(dict.fromkeys(binned["method"][sel]))
    colors = _colors(methods, baseline)
    fig, (a1, a2, a3) = plt.subplots(3, 1, figsize=(7, 9), sharex=True,
                                     gridspec_kw={"height_ratios": [2, 2, 1.2], "hspace": 0.06})
    base = sel & (binned["method"] == baseline)
    for m in methods:
        s = sel & (binned["method"] == m)
        x = binned["centre"][s]
        xerr = [x - binned["lo"][s], binned["hi"][s] - x]
        c, ls = colors[m]
        a1.errorbar(x, binned["median"][s], yerr=binned["median_err"][s], xerr=xerr, color=c, ls=ls,
                    marker="o", ms=4, label=f"{m} (median)")
        a1.plot(x, binned["mode"][s], color=c, ls="none", marker="^", ms=4, alpha=0.7)
        a2.errorbar(x, binned["resolution"][s], yerr=binned["resolution_err"][s], xerr=xerr, color=c,
                    ls=ls, marker="o", ms=4, label=m)
        if m != "uncalibrated":
            ratio = binned["resolution"][s] / binned["resolution"][base]
            a3.plot(x, ratio, color=c, ls=ls, marker="o", ms=4)
    a1.axhline(1, color="0.7", lw=0.8)
    a1.axhspan(0.99, 1.01, color="0.9", zorder=0)
    a1.set_ylabel(rf"closure $\langle {sym}^\mathrm{{cal}}/{sym}^\mathrm{{true}}\rangle$")
    a1.legend(fontsize=9, title="triangles: mode", title_fontsize=9)
    a2.set_ylabel(rf"resolution $\frac{{q_{{84}}-q_{{16}}}}{{2\,q_{{50}}}}$ ({sym})")
    a3.axhline(1, color="0.7", lw=0.8)
    a3.set_ylabel(f"ratio to\n{baseline}", fontsize=11)
    a3.set_xlabel(label)
    if log_x:
        a3.set_xscale("log")
    fig.align_ylabels()
    return fig


def resolution_map_figure(
    ratio: np.ndarray, pt_edges: np.ndarray, m_edges: np.ndarray, quantity: str, title: str
):
    """2-D map of a resolution ratio (method / baseline) in (pT_true, m_true); ``ratio[pt, m]``."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    fig, ax = plt.subplots(figsize=(7.5, 5.8))
    finite = ratio[np.isfinite(ratio)]
    lo = min(0.5, float(finite.min())) if finite.size else 0.5
    hi = max(1.5, float(finite.max())) if finite.size else 1.5
    mesh = ax.pcolormesh(pt_edges, m_edges, ratio.T, cmap="RdBu_r", norm=TwoSlopeNorm(1.0, lo, hi))
    for i in range(len(pt_edges) - 1):
        for j in range(len(m_edges) - 1):
            if np.isfinite(ratio[i, j]):
                ax.text(np.sqrt(pt_edges[i] * pt_edges[i + 1]), np.sqrt(m_edges[j] * m_edges[j + 1]),
                        f"{ratio[i, j]:.2f}", ha="center", va="center", fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"$p_\mathrm{T}^\mathrm{true}$ [GeV]")
    ax.set_ylabel(r"$m^\mathrm{true}$ [GeV]")
    sym = _QUANTITY[quantity][0]
    fig.colorbar(mesh, ax=ax, label=f"{sym} resolution ratio")
    ax.set_title(title, fontsize=12)
    return fig


def mass_peak_figure(
    masses: Mapping[str, np.ndarray], fits: Mapping[str, Mapping[str, float]], window: tuple[float, float],
    true_mass: np.ndarray, title: str, baseline: str,
):
    """m_cal distributions of W/Z or top jets per method (and m_true), with fitted peaks."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    edges = np.linspace(0, 1.6 * window[1], 61)
    colors = _colors(list(masses), baseline)
    ax.hist(true_mass, bins=edges.tolist(), histtype="stepfilled", color="0.85", label="truth")
    for m, mass in masses.items():
        c, ls = colors[m]
        f = fits.get(m, {})
        lab = m if f.get("position") is None or not np.isfinite(f.get("position", np.nan)) else (
            f"{m}: peak {f['position']:.1f} GeV, σ {f['width']:.1f} GeV")
        ax.hist(mass, bins=edges.tolist(), histtype="step", color=c, ls=ls, lw=1.6, label=lab)
    ax.set_xlabel(r"jet mass $m$ [GeV]")
    ax.set_ylabel(f"jets / {edges[1] - edges[0]:.1f} GeV")
    ax.set_title(title, fontsize=12)
    ax.legend(fontsize=9)
    return fig
