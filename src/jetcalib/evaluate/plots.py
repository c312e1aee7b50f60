"""Figures of the evaluation report (matplotlib Agg backend, ATLAS-like mplhep style).

Each function returns a :class:`matplotlib.figure.Figure`; every axis has a label with its
unit and says which estimator it shows (median, mode, (q84 − q16)/(2 q50)). Lines: one per
method, the baseline dashed black; ratio panels divide by the baseline, with error bars from
the two bootstrap errors added in quadrature (conservative: the same jets enter both). Every
figure carries the experiment-style label :func:`experiment_label` and the jet definition.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = [
    "closure_resolution_figure",
    "experiment_label",
    "generator_shift_figure",
    "jet_definition",
    "mass_peak_figure",
    "resolution_map_figure",
    "response_figure",
    "setup_style",
    "sliced_figure",
]

_QUANTITY = {"energy": ("E", "E"), "mass": ("m", "m")}
#: tick labels of the categorical ``process`` axis (io.Process codes)
PROCESS_NAMES = {0: "dijet", 1: "W/Z", 2: "top", 3: "alt. dijet", 99: "unknown"}


def setup_style() -> None:
    """Agg backend and the ATLAS-like style (idempotent)."""
    import matplotlib

    matplotlib.use("Agg")
    import mplhep

    mplhep.style.use("ATLAS")


def jet_definition(jets: Mapping | None = None) -> str:
    """The jet definition of a figure's label, from the ``jets`` block of a generated table's
    detector config (``grooming``, ``trim_fcut``, ``trim_rsub``, ``softdrop_*``); without one
    (a user's own sample) only the jet algorithm, which the schema fixes."""
    text = r"anti-$k_t$ $R$ = 1.0"
    if not jets:
        return text
    radius = jets.get("radius")
    if radius is not None:
        text = rf"anti-$k_t$ $R$ = {float(radius):.1f}"
    groom = jets.get("grooming")
    if groom == "trimming":
        return (text + rf", trimmed ($R_\mathrm{{sub}}$ = {jets.get('trim_rsub', 0.2):g}, "
                rf"$f_\mathrm{{cut}}$ = {jets.get('trim_fcut', 0.05):g})")
    if groom in ("softdrop", "soft_drop"):
        return (text + rf", soft drop ($\beta$ = {jets.get('softdrop_beta', 1.0):g}, "
                rf"$z_\mathrm{{cut}}$ = {jets.get('softdrop_zcut', 0.1):g})")
    if groom in (None, "none"):
        return text + ", ungroomed" if groom == "none" else text
    return text + f", {groom}"


def experiment_label(ax, jet_label: str = "", extra: str = "") -> None:
    """"jetcalib Simulation" (bold, italic: mplhep's experiment-label layout) and √s = 13 TeV
    above ``ax``, the jet definition and ``extra`` (e.g. the selection of a panel) as a small
    line inside it, top left.

    Drawn with matplotlib's text and annotate (placed at draw time) in the mplhep style set by
    :func:`setup_style`, not with ``mplhep.label.exp_label``: that one draws the whole figure to
    measure each label (0.5 s per panel, half the report's time)."""
    first = ax.text(0.0, 1.012, "jetcalib", transform=ax.transAxes, ha="left", va="bottom", fontsize=11,
                    fontweight="bold")
    ax.annotate("Simulation", xy=(1.0, 0.0), xycoords=first, xytext=(3.5, 0.0), textcoords="offset points",
                ha="left", va="bottom", fontsize=11, fontstyle="italic")
    ax.text(1.0, 1.012, "√s = 13 TeV", transform=ax.transAxes, ha="right", va="bottom", fontsize=10)
    lines = "\n".join(t for t in (jet_label, extra) if t)
    if lines:
        ax.text(0.03, 0.96, lines, transform=ax.transAxes, ha="left", va="top", fontsize=8.5,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.7, "pad": 1.5})


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


def _ratio(num: np.ndarray, num_err: np.ndarray, den: np.ndarray, den_err: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(invalid="ignore", divide="ignore"):
        r = num / den
        return r, np.abs(r) * np.hypot(num_err / num, den_err / den)


def _log_ticks(ax) -> None:
    """Plain numbers (200, 500, 1000) on a log x axis, not 2×10²."""
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())


def _fit_x_range(ax, lo: np.ndarray, hi: np.ndarray, filled: np.ndarray, log: bool) -> None:
    """x range to the bins that hold a statistic (not to the binning's last edge)."""
    if log:
        _log_ticks(ax)
    if not filled.any():
        return
    x0, x1 = float(np.min(lo[filled])), float(np.max(hi[filled]))
    if log:
        ax.set_xlim(x0 / 1.05, x1 * 1.05)
    else:
        pad = 0.03 * (x1 - x0)
        ax.set_xlim(x0 - pad, x1 + pad)


def response_figure(
    responses: Sequence[Mapping[str, Mapping[str, np.ndarray]]], baseline: str, bin_labels: Sequence[str],
    jet_label: str = "",
):
    """Distributions of E_cal/E_true (top row) and m_cal/m_true (bottom) per method, one
    column per selection (e.g. pT_true bin). ``responses[column][method][quantity]``."""
    import hist
    import matplotlib.pyplot as plt

    n = len(responses)
    fig, axes = plt.subplots(2, n, figsize=(4.2 * n, 8), squeeze=False)
    colors = _colors(list(responses[0]), baseline)
    edges = hist.axis.Regular(60, 0.4, 1.6).edges
    for col, (by_method, lab) in enumerate(zip(responses, bin_labels, strict=True)):
        for row, q in enumerate(("energy", "mass")):
            ax = axes[row, col]
            sym = _QUANTITY[q][0]
            for m, r in by_method.items():
                counts, _ = np.histogram(r[q], bins=edges)  # outside 0.4-1.6: not drawn
                c, ls = colors[m]
                ax.stairs(counts / max(len(r[q]), 1), edges, color=c, linestyle=ls, label=m, linewidth=1.5)
            ax.set_xlabel(rf"${sym}^\mathrm{{cal}}/{sym}^\mathrm{{true}}$")
            ax.set_xlim(edges[0], edges[-1])
            if col == 0:
                ax.set_ylabel(f"fraction of jets / {edges[1] - edges[0]:.2f}")
            ax.set_ylim(0, ax.get_ylim()[1] * 1.35)
            n_jets = len(next(iter(by_method.values()))[q])
            experiment_label(ax, "", f"{lab}\n{n_jets:,} jets" + (r", $m^\mathrm{true}$ > 30 GeV" if q == "mass" else ""))
            if row == 0 and col == n - 1:
                ax.legend(fontsize=8, loc="upper right")
    fig.suptitle(jet_label, fontsize=10, y=0.995)
    fig.tight_layout()
    return fig


def _plain_y(ax) -> None:
    """Tick labels 0.05, not 5 with a ×10⁻² offset that collides with the label above."""
    ax.ticklabel_format(axis="y", style="plain", useOffset=False)


def _draw_panels(a1, a2, a3, rows: Mapping[str, np.ndarray], methods: list[str], baseline: str,
                 categorical: bool) -> np.ndarray:
    """Closure (median; mode as triangles), resolution and ratio to the baseline of the rows of
    one figure column. Returns the mask of filled bins."""
    for ax in (a1, a2, a3):
        _plain_y(ax)
    colors = _colors(methods, baseline)
    base = rows["method"] == baseline
    filled = np.zeros(len(rows["method"]), dtype=bool)
    offsets = np.linspace(-0.2, 0.2, len(methods)) if categorical and len(methods) > 1 else np.zeros(len(methods))
    for k, m in enumerate(methods):
        s = rows["method"] == m
        filled |= s & np.isfinite(rows["median"])
        x = rows["centre"][s]
        c, ls = colors[m]
        if categorical:
            x = 0.5 * (rows["lo"][s] + rows["hi"][s]) + offsets[k]
            xerr = None
            ls = "none"
        else:
            xerr = [x - rows["lo"][s], rows["hi"][s] - x]
        a1.errorbar(x, rows["median"][s], yerr=rows["median_err"][s], xerr=xerr, color=c, ls=ls,
                    marker="o", ms=4, label=m)
        a1.plot(x, rows["mode"][s], color=c, ls="none", marker="^", ms=4, alpha=0.7)
        a2.errorbar(x, rows["resolution"][s], yerr=rows["resolution_err"][s], xerr=xerr, color=c,
                    ls=ls, marker="o", ms=4, label=m)
        if m not in ("uncalibrated", baseline) and base.sum() == s.sum():
            r, e = _ratio(rows["resolution"][s], rows["resolution_err"][s], rows["resolution"][base],
                          rows["resolution_err"][base])
            a3.errorbar(x, r, yerr=e, xerr=xerr, color=c, ls=ls, marker="o", ms=4)
    a1.axhline(1, color="0.7", lw=0.8)
    a1.axhspan(0.99, 1.01, color="0.9", zorder=0)
    a3.axhline(1, color="0.7", lw=0.8)
    return filled


def _closure_label(sym: str) -> str:
    return rf"median ${sym}^\mathrm{{cal}}/{sym}^\mathrm{{true}}$" + "\n" + r"($\blacktriangle$: mode)"


def _resolution_label(sym: str) -> str:
    return (rf"resolution of ${sym}^\mathrm{{cal}}/{sym}^\mathrm{{true}}$" + "\n"
            + r"$(q_{84}-q_{16})\,/\,(2\,q_{50})$")


def closure_resolution_figure(
    binned: Mapping[str, np.ndarray], quantity: str, variable: str, label: str, log_x: bool, baseline: str,
    jet_label: str = "", selection: str = "",
):
    """Closure (median, mode as triangles), resolution, and resolution / baseline vs
    ``variable``; ``process`` is drawn as a categorical axis (points, no lines)."""
    import matplotlib.pyplot as plt

    sym = _QUANTITY[quantity][0]
    sel = (binned["quantity"] == quantity) & (binned["variable"] == variable)
    rows = {k: np.asarray(v)[sel] for k, v in binned.items()}
    methods = list(dict.fromkeys(rows["method"]))
    categorical = variable == "process"
    fig, (a1, a2, a3) = plt.subplots(3, 1, figsize=(7, 9.4), sharex=True,
                                     gridspec_kw={"height_ratios": [2, 2, 1.2], "hspace": 0.06})
    filled = _draw_panels(a1, a2, a3, rows, methods, baseline, categorical)
    a1.set_ylabel(_closure_label(sym), fontsize=13)
    a1.legend(fontsize=9, loc="upper right")
    a2.set_ylabel(_resolution_label(sym), fontsize=13)
    a3.set_ylabel(f"resolution /\n{baseline}", fontsize=11)
    a3.set_xlabel("process" if categorical else label)
    experiment_label(a1, jet_label, selection)
    a1.set_ylim(a1.get_ylim()[0], a1.get_ylim()[1] + 0.35 * np.diff(a1.get_ylim())[0])
    if categorical:
        codes = sorted({round(0.5 * (lo + hi)) for lo, hi in zip(rows["lo"][filled], rows["hi"][filled],
                                                                           strict=True)})
        a3.set_xticks(codes, [PROCESS_NAMES.get(c, str(c)) for c in codes])
        a3.minorticks_off()
        a1.minorticks_off()
        a2.minorticks_off()
        if codes:
            a3.set_xlim(codes[0] - 0.6, codes[-1] + 0.6)
    else:
        if log_x:
            a3.set_xscale("log")
        _fit_x_range(a3, rows["lo"], rows["hi"], filled, log_x)
    fig.align_ylabels()
    return fig


def sliced_figure(
    sliced: Mapping[str, np.ndarray], quantity: str, label: str, log_x: bool, baseline: str, slice_label: str, jet_label: str = "", selection: str = "",
):
    """:func:`closure_resolution_figure` in one column per slice of a
    :func:`~jetcalib.evaluate.study.sliced_table` (e.g. |η_true| slices, or pT_true bins);
    ``slice_label`` formats a slice, e.g. ``"{lo:g} < |η| < {hi:g}"``."""
    import matplotlib.pyplot as plt

    sym = _QUANTITY[quantity][0]
    sel = sliced["quantity"] == quantity
    rows_all = {k: np.asarray(v)[sel] for k, v in sliced.items()}
    # slices without one filled bin (too few jets) are left out, not drawn as empty panels
    slices = [(lo, hi) for lo, hi in dict.fromkeys(zip(rows_all["slice_lo"], rows_all["slice_hi"], strict=True))
              if np.isfinite(rows_all["median"][(rows_all["slice_lo"] == lo) & (rows_all["slice_hi"] == hi)]).any()]
    if not slices:
        slices = list(dict.fromkeys(zip(rows_all["slice_lo"], rows_all["slice_hi"], strict=True)))[:1]
    methods = list(dict.fromkeys(rows_all["method"]))
    n = len(slices)
    fig, axes = plt.subplots(3, n, figsize=(4.3 * n, 9.4), sharex="col", sharey="row", squeeze=False,
                             gridspec_kw={"height_ratios": [2, 2, 1.2], "hspace": 0.06, "wspace": 0.05})
    for col, (lo, hi) in enumerate(slices):
        s = (rows_all["slice_lo"] == lo) & (rows_all["slice_hi"] == hi)
        rows = {k: v[s] for k, v in rows_all.items()}
        a1, a2, a3 = axes[:, col]
        filled = _draw_panels(a1, a2, a3, rows, methods, baseline, False)
        if log_x:
            a3.set_xscale("log")
        _fit_x_range(a3, rows["lo"], rows["hi"], filled, log_x)
        a3.set_xlabel(label)
        experiment_label(a1, jet_label if col == 0 else "", slice_label.format(lo=lo, hi=hi)
                         + (f"\n{selection}" if selection and col == 0 else ""))
    axes[0, 0].set_ylabel(_closure_label(sym), fontsize=13)
    axes[1, 0].set_ylabel(_resolution_label(sym), fontsize=13)
    axes[2, 0].set_ylabel(f"resolution /\n{baseline}", fontsize=11)
    top = axes[0, 0].get_ylim()
    axes[0, 0].set_ylim(top[0], top[1] + 0.45 * (top[1] - top[0]))
    axes[0, -1].legend(fontsize=8, loc="upper right")
    fig.align_ylabels()
    return fig


def resolution_map_figure(
    ratio: np.ndarray, pt_edges: np.ndarray, m_edges: np.ndarray, quantity: str, title: str, jet_label: str = "",
):
    """2-D map of a resolution ratio (method / baseline) in (pT_true, m_true); ``ratio[pt, m]``."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    fig, ax = plt.subplots(figsize=(7.5, 6.2))
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
    ax.set_xlim(pt_edges[0], pt_edges[-1])  # the cells, not the decades around them
    ax.set_ylim(m_edges[0], m_edges[-1] * 1.6)  # headroom for the label
    _log_ticks(ax)
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks([e for e in m_edges if e > 0])
    ax.set_xlabel(r"$p_\mathrm{T}^\mathrm{true}$ [GeV]")
    ax.set_ylabel(r"$m^\mathrm{true}$ [GeV]")
    sym = _QUANTITY[quantity][0]
    fig.colorbar(mesh, ax=ax, label=f"{sym} resolution ratio {title}")
    experiment_label(ax, jet_label, r"$|\eta^\mathrm{true}|$ < 2, cells with $\geq$ 30 jets")
    return fig


def _gauss_curve(ax, position: float, width: float, n_in_window: float, window: tuple[float, float],
                 bin_width: float, color: str, ls: str) -> None:
    """The fitted Gaussian core, drawn over ±2σ, normalised to the jets within ±1σ of the peak."""
    if not (np.isfinite(position) and np.isfinite(width) and width > 0 and n_in_window > 0):
        return
    x = np.linspace(max(window[0], position - 2 * width), min(window[1], position + 2 * width), 120)
    y = n_in_window * bin_width / (0.6827 * width * np.sqrt(2 * np.pi)) * np.exp(-0.5 * ((x - position) / width) ** 2)
    ax.plot(x, y, color=color, ls=ls, lw=2.4, alpha=0.55)


def mass_peak_figure(
    masses: Mapping[str, np.ndarray], fits: Mapping[str, Mapping[str, float]], window: tuple[float, float],
    true_mass: np.ndarray, title: str, baseline: str, jet_label: str = "",
):
    """m_cal distributions of W/Z or top jets per method (and m_true), each with its fitted
    Gaussian core drawn (thick translucent line) and the fit in the legend."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5.8))
    edges = np.linspace(0, 1.6 * window[1], 61)
    bw = float(edges[1] - edges[0])
    colors = _colors(list(masses), baseline)
    ax.hist(true_mass, bins=edges.tolist(), histtype="stepfilled", color="0.85", label="truth")
    for m, mass in masses.items():
        c, ls = colors[m]
        f = fits.get(m, {})
        pos, wid = float(f.get("position", np.nan) or np.nan), float(f.get("width", np.nan) or np.nan)
        lab = m if not np.isfinite(pos) else f"{m}: peak {pos:.1f}, σ {wid:.1f} GeV, σ/peak {wid / pos:.3f}"
        ax.hist(mass, bins=edges.tolist(), histtype="step", color=c, ls=ls, lw=1.5, label=lab)
        mass = np.asarray(mass, dtype=np.float64)
        _gauss_curve(ax, pos, wid, float(np.sum(np.abs(mass - pos) <= wid)) if np.isfinite(pos) else 0.0,
                     window, bw, c, ls)
    ax.axvspan(*window, color="0.5", alpha=0.06, zorder=0)
    ax.set_xlabel(r"jet mass $m$ [GeV]")
    ax.set_ylabel(f"jets / {bw:.1f} GeV")
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylim(0, ax.get_ylim()[1] * 1.6)
    experiment_label(ax, jet_label, title)
    ax.legend(fontsize=8, loc="upper right")
    return fig


def generator_shift_figure(rows: Sequence[Mapping], baseline: str, jet_label: str = ""):
    """Generator dependence: shift (altered − nominal sample) of the median closure (left) and
    of the resolution (right) vs pT_true, energy (top) and mass (bottom), per method."""
    import matplotlib.pyplot as plt

    methods = list(dict.fromkeys(r["method"] for r in rows))
    colors = _colors(methods, baseline)
    fig, axes = plt.subplots(2, 2, figsize=(11, 8.6), sharex=True)
    filled_lo, filled_hi = [], []
    for i, q in enumerate(("energy", "mass")):
        sym = _QUANTITY[q][0]
        for j, (stat, what) in enumerate((("median", "median"), ("resolution", "resolution"))):
            ax = axes[i, j]
            for k, m in enumerate(methods):
                sel = [r for r in rows if r["method"] == m and r["quantity"] == q]
                if not sel:
                    continue
                lo = np.array([r["pt_lo"] for r in sel])
                hi = np.array([r["pt_hi"] for r in sel])
                y = np.array([r[f"{stat}_shift"] for r in sel], dtype=np.float64)
                e = np.array([r[f"{stat}_shift_err"] for r in sel], dtype=np.float64)
                x = np.sqrt(lo * hi) * (1 + 0.03 * (k - (len(methods) - 1) / 2))
                c, ls = colors[m]
                ax.errorbar(x, y, yerr=e, xerr=[x - lo, hi - x], color=c, ls=ls, marker="o", ms=4, label=m)
                ok = np.isfinite(y)
                filled_lo += list(lo[ok])
                filled_hi += list(hi[ok])
            ax.axhline(0, color="0.7", lw=0.8)
            _plain_y(ax)
            ax.set_xscale("log")
            _log_ticks(ax)
            ax.set_ylabel(rf"$\Delta$ {what} of ${sym}^\mathrm{{cal}}/{sym}^\mathrm{{true}}$" + "\n(alt. − nominal)",
                          fontsize=12)
            if i == 1:
                ax.set_xlabel(r"$p_\mathrm{T}^\mathrm{true}$ [GeV]")
            yl = ax.get_ylim()
            ax.set_ylim(yl[0], yl[1] + 0.5 * (yl[1] - yl[0]))
            experiment_label(ax, jet_label if (i, j) == (0, 0) else "",
                             r"$p_\mathrm{T}^\mathrm{true}$ > 200 GeV, $|\eta^\mathrm{true}|$ < 2"
                             + (r", $m^\mathrm{true}$ > 30 GeV" if q == "mass" else ""))
    if filled_lo:
        axes[1, 0].set_xlim(min(filled_lo) / 1.05, max(filled_hi) * 1.05)
    axes[0, 1].legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig
