"""Figures: each function takes results and returns a matplotlib Figure; every one draws the theory beside
the measurement.

A leaf of the package: it imports :mod:`reslimit.theory` alone, never the studies (which call it) nor
compare or cli. Figures are made with :class:`matplotlib.figure.Figure`, not pyplot: no backend is chosen
or needed here (scripts, tests and the CLI choose theirs), nothing is kept in pyplot's list of open figures,
and a returned figure shows as a Jupyter cell's value (its PNG) exactly once.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import matplotlib
import matplotlib.ticker
import numpy as np
from matplotlib.figure import Figure as _MplFigure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from . import store, theory


class Figure(_MplFigure):
    """A matplotlib Figure that Jupyter shows as PNG without pyplot (and so without a backend)."""

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=100)
        return buf.getvalue()


def subplots(nrows: int = 1, ncols: int = 1, *, figsize=None, **kwargs) -> tuple[Figure, object]:
    """``Figure(figsize)`` and its axes, as pyplot.subplots returns them, with no pyplot state."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def _rate_panel(ax, depths, errors, rate, theory, label):
    """Log-log errors against depth: samples, mean, quartile band, fitted and theoretical slopes."""
    mean = errors.mean(1)
    q1, q3 = np.quantile(errors, [0.25, 0.75], axis=1)
    ax.fill_between(depths, q1, q3, color="C0", alpha=0.25, label="samples: 25-75% band")
    ax.plot(depths, mean, "o", color="C0", label=f"mean {label}")
    x = np.log(depths)
    fit = np.exp(np.polyval(np.polyfit(x, np.log(mean), 1), x))
    ax.plot(depths, fit, "-", color="C0", label=f"fit: slope {rate.slope:.3f} [{rate.ci_low:.3f}, {rate.ci_high:.3f}]")
    anchor = np.exp(np.mean(np.log(mean)) - theory * np.mean(x))
    ax.plot(depths, anchor * depths**theory, "--", color="C3", label=f"theory: slope {theory:g}")
    _depth_axis(ax, depths)
    ax.legend(fontsize=8)


def _depth_axis(ax, depths) -> None:
    """Log-log axes with depths as the x ticks (no minor labels) and a grid.

    Only depths at least a factor 1.6 apart are labelled (always the smallest and the largest), so a
    linearly spaced grid does not print its labels over each other.
    """
    ax.set_xscale("log")
    ax.set_yscale("log")
    ticks = [float(depths[0])]
    for L in depths[1:-1]:
        if L >= 1.6 * ticks[-1] and depths[-1] >= 1.6 * L:
            ticks.append(float(L))
    if len(depths) > 1:
        ticks.append(float(depths[-1]))
    ax.set_xticks(ticks, [str(int(L)) for L in ticks], minor=False)
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("depth L")
    ax.grid(True, which="both", alpha=0.3)


def convergence_figure(conv, path=None) -> Figure:
    """Path error max_k ||H_{k/L} - h_k|| and gradient error ||P_0 - p_0|| against L, log-log.

    ``conv`` a :class:`reslimit.Convergence`; saved as ``path`` (PNG) and beside it as PDF when given.
    """
    p = conv.params
    fig, axes = subplots(1, 2, figsize=(11, 4.2))
    _rate_panel(axes[0], conv.depths, conv.path_error, conv.rate, conv.theory, "error")
    axes[0].set_ylabel(r"$\max_k \|H_{k/L} - h_k\|$")
    axes[0].set_title(f"{p['limit']} limit, {p['block']} ({p['activation']}), d = {p['width']}")
    _rate_panel(axes[1], conv.depths, conv.grad_error, conv.grad_rate, conv.theory, "gradient error")
    axes[1].set_ylabel(r"$\|P_0 - p_0\|$")
    axes[1].set_title("backward states (adjoint) at the input")
    fig.tight_layout()
    if path is not None:
        save(fig, path)
    return fig


def demo_figure(rows, path=None) -> Figure:
    """The demo's E||h_L - h_0||^2 / ||h_0||^2 against L, log-log, a panel per block: the measured means (error
    bars: 1 SE over the ensemble) beside the theory (1 + c alpha_L^2)^L - 1, alpha_L = L^-beta, per beta.

    ``rows``: :func:`reslimit.demo.run_demo`'s (block, activation, beta, depth, c, measured, se); saved as
    ``path`` (PNG) and beside it as PDF when given.
    """
    panels = list(dict.fromkeys((r["block"], r["activation"]) for r in rows))
    fig, axes = subplots(1, len(panels), figsize=(5.5 * len(panels), 4.5), squeeze=False)
    for ax, (block, activation) in zip(axes[0], panels):
        mine = [r for r in rows if (r["block"], r["activation"]) == (block, activation)]
        for i, beta in enumerate(dict.fromkeys(r["beta"] for r in mine)):
            pts = [r for r in mine if r["beta"] == beta]
            depth = np.array([r["depth"] for r in pts], dtype=float)
            grid = np.geomspace(depth.min(), depth.max(), 200)
            expected = [theory.second_moment(pts[0]["c"], L**-beta, L) for L in grid]
            ax.plot(grid, expected, color=f"C{i}", lw=1.2, label=f"theory, beta = {beta:g}")
            ax.errorbar(depth, [r["measured"] for r in pts], yerr=[r["se"] for r in pts], fmt="o",
                        color=f"C{i}", capsize=3, label=f"measured, beta = {beta:g}")
        ax.set(xscale="log", yscale="log", xlabel="depth L", ylabel="E||h_L - h_0||^2 / ||h_0||^2",
               title=f"{block} ({activation}), c = {mine[0]['c']:g}")
        depths = sorted({r["depth"] for r in mine})
        ax.minorticks_off()
        ax.set_xticks(depths, [str(L) for L in depths])
        ax.legend(fontsize=8)
    fig.tight_layout()
    if path is not None:
        save(fig, path)
    return fig


RATIOS = {"hidden_ratio": r"$\|h_L - h_0\| / \|h_0\|$", "grad_ratio": r"$\|p_0 - p_L\| / \|p_L\|$"}


def _by(rows, key, value):
    return [r for r in rows if r[key] == value]


def _ratio_values(rows, ratio) -> np.ndarray:
    """The ratio of each row, +inf for a diverged sample."""
    return np.array([r[ratio] if r["status"] == "ok" else np.inf for r in rows], dtype=float)


def scaling_figures(rows, params, out=None) -> tuple[Figure, Figure]:
    """The scaling study's figures: (scaling, histograms), saved in ``out`` as scaling.png/.pdf and
    histograms.png/.pdf when given.

    ``rows`` and ``params`` are a scaling study's (results.csv's rows, its manifest's params).
    scaling: both ratios against L per beta (median, quartile band, theory); histograms: at the largest L.
    """
    return scaling_figure(rows, params, out), histograms_figure(rows, params, out)


def _colors(betas) -> np.ndarray:
    return matplotlib.colormaps["viridis"](np.linspace(0, 0.9, len(betas)))


def scaling_figure(rows, params, out=None) -> Figure:
    """Both ratios against L per beta: median, quartile band and the theory (:func:`reslimit.theory.growth`).

    Betas are coloured along a colormap with one legend entry each, beside the figure. Saved in ``out`` as
    scaling.png and scaling.pdf when given.
    """
    depths = np.array(sorted(params["depths"]), dtype=float)
    betas = list(params["betas"])
    colors = _colors(betas)
    fig, axes = subplots(1, 2, figsize=(12.5, 4.6))
    labels = set()
    for ax, ratio in zip(axes, RATIOS):
        for c, beta in enumerate(betas):
            sub = _by(rows, "beta", beta)
            q = np.array([np.quantile(_ratio_values(_by(sub, "depth", int(L)), ratio), [0.25, 0.5, 0.75])
                          for L in depths])
            ax.fill_between(depths, q[:, 0], q[:, 2], color=colors[c], alpha=0.15)
            ax.plot(depths, q[:, 1], "o-", color=colors[c], ms=4)
            curve, label = theory.growth(params, beta, depths)
            if not label.startswith("theory"):  # an order of growth: anchored at the first median
                curve = curve * q[0, 1] / curve[0]
                label = r"first order $\propto L^{\beta_c - \beta}$"
            labels.add(label)
            ax.plot(depths, curve, "--", color=colors[c], alpha=0.8)
        _depth_axis(ax, depths)
        ax.set_ylabel(RATIOS[ratio])
    handles = [Line2D([], [], color=colors[c], marker="o", ms=4, label=rf"$\beta$ = {beta:.3g}")
               for c, beta in enumerate(betas)]
    handles += [Line2D([], [], color="k", marker="o", ms=4, label="median over samples"),
                Patch(color="k", alpha=0.15, label="25-75% of samples")]
    handles += [Line2D([], [], color="k", ls="--", label=label) for label in sorted(labels)]
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(0.84, 0.5), fontsize=8, frameon=False)
    axes[0].set_title(f"{params['init']} weights, {params['block']} ({params['activation']}), d = {params['width']}")
    axes[1].set_title("backward states, loss of a linear read-out")
    fig.tight_layout(rect=(0, 0, 0.84, 1))
    return _save(fig, out, "scaling")


def histograms_figure(rows, params, out=None) -> Figure:
    """Histograms of both ratios at the largest depth, with the exact sqrt(E ratio^2) where it holds.

    At most five betas, evenly spaced along the grid, so they stay readable. Saved in ``out`` as
    histograms.png and histograms.pdf when given.
    """
    betas = list(params["betas"])
    colors = _colors(betas)
    L = int(max(params["depths"]))
    shown = sorted({round(i) for i in np.linspace(0, len(betas) - 1, min(5, len(betas)))})
    fig, axes = subplots(1, 2, figsize=(12, 4.2))
    exact = {}  # the exact sqrt(E ratio^2) at L, for the shown betas where it holds
    for i in shown:
        curve, label = theory.growth(params, betas[i], [L])
        if label.startswith("theory") and np.isfinite(curve[0]) and curve[0] > 0:
            exact[i] = curve[0]
    for ax, ratio in zip(axes, RATIOS):
        for i in shown:
            beta, color = betas[i], colors[i]
            v = _ratio_values(_by(_by(rows, "beta", beta), "depth", L), ratio)
            v = v[np.isfinite(v) & (v > 0)]
            if len(v):
                ax.hist(np.log10(v), bins=30, color=color, alpha=0.5, label=rf"$\beta$ = {beta:.3g} ({len(v)} samples)")
            if i in exact:
                ax.axvline(np.log10(exact[i]), color=color, ls="--")
        if exact:
            ax.plot([], [], "k--", label=r"theory: $\sqrt{E\,\mathrm{ratio}^2}$")
        ax.set(xlabel=f"log10 {RATIOS[ratio]}", ylabel="samples", title=f"L = {L}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, out, "histograms")


def phase_figure(medians, params, found, out=None, theory=None) -> Figure:
    """log10 median ratios at the largest depth over (beta, H), the critical betas over them.

    ``medians``: {ratio: array (hursts, depths, betas)} for both keys of :data:`RATIOS`, as
    :func:`reslimit.studies.phase.medians` computes them; ``params`` the phase study's; ``found``:
    {"critical_beta": {H: beta or None}, "critical_beta_grad": {H: beta or None}}; ``theory``: {H: the block's
    critical beta or None} (``Block.critical_beta(H)``), drawn where it departs from the first-order line beta = H
    (res-2, res-3 with ReLU: max(H, 1/2)). Saved in ``out`` as
    phase.png and phase.pdf when given.
    """
    betas, hursts = np.array(params["betas"]), np.array(params["hursts"])
    fig, axes = subplots(1, 2, figsize=(12, 4.8))
    for ax, ratio, key in zip(axes, RATIOS, ("critical_beta", "critical_beta_grad")):
        m = np.asarray(medians[ratio])[:, -1, :]
        with np.errstate(divide="ignore"):
            z = np.clip(np.log10(m), -6, 6)
        mesh = ax.pcolormesh(betas, hursts, z, shading="nearest", cmap="RdBu_r", vmin=-3, vmax=3)
        fig.colorbar(mesh, ax=ax, label=f"log10 median {RATIOS[ratio]}, L = {params['depths'][-1]}")
        hs = [h for h in hursts if found[key].get(h) is not None]
        ax.plot([found[key][h] for h in hs], hs, "ko-", ms=3, label=rf"measured critical $\beta$ ({key})")
        ax.plot(hursts, hursts, "w--", lw=2, label=r"first-order theory $\beta = H$")
        line = [h for h in params["hursts"] if (theory or {}).get(h) is not None]
        if any(theory[h] != h for h in line):
            ax.plot([theory[h] for h in line], line, "y:", lw=2, label=r"the block's critical $\beta$ (theory)")
        ax.set(xlabel=r"$\beta$ ($\alpha_L = L^{-\beta}$)", ylabel="Hurst index H")
        ax.legend(fontsize=7, loc="lower right")
    axes[0].set_title(f"fBm weights, {params['block']} ({params['activation']}), depths {params['depths']}")
    fig.tight_layout()
    return _save(fig, out, "phase")


def bounds_figure(rows: list[dict], path=None) -> Figure:
    """One panel per check: the measured value with a +-2 SE bar beside its lower / upper bound(s).

    ``rows``: those of :func:`reslimit.studies.bounds.bounds`. Returns the Figure; saved as ``path`` (PNG) and
    beside it as PDF when given.
    """
    n = len(rows)
    cols = min(5, n)
    nrows = math.ceil(n / cols)
    fig, axes = subplots(nrows, cols, figsize=(3.4 * cols, 3.0 * nrows), squeeze=False)
    for ax, r in zip(axes.flat, rows):
        m, se = r["measured"], r["se"] if isinstance(r["se"], float) and math.isfinite(r["se"]) else 0.0
        lo, hi = r["lower"], r["upper"]
        color = "C2" if r["passed"] else "C3"
        shown = m if math.isfinite(m) else (hi if hi is not None else 1.0)
        ax.errorbar([0], [shown], yerr=[[2 * se], [2 * se]], fmt="o" if math.isfinite(m) else "x", color=color,
                    capsize=4, label=f"measured +-2 SE ({'PASS' if r['passed'] else 'FAIL'})")
        if lo is not None and lo == hi:
            ax.axhline(lo, color="C1", ls="--", label="theory (lower = upper)")
        else:
            if lo is not None:
                ax.axhline(lo, color="C0", ls="--", label="lower bound")
            if hi is not None:
                ax.axhline(hi, color="C1", ls="--", label="upper bound")
        vals = [v for v in (shown, lo, hi) if v is not None and math.isfinite(v)]
        if vals and min(vals) > 0 and max(vals) / min(vals) > 30:
            ax.set_yscale("log")
        ax.set_xlim(-1, 1)
        ax.set_xticks([])
        ax.set_xlabel(f"beta={r['beta']}, L={r['depth']}, {r['activation']}", fontsize=7)
        ax.set_ylabel(_shortened(r["quantity"]), fontsize=7)
        ax.set_title(f"{r['source']}: {r['verdict']}", fontsize=8)
        ax.legend(fontsize=6, loc="best")
    return _grid_done(fig, axes, n, "Monte-Carlo checks of the bounds of Marion et al. (2022), arXiv:2206.06929",
                      path)


def _grid_done(fig, axes, n: int, title: str, path) -> Figure:
    """A grid of panels finished: the axes after the first ``n`` hidden, the title, saved at ``path`` unless None."""
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        save(fig, path)
    return fig


def _shortened(q: str) -> str:
    return q if len(q) <= 42 else q[:40] + "..."


def sde_scaling_figure(result, path=None) -> Figure:
    """The network with N(0, 2/d) weights against the SDE with diffusion sqrt(2/d), errors against L, log-log.

    Left: max_k ||H_{k/L} - h_k|| per sample (band), its mean, fit and the theory's slope -1/2. Right: the mean
    errors of the matched scaling (2/d), of the unit one (1/d: the network and SDE of std 1) and of the control
    (2/d weights against the 1/d diffusion, which does not converge), beside the slope -1/2.
    ``result``: a :class:`reslimit.studies.sde_scaling.SDEScalingResult`; saved as ``path`` (PNG and PDF) when
    given.
    """
    p, depths = result.params, np.asarray(result.depths, dtype=float)
    fig, axes = subplots(1, 2, figsize=(11, 4.2))
    _rate_panel(axes[0], depths, result.errors["matched"], result.rates["matched"], -0.5, "error")
    axes[0].set_ylabel(r"$\max_k \|H_{k/L} - h_k\|$")
    axes[0].set_title(f"(3.4) vs (3.5): weights N(0, 2/d), diffusion sqrt(2/d); res1 ({p['activation']}), "
                      f"d = {p['width']}", fontsize=9)
    labels = {"matched": "weights N(0, 2/d) vs diffusion sqrt(2/d)", "unit": "weights N(0, 1/d) vs diffusion sqrt(1/d)",
              "mismatched": "control: weights N(0, 2/d) vs diffusion sqrt(1/d)"}
    for i, (key, label) in enumerate(labels.items()):
        mean = result.errors[key].mean(1)
        axes[1].plot(depths, mean, "o-", color=f"C{i}", label=f"{label}: slope {result.rates[key].slope:.3f}")
    mean = result.errors["matched"].mean(1)
    anchor = np.exp(np.mean(np.log(mean)) + 0.5 * np.mean(np.log(depths)))
    axes[1].plot(depths, anchor * depths**-0.5, "--", color="C3", label="theory: slope -1/2")
    axes[1].set_ylabel("mean of max_k ||H_{k/L} - h_k||")
    axes[1].set_title("the scaling matters: same Brownian path, three diffusions", fontsize=9)
    _depth_axis(axes[1], depths)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    if path is not None:
        save(fig, path)
    return fig


def training_figure(rows: list[dict], params: dict, path=None) -> Figure:
    """Training and test loss, and test accuracy, against the epoch, beside the untrained network and chance.

    ``rows``: a :class:`reslimit.train.History`'s rows; ``params``: its params ("task", "n_classes" where the
    task is classification). Saved as ``path`` (PNG, and PDF beside it) when given.
    """
    classes = params.get("task") == "classification"
    fig, axes = subplots(1, 2 if classes else 1, figsize=(11 if classes else 5.5, 4.2), squeeze=False)
    epochs = [r["epoch"] for r in rows]
    ax = axes[0, 0]
    trained = [r for r in rows if r["epoch"] > 0]
    ax.plot([r["epoch"] for r in trained], [r["train_loss"] for r in trained], "o-", label="training loss (epoch mean)")
    ax.plot(epochs, [r["test_loss"] for r in rows], "s-", label="test loss")
    ax.axhline(rows[0]["test_loss"], color="C3", ls="--", label="untrained network (epoch 0)")
    if classes and params.get("n_classes"):
        ax.axhline(math.log(params["n_classes"]), color="0.5", ls=":", label=f"chance: log {params['n_classes']}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    if any(r["status"] == "diverged" for r in rows):
        ax.set_title(f"diverged at epoch {rows[-1]['epoch']}")
    if classes:
        ax = axes[0, 1]
        ax.plot(epochs, [r["test_accuracy"] for r in rows], "s-", color="C1", label="test accuracy")
        if params.get("n_classes"):
            ax.axhline(1 / params["n_classes"], color="0.5", ls=":", label=f"chance: 1/{params['n_classes']}")
        ax.set_xlabel("epoch")
        ax.set_ylabel("test accuracy")
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=8)
    fig.suptitle(f"{params.get('block', '')} on {params.get('data', '')}: depth {params.get('depth')}, "
                 f"alpha_L = {params.get('alpha', float('nan')):.3g}")
    fig.tight_layout()
    if path is not None:
        save(fig, path)
    return fig


def weights_figure(before, after, entries=((0, 0), (0, 1), (1, 0)), path=None, exponents=None) -> Figure:
    """Entries V_k[i, j] (ensemble member 0) against k/L before and after training, one panel per entry: one row of
    :func:`trained_weights_figure`.

    ``before``, ``after``: (L, E, d, d) weights; ``entries`` beyond d are left out. ``exponents``: {"before":
    (H, lo, hi), "after": ...} from :func:`reslimit.regularity.regularity`, written in the legend beside the
    theory's (i.i.d. 1/2, smooth 1); a key left out is not written.
    """
    before, after = np.asarray(before), np.asarray(after)
    entries = [(i, j) for i, j in entries if i < before.shape[-2] and j < before.shape[-1]]  # those that exist
    return trained_weights_figure([("", before, after, exponents or {})], entries, path)


def trained_weights_figure(panels, entries, path=None) -> Figure:
    """Entries V_k[i, j] (ensemble member 0) against k/L before and after training, one row per setting.

    ``panels``: (title, before (L, E, d, d), after, exponents {"before": (H, lo, hi), "after": ...}) per setting
    (:func:`reslimit.studies.trained.weights_study`); the exponents, from :func:`reslimit.regularity.regularity`,
    are written in the legend beside the theory's (i.i.d. 1/2, smooth 1) where given.
    """
    fig, axes = subplots(len(panels), len(entries), figsize=(4.2 * len(entries), 3.0 * len(panels)), squeeze=False)
    for row, (title, before, after, exponents) in zip(axes, panels):
        t = np.arange(1, before.shape[0] + 1) / before.shape[0]
        for ax, (i, j) in zip(row, entries):
            for name, w in (("before", before), ("after", after)):
                label = f"{name} training"
                if name in exponents:
                    h, lo, hi = exponents[name]
                    label += f": exponent {h:.2f} [{lo:.2f}, {hi:.2f}]"
                ax.plot(t, w[:, 0, i, j], lw=0.8, alpha=0.8, label=label)
            ax.set_xlabel("k / L")
            ax.set_ylabel(f"V_k[{i}, {j}]")
            ax.set_title(title, fontsize=9)
            ax.legend(fontsize=7, title="theory: i.i.d. 1/2, smooth 1", title_fontsize=7)
    fig.suptitle(f"weights against the layer index before and after training, L = {panels[0][1].shape[0]}")
    fig.tight_layout()
    if path is not None:
        save(fig, path)
    return fig


def trained_ode_figure(depths, errors, rate, rows, path=None) -> Figure:
    """Left: max_k ||H_{k/L} - h_k|| of trained networks against their neural ODE, beside the slope -1.
    Right: the distance D(L) of the trained weights' changes at depths L and 2L, and their Lipschitz constant.

    ``errors``: (K, M) per depth and input; ``rate``: the fitted :class:`reslimit.rates.Rate`; ``rows``: one
    per depth with "distance_next" and "lipschitz_V" (:func:`reslimit.studies.trained.ode_study`).
    """
    fig, axes = subplots(1, 2, figsize=(11, 4.2))
    _rate_panel(axes[0], depths, errors, rate, -1.0, "max_k ||H_{k/L} - h_k|| (trained weights)")
    axes[0].set_title("trained res-3 against the neural ODE on its interpolated weights", fontsize=9)
    ax = axes[1]
    near = [r for r in rows if r["distance_next"] is not None]
    ax.plot([r["depth"] for r in near], [r["distance_next"] for r in near], "o-",
            label="D(L) = max_t ||dX_L - dX_2L|| / max_t ||dX_2L||")
    ax.plot([r["depth"] for r in rows], [r["lipschitz_V"] for r in rows], "s--",
            label="Lipschitz constant of trained X = sqrt(d) V")
    _depth_axis(ax, depths)
    ax.legend(fontsize=8)
    ax.set_title("trained weights as functions of k/L", fontsize=9)
    fig.tight_layout()
    if path is not None:
        save(fig, path)
    return fig


def trainability_figure(best, params, line, margin, out=None) -> Figure:
    """The best test accuracy over the lrs on the (beta, H) grid, the critical line of the initialisation over it.

    ``best``: array (hursts, betas), NaN where every lr diverged (drawn as 0, marked x); ``line``: {H: critical
    beta}; ``margin``: how far below the line a cell counts as well below (dashed). Saved in ``out`` as
    trainability.png and .pdf when given.
    """
    betas, hursts = np.array(params["betas"]), np.array(params["hursts"])
    best = np.asarray(best, dtype=float)
    fig, ax = subplots(figsize=(7, 4.8))
    mesh = ax.pcolormesh(betas, hursts, np.nan_to_num(best, nan=0.0), shading="nearest", cmap="viridis", vmin=0,
                         vmax=1)
    fig.colorbar(mesh, ax=ax, label=f"best test accuracy over lr in {params['lrs']}")
    bad = np.argwhere(np.isnan(best))
    ax.plot(betas[bad[:, 1]], hursts[bad[:, 0]], "rx", ms=6, label="every lr diverged")
    crit = np.array([line[h] for h in params["hursts"]])
    ax.plot(crit, hursts, "w-", lw=2, label=r"critical $\beta_c$ of the initialisation (the block's critical_beta)")
    ax.plot(crit - margin, hursts, "w--", lw=1.5,
            label=rf"well below: $\beta \leq \beta_c - 1/\log_{{10}} L$ = $\beta_c$ - {margin:.2f}")
    ax.set(xlabel=r"$\beta$ ($\alpha_L = L^{-\beta}$)", ylabel="Hurst index H",
           title=f"fBm weights, {params['block']} ({params['activation']}), L = {params['depth']}, "
                 f"{params['epochs']} epochs of SGD on {params['data']}")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return _save(fig, out, "trainability")


def learning_rate_figure(result, out=None) -> Figure:
    """The largest lr that trains against L in log-log for each beta, its fitted slope beside the theory's.

    ``result``: a :class:`reslimit.studies.learning_rate.LearningRateResult`. Saved in ``out`` as
    learning_rate.png and .pdf when given.
    """
    params = result.params
    depths = np.array(params["depths"], dtype=float)
    fig, ax = subplots(figsize=(6.5, 4.6))
    for i, beta in enumerate(params["betas"]):
        lrs = result.largest[beta]
        shown = [(L, lr) for L, lr in zip(depths, lrs) if lr is not None]
        if not shown:
            continue
        x, y = np.array(shown).T
        color = f"C{i}"
        ax.errorbar(x, y, yerr=[np.zeros_like(y), y * (params["ratio"] - 1)], fmt="o", color=color, capsize=3,
                    label=rf"$\beta$ = {beta:g}: lr* (threshold in [lr*, {params['ratio']:.3g} lr*)), "
                          f"slope {result.slope[beta]:.2f}")
        anchor = np.exp(np.mean(np.log(y)) - result.theory[beta] * np.mean(np.log(x)))
        ax.plot(depths, anchor * depths ** result.theory[beta], "--", color=color,
                label=f"theory: slope 2 beta - 1 = {result.theory[beta]:g} (+- {result.tolerance:.2f})")
    ax.set(xscale="log", yscale="log", xlabel="depth L", ylabel="largest SGD learning rate that trains",
           title=f"{params['block']} ({params['activation']}) on {params['data']}, {params['epochs']} epochs")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, out, "learning_rate")


def critical_periods_figure(result, out=None) -> Figure:
    """Clean test accuracy against the deficit's length T: at the end of the T blurred epochs (left) and after
    the R clean epochs that follow (right), each seed and the mean +- SE over seeds, beside the clean control at
    the same epoch (the reference: no deficit). ``result``: a
    :class:`reslimit.studies.critical_periods.CriticalPeriods`. Saved in ``out`` as critical_periods.png and
    .pdf (early_dropout.png and .pdf for the deficit "dropout") when given."""
    params, rows = result.params, result.rows
    blurred = params["deficit"] == "blur"
    deficits = np.array(params["deficits"], dtype=float)
    fig, axes = subplots(1, 2, figsize=(10, 4.2), sharey=True)
    for ax, name, when in ((axes[0], "during", "at the end of the deficit (epoch T)"),
                           (axes[1], "after", f"after {params['recovery']} clean epochs more (epoch T + R)")):
        treated = "blurred" if blurred else f"dropout {params['dropout']:g}"
        for key, color, label in ((name, "C3", f"{treated} for the first T epochs"),
                                  (f"control_{name}", "C0", "control: clean throughout (no deficit)")):
            values = np.array([[r[key] for r in rows if r["deficit"] == T] for T in params["deficits"]])
            seeds = values.shape[1]
            ax.plot(np.repeat(deficits, seeds), values.ravel(), ".", color=color, alpha=0.4)
            se = values.std(1, ddof=1) / np.sqrt(seeds) if seeds > 1 else np.zeros(len(deficits))
            ax.errorbar(deficits, values.mean(1), yerr=se, fmt="o-", color=color, capsize=3,
                        label=f"{label}: mean +- SE over {seeds} seeds")
        ax.set(xlabel=f"deficit T (epochs {'on blurred images' if blurred else 'with dropout'})",
               title=f"clean test accuracy {when}")
        ax.legend(fontsize=7, loc="lower right")
    axes[0].set_ylabel("test accuracy (clean images)")
    deficit = f"blur {params['factor']}x{params['factor']}" if blurred else f"early dropout {params['dropout']:g}"
    fig.suptitle(f"critical periods: {params['block']} ({params['activation']}), L = {params['depth']}, beta = "
                 f"{params['beta']:g}, SGD lr {params['lr']:g} on {params['data']}, {deficit}", fontsize=9)
    fig.tight_layout()
    return _save(fig, out, "critical_periods" if blurred else "early_dropout")

def propagation_figure(rows, params, out=None) -> Figure:
    """Per-layer std of the activations and rms of the gradients against the layer (log scale for the MLP, linear for
    the ResNet, which stays of order 1): a row per activation,
    a column per network and quantity (the MLP's x^l and dC/dz^l, the ResNet's h_k and dC/dh_k), a colour per
    initialization; measured (solid, dots) beside the mean-field theory (dashed); the legend, the same for every
    panel, in the first.

    ``rows``: :meth:`reslimit.studies.propagation.Propagation.rows`; ``params`` its params. Saved in ``out`` as
    propagation.png and .pdf when given.
    """
    columns = [(net, key) for net in params["networks"] for key in ("act_std", "grad_rms")]
    labels = {("mlp", "act_std"): "std of x^l (MLP)", ("mlp", "grad_rms"): "rms of dC/dz^l (MLP)",
              ("resnet", "act_std"): "std of h_k (ResNet)", ("resnet", "grad_rms"): "rms of dC/dh_k (ResNet)"}
    names = params["activations"]
    fig, axes = subplots(len(names), len(columns), figsize=(4.2 * len(columns), 3.2 * len(names)), squeeze=False)
    for r, name in enumerate(names):
        for c, (net, key) in enumerate(columns):
            ax = axes[r, c]
            for i, scheme in enumerate(params["inits"]):
                mine = [x for x in rows if (x["network"], x["activation"], x["init"]) == (net, name, scheme)]
                layers = [x["layer"] for x in mine]
                ax.plot(layers, [x[key] for x in mine], ".-", color=f"C{i}", ms=3, label=f"{scheme}: measured")
                ax.plot(layers, [x[key + "_theory"] for x in mine], "--", color=f"C{i}", lw=1,
                        label=f"{scheme}: mean-field theory")
            ax.set(yscale="log" if net == "mlp" else "linear", xlabel="layer l" if net == "mlp" else "block k",
                   ylabel=labels[net, key],
                   title=f"{net}, {name}" + (f", beta = {params['beta']:g}" if net == "resnet" else ""))
            if net == "mlp":  # plain-text labels, at most 6 (mathtext's 10^k: 0.5 s more CPU)
                ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(numticks=6))
                ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%.0e"))
                ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    axes[0, 0].legend(fontsize=7)  # one legend: the same colours and styles in every panel
    fig.suptitle(f"variance propagation at initialization: width {params['width']}, depth {params['depth']}, "
                 f"{params['ensemble']} x {params['samples']} samples, {params['dist']} weights", fontsize=10)
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.05, top=0.94, wspace=0.35, hspace=0.5)
    return _save(fig, out, "propagation")


def stochastic_depth_figure(depth_rows, moment_rows, limits, path=None) -> Figure:
    """Stochastic depth, measured beside the theory, four panels.

    (1) The mean number of kept blocks against L (error bars: 1 SE) beside L - (1 - p_L)(L + 1)/2; (2)
    E||h_L - h_0||^2 / ||h_0||^2 against L per (block, mode), beside prod_k (1 + f_k c alpha^2) - 1 (f_k = p_k
    training, p_k^2 evaluation); (3, 4) max_k ||H_{k/L} - h_k|| against the p-scaled ODE and SDE, evaluation and
    training mode, beside slopes of the theory. ``depth_rows``/``moment_rows``: dicts of
    :mod:`reslimit.studies.stochastic_depth` (depth, p_L, measured, se, theory; block, activation, mode,
    depth, measured, se, theory); ``limits``: {"ode": result, "sde": result} of its ``limit_errors``. Saved as
    ``path`` (PNG, and PDF beside it) when given.
    """
    fig, axes = subplots(1, 4, figsize=(21, 4.5))
    ax = axes[0]
    for i, p_L in enumerate(dict.fromkeys(r["p_L"] for r in depth_rows)):
        rows = [r for r in depth_rows if r["p_L"] == p_L]
        L = np.array([r["depth"] for r in rows], dtype=float)
        ax.plot(L, [r["theory"] for r in rows], "-", color=f"C{i}", label=f"theory L - (1 - p_L)(L + 1)/2, "
                f"p_L = {p_L:g}")
        ax.errorbar(L, [r["measured"] for r in rows], yerr=[r["se"] for r in rows], fmt="o", color=f"C{i}",
                    capsize=3, label=f"measured (masks), p_L = {p_L:g}")
    ax.set(xscale="log", yscale="log", xlabel="depth L", ylabel="expected number of kept blocks",
           title="expected depth")
    ax.legend(fontsize=7)
    ax = axes[1]
    _moment_panel(ax, moment_rows, "mode", str, "second moment: prod_k (1 + f_k c alpha^2) - 1")
    for ax, name in zip(axes[2:], ("ode", "sde")):
        result = limits[name]
        depths = np.array(result["depths"], dtype=float)
        for i, mode in enumerate(("eval", "train")):
            mean = result[mode].mean(1)
            rate, theory_slope = result[f"{mode}_rate"], result["theory"][i]
            ax.plot(depths, mean, "o-", color=f"C{i}", label=f"measured, {mode} mode: slope {rate.slope:.3f}")
            anchor = np.exp(np.mean(np.log(mean)) - theory_slope * np.mean(np.log(depths)))
            ax.plot(depths, anchor * depths**theory_slope, "--", color=f"C{i}",
                    label=f"theory, {mode} mode: slope {theory_slope:g}")
        _depth_axis(ax, depths)
        ax.set_ylabel(r"mean $\max_k \|H_{k/L} - h_k\|$")
        ax.set_title("ODE dH/dt = p(t) V g (smooth, beta = 1)" if name == "ode" else
                     "SDE dH = p(t) dB g / sqrt(d) (Brownian, beta = 1/2)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    if path is not None:
        save(fig, path)
    return fig


def _moment_panel(ax, rows, field: str, name, title: str) -> None:
    """E||h_L - h_0||^2 / ||h_0||^2 against L, measured (error bars 1 SE) beside the exact value, one colour per
    (block, activation, row[field]); ``name(row[field])`` labels the last."""
    for i, key in enumerate(dict.fromkeys((r["block"], r["activation"], r[field]) for r in rows)):
        group = [r for r in rows if (r["block"], r["activation"], r[field]) == key]
        L = np.array([r["depth"] for r in group], dtype=float)
        label = f"{key[0]} ({key[1]}), {name(key[2])}"
        ax.plot(L, [r["theory"] for r in group], "-", color=f"C{i}", lw=1, label=f"theory, {label}")
        ax.errorbar(L, [r["measured"] for r in group], yerr=[r["se"] for r in group], fmt="o", color=f"C{i}",
                    capsize=3, label=f"measured, {label}")
    ax.set(xscale="log", xlabel="depth L", ylabel="E||h_L - h_0||^2 / ||h_0||^2", title=title)
    ax.legend(fontsize=7)


def dropout_figure(moment_rows, accuracy_rows, path=None) -> Figure:
    """Dropout in the residual branch, two panels: (1) E||h_L - h_0||^2 / ||h_0||^2 against L per (block, keep
    probability q), error bars 1 SE, beside (1 + c alpha^2 / q)^L - 1; (2) the test accuracy against epochs of
    networks trained on the digits with and without dropout, one line per run. ``moment_rows``: dicts with
    block, activation, dropout, depth, measured, se, theory; ``accuracy_rows``: dicts with dropout, seed and
    accuracies (one per epoch, epoch 0 first). Saved as ``path`` (PNG, and PDF beside it) when given.
    """
    fig, axes = subplots(1, 2, figsize=(11, 4.5))
    ax = axes[0]
    _moment_panel(ax, moment_rows, "dropout", lambda drop: f"q = {1 - (drop or 0.0):g}",
                  "second moment: (1 + c alpha^2 / q)^L - 1")
    ax = axes[1]
    drops = list(dict.fromkeys(r["dropout"] for r in accuracy_rows))
    for r in accuracy_rows:
        i = drops.index(r["dropout"])
        ax.plot(range(len(r["accuracies"])), r["accuracies"], "o-", color=f"C{i}", alpha=0.7,
                label=f"dropout {r['dropout'] or 0:g}" if accuracy_rows.index(r) == min(
                    j for j, s in enumerate(accuracy_rows) if s["dropout"] == r["dropout"]) else None)
    ax.set(xlabel="epoch", ylabel="test accuracy (evaluation mode)", title="training on the digits", ylim=(0, 1))
    ax.legend(fontsize=8)
    fig.tight_layout()
    if path is not None:
        save(fig, path)
    return fig


def whp_figure(runs: list[dict], path=None) -> Figure:
    """Prop. 3 / Corollary 1 (iii) in high probability: per run, the empirical CDF of R = ||h_L - h_0||^2/||h_0||^2.

    ``runs``: dicts with "source", "width", "depth", "x" (L alpha^2), "ratios" (the samples) and "bounds", a list of
    (delta, lower or None, upper or None); each bound is drawn as a vertical line (dashed: lower, dotted: upper;
    a vacuous lower bound <= 0 is noted in the legend), so the fraction of samples beyond it can be read off
    against delta. Returns the Figure; saved as ``path`` (PNG and PDF) when given.
    """
    n = len(runs)
    cols = min(3, max(n, 1))
    rows = math.ceil(n / cols)
    fig, axes = subplots(rows, cols, figsize=(4.2 * cols, 3.3 * rows), squeeze=False)
    for ax, run in zip(axes.flat, runs):
        r = np.sort(np.asarray(run["ratios"], dtype=float))
        ax.step(r, np.arange(1, len(r) + 1) / len(r), where="post", color="k", label=f"measured CDF (n={len(r)})")
        for j, (delta, lo, hi) in enumerate(run["bounds"]):
            c = f"C{j}"
            if lo is not None and lo > 0:
                ax.axvline(lo, color=c, ls="--", label=f"lower bound, delta={delta:g}")
            elif lo is not None:
                ax.plot([], [], color=c, ls="--", label=f"lower bound {lo:.2f} <= 0 (vacuous), delta={delta:g}")
            if hi is not None:
                ax.axvline(hi, color=c, ls=":", label=f"upper bound, delta={delta:g}")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("R = ||h_L - h_0||^2 / ||h_0||^2")
        ax.set_ylabel("fraction of samples <= R")
        ax.set_title(f"{run['source']}: d={run['width']}, L={run['depth']}, L a^2={run['x']:.3g}", fontsize=9)
        ax.legend(fontsize=6, loc="best")
    return _grid_done(fig, axes, n, "High-probability bounds as written: no more than delta of the samples beyond "
                      "each bound", path)


def width_explosion_figure(detail: dict, path=None) -> Figure:
    """Corollary 1 (ii) against the width: median log(||h_L|| / ||h_0||) and P(||h_L|| > ||h_0||) against L per d.

    ``detail``: "depths", "beta", and per width d (keys of "median" and "p") the values per depth. Left: the
    medians beside the theory's mean (1/2)(1 - 2/d) L^{1 - 2 beta} (dashed, the identity's second-order drift);
    right: the fractions beside the thresholds of the verdicts (0.9: explodes, 0.75: no explosion).
    """
    depths = np.asarray(detail["depths"], dtype=float)
    widths = sorted(detail["median"])
    fig, (left, right) = subplots(1, 2, figsize=(11, 4.2))
    colors = matplotlib.colormaps["viridis"](np.linspace(0, 0.9, len(widths)))
    grid = np.geomspace(depths[0], depths[-1], 100)
    for c, d in zip(colors, widths):
        left.plot(depths, detail["median"][d], "o-", color=c, label=f"d={d}")
        left.plot(grid, 0.5 * (1 - 2 / d) * grid ** (1 - 2 * detail["beta"]), "--", color=c, lw=0.8)
        right.plot(depths, detail["p"][d], "o-", color=c, label=f"d={d}")
    left.plot([], [], "k--", lw=0.8, label="theory (1/2)(1-2/d) L^(1-2 beta)")
    right.axhline(0.9, color="C3", ls=":", label="explodes: p >= 0.9 at the deepest L")
    right.axhline(0.75, color="C1", ls=":", label="no explosion: p <= 0.75 at every L")
    right.axhline(0.5, color="0.5", lw=0.6)
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xlabel("depth L")
        ax.legend(fontsize=6, ncol=2)
    left.set_ylabel("median log(||h_L|| / ||h_0||)")
    right.set_ylabel("P(||h_L|| > ||h_0||)")
    fig.suptitle(f"Corollary 1 (ii) across widths, beta = {detail['beta']:g}: explosion for d >= 3, none at d = 2")
    fig.tight_layout()
    if path is not None:
        save(fig, path)
    return fig


def max_increment_figure(runs: list[dict], path=None) -> Figure:
    """Prop. 9 with max_k: the median over samples of max_k ||h_k - h_0|| / ||h_0|| against L, one line per run.

    ``runs``: dicts with "beta", "condition" ("imposed" or "violated"), "depths", "median", "kept", "slope". Left:
    log(1 + median) against L on log-log axes, with the theory's growth L^{1 - beta} (dashed) and the verdict's
    threshold L^{(1 - beta)/2} (dotted) anchored at the first depth; right: the medians themselves, with the
    bound 2 that holds without the eigenvalue condition (V negative semi-definite).
    """
    fig, (left, right) = subplots(1, 2, figsize=(11, 4.2))
    for i, run in enumerate(runs):
        depths = np.asarray(run["depths"], dtype=float)
        y = np.log1p(np.asarray(run["median"], dtype=float))
        cond = "condition imposed" if run["condition"] == "imposed" else "condition violated"
        label = f"beta={run['beta']:g}, {cond} (n={run['kept']}; slope {run['slope']:.2f})"
        c = f"C{i}"
        left.plot(depths, y, "o-", color=c, label=label)
        right.plot(depths, run["median"], "o-", color=c, label=label)
        if run["condition"] == "imposed" and run["beta"] < 1:
            left.plot(depths, y[0] * (depths / depths[0]) ** (1 - run["beta"]), "--", color=c, lw=0.8)
            left.plot(depths, y[0] * (depths / depths[0]) ** ((1 - run["beta"]) / 2), ":", color=c, lw=0.8)
    left.plot([], [], "k--", lw=0.8, label="theory: L^(1-beta)")
    left.plot([], [], "k:", lw=0.8, label="explosion threshold: L^((1-beta)/2)")
    right.axhline(2.0, color="k", ls="--", lw=0.8, label="bound 2 without a positive eigenvalue")
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("depth L")
        ax.legend(fontsize=6)
    left.set_ylabel("log(1 + median max_k ||h_k - h_0|| / ||h_0||)")
    right.set_ylabel("median max_k ||h_k - h_0|| / ||h_0||")
    fig.suptitle("Prop. 9: res-1, identity, smooth weights with V(0) having a real positive eigenvalue")
    fig.tight_layout()
    if path is not None:
        save(fig, path)
    return fig


def transfer_figure(result, out=None) -> Figure:
    """muP's picture: the loss against lr0, one curve per depth, for each rule; beside it the best lr0 against
    depth with the theory's slope (0 with the rule; gamma without it where the input and output layers are
    frozen, the bracket [gamma, 0] named where they learn) through the measured points.

    ``result``: a :class:`reslimit.studies.transfer.TransferResult`. Saved in ``out`` as transfer.png and .pdf
    when given. A best lr0 on the grid's edge is drawn hollow.
    """
    params = result.params
    depths, lr0s, rules = np.array(params["depths"], dtype=float), np.array(params["lr0s"]), params["rules"]
    fig, axes = subplots(1, len(rules) + 1, figsize=(4.6 * (len(rules) + 1), 4.2))
    colors = matplotlib.colormaps["viridis"](np.linspace(0.0, 0.9, len(depths)))
    metric = params["metric"].replace("_", " ")
    for ax, rule in zip(axes[:-1], rules):
        curves = result.loss[rule].mean(0)
        for L, c, color, best in zip(depths, curves, colors, result.best[rule]):
            shown = np.isfinite(c)
            ax.plot(lr0s[shown], c[shown], "-", color=color, label=f"L = {int(L)}")
            if math.isfinite(best["lr0"]):
                ax.plot([best["lr0"]], [best["loss"]], "*", ms=10, color=color, mfc="none" if best["edge"] else color)
        ax.set_xscale("log", base=2)
        ax.set(xlabel="lr0" + (f" (lr = lr0 (L/{params['base_depth']})^{result.gamma:g})" if rule == "depth" else
                                 " = lr"), ylabel=f"{metric}, mean over {params['seeds']} seeds",
               title=f"rule {rule}" + (" (depth-muP)" if rule == "depth" else ""))
        ax.set_yscale("log")
        left = [v for c in curves for v in c[: int(np.argmin(c)) + 1] if math.isfinite(v)]
        if left:  # the losses of exploding rates above it would squash the minima into one line
            ax.set_ylim(0.5 * min(left), 3 * max(left))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, title="stars: best lr0", title_fontsize=7)
    ax = axes[-1]
    for i, rule in enumerate(rules):
        best = result.best[rule]
        lr = np.array([b["lr0"] for b in best])
        edge = np.array([bool(b["edge"]) for b in best])
        s = result.slope[rule]
        color = f"C{i}"
        ax.plot(depths[~edge], lr[~edge], "o", color=color,
                label=f"rule {rule}: slope {s['slope']:.2f} [{s['ci_low']:.2f}, {s['ci_high']:.2f}]")
        if edge.any():
            ax.plot(depths[edge], lr[edge], "o", mfc="none", color=color, label=f"rule {rule}: on the grid's edge")
        finite = np.isfinite(lr)
        if finite.any() and s["theory"] is not None:
            anchor = np.exp(np.mean(np.log(lr[finite]) - s["theory"] * np.log(depths[finite])))
            ax.plot(depths, anchor * depths ** s["theory"], "--", color=color,
                    label=f"theory: slope {s['theory']:g}")
        elif finite.any():  # no single-rate theory where the input and output layers learn too (see the study)
            ax.plot([], [], "--", color=color, label=f"rule {rule}: between 0 and {result.gamma:g} (A, B learn)")
    _depth_axis(ax, depths)
    ax.set_ylabel("best lr0 (refined in log lr0)")
    ax.legend(fontsize=7)
    ax.set_title("best lr0 against depth")
    fig.suptitle(f"{params['block']} ({params['activation']}), d = {params['width']}, beta = {params['beta']:g}, "
                 f"{params['init']} weights, {params['optimizer']}"
                 + (f" (momentum {params['momentum']:g})" if params["momentum"] else "")
                 + f", {params['epochs']} epochs on {params['data']}")
    _nothing_to_draw(fig)
    fig.tight_layout()
    return _save(fig, out, "transfer")


def coord_check_figure(result, out=None) -> Figure:
    """The coordinate check: the change of h_L (left) and of the logits (right) after t steps against depth, one
    colour per t, solid with the depth rule and dashed without, each beside the theory's slope (dotted: L^0 with
    the rule, L^-gamma without) through its measured points.

    ``result``: a :class:`reslimit.studies.coord_check.CoordCheckResult`. Saved in ``out`` as coord_check.png
    and .pdf when given.
    """
    params = result.params
    depths = np.array(params["depths"], dtype=float)
    fig, axes = subplots(1, 2, figsize=(10.5, 4.4))
    names = {"dh": "rms change of h_L by the blocks", "dlogits": "rms change of the logits"}
    for ax, q in zip(axes, names):
        for i, t in enumerate(params["steps"]):
            for rule in params["rules"]:
                size, s = _mean_of_finite(result.size[q, rule, t]), result.slope[q, rule, t]
                style = "-" if rule == "depth" else "--"
                ax.plot(depths, size, style + "o", color=f"C{i}", ms=4,
                        label=f"t = {t}, rule {rule}: slope {s['slope']:.2f}")
                shown = np.isfinite(size) & (size > 0)
                if shown.any() and s["theory"] is not None:
                    anchor = np.exp(np.mean(np.log(size[shown]) - s["theory"] * np.log(depths[shown])))
                    ax.plot(depths, anchor * depths ** s["theory"], ":", color=f"C{i}", lw=1)
        ax.plot([], [], ":", color="0.4", label=f"theory: L^0 (rule), L^{-result.gamma:g} (none)" if q == "dh" else
                "theory: L^0 (rule; none: the layers' steps mix in)")
        _depth_axis(ax, depths)
        ax.set_yscale("log")
        ax.set(ylabel=f"{names[q]}, mean over {params['seeds']} seeds", title=names[q] + " after t steps")
        ax.legend(fontsize=7)
    fig.suptitle(f"coordinate check: {params['block']} ({params['activation']}), d = {params['width']}, beta = "
                 f"{params['beta']:g}, {params['init']} weights, {params['optimizer']}, lr0 = {params['lr0']:g} at "
                 f"L0 = {params['base_depth']}")
    _nothing_to_draw(fig)
    fig.tight_layout()
    return _save(fig, out, "coord_check")


def _mean_of_finite(values) -> np.ndarray:
    """The mean over axis 0 of the finite values, NaN where none is (no warning for an all-diverged column)."""
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    count = finite.sum(0)
    return np.where(count > 0, np.where(finite, values, 0.0).sum(0) / np.maximum(count, 1), np.nan)


def _nothing_to_draw(fig) -> None:
    """Say so on each log axis of ``fig`` that holds no positive finite value (every run diverged): an empty log
    axis cannot be drawn, so it goes back to linear with a note in its middle."""
    for ax in fig.axes:
        values = [np.asarray(line.get_ydata(), dtype=float) for line in ax.lines]
        if ax.get_yscale() == "log" and not any((np.isfinite(v) & (v > 0)).any() for v in values):
            ax.set_yscale("linear")
            ax.text(0.5, 0.5, "every run diverged:\nnothing to draw", transform=ax.transAxes, ha="center",
                    va="center", color="0.3")


def _save(fig, out, name) -> Figure:
    """Save as name.png and name.pdf in ``out`` unless it is None; return ``fig``."""
    if out is not None:
        save(fig, Path(out) / f"{name}.png")
    return fig


def save(fig, path) -> list[Path]:
    """Save ``fig`` as ``path`` (PNG) and beside it as PDF, each through a fresh temporary file renamed into place
    (:func:`reslimit.store.replacing`: no write follows a link); return the two paths. The figure stays usable."""
    paths = [Path(path).with_suffix(".png"), Path(path).with_suffix(".pdf")]
    for p in paths:
        with store.replacing(p) as f:
            fig.savefig(f, format=p.suffix[1:], dpi=120)
    return paths


def training_limit_figure(result, out=None) -> Figure:
    """The trained (L, M) networks against the reference (reslimit.studies.training_limit): the error E against L
    (at M_ref) and against M (at L_ref), per seed and mean, the fitted slope with its interval, and the papers'
    exponents (-1 in L, -1/2 in M) and their versions corrected for the reference's own error drawn beside; saved
    as training_limit.png in ``out`` unless it is None."""
    params = result.params
    fig, axes = subplots(1, 2, figsize=(10.5, 4.4))
    names = {"depth": ("L", f"depth L (M = M_ref = {params['ref_width']})"),
             "width": ("M", f"hidden width M (L = L_ref = {params['ref_depth']})")}
    for ax, series in zip(axes, ("depth", "width")):
        sizes, errors, rate = result.sizes[series], result.errors[series], result.rate[series]
        symbol, label = names[series]
        for i, column in enumerate(errors.T):
            ax.plot(sizes, column, ".", color="0.6", ms=4, label="one seed (path and pool)" if i == 0 else None)
        mean = errors.mean(1)
        ax.plot(sizes, mean, "o", color="C0", label=f"mean over {errors.shape[1]} seeds")
        x = np.log(sizes)
        ax.plot(sizes, np.exp(np.polyval(np.polyfit(x, np.log(mean), 1), x)), "-", color="C0",
                label=f"fit: slope {rate.slope:.2f} [{rate.ci_low:.2f}, {rate.ci_high:.2f}]")
        for slope, style, what in ((result.theory[series], "--", "theory"),
                                   (result.corrected[series], ":", "theory with the reference's error")):
            anchor = np.exp(np.mean(np.log(mean) - slope * x))
            ax.plot(sizes, anchor * sizes**slope, style, color="C3", lw=1, label=f"{what}: {symbol}^{slope:.2f}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set(xlabel=label, ylabel="rms of f(L, M) - f(L_ref, M_ref), test inputs", title=f"error against {symbol}")
        ax.legend(fontsize=7)
    fig.suptitle(f"trained mean-field res-2 (tanh), d = {params['width']}, smooth path (l = {params['lengthscale']:g}),"
                 f" {params['steps']} GD steps at lr0 = {params['lr0']:g}; reference (L, M) = ({params['ref_depth']}, "
                 f"{params['ref_width']})", fontsize=9)
    fig.tight_layout()
    return _save(fig, out, "training_limit")


def hidden_width_figure(rows: list[dict], out=None) -> Figure:
    """The second-moment identity at every hidden width: E||h_L - h_0||^2 / ||h_0||^2 measured against depth for
    each hidden width M (markers, bars of 4 standard errors), beside the exact (1 + c alpha_L^2)^L - 1 (line), the
    same for every M; below, measured / theory with the same bars.

    ``rows``: dicts with "hidden", "depth", "measured", "se", "theory" (reslimit/claims/hidden_width.py). Saved in
    ``out`` as hidden_width.png and .pdf when given.
    """
    fig, (top, bottom) = subplots(2, 1, figsize=(6.4, 6.4), sharex=True)
    depths = sorted({r["depth"] for r in rows})
    theory = {r["depth"]: r["theory"] for r in rows}
    top.plot(depths, [theory[L] for L in depths], "-", color="0.3", label="theory (1 + c α²)^L − 1, every M")
    bottom.axhline(1.0, color="0.3", lw=1, label="theory")
    for i, M in enumerate(sorted({r["hidden"] for r in rows})):
        mine = sorted((r for r in rows if r["hidden"] == M), key=lambda r: r["depth"])
        x = np.array([r["depth"] for r in mine], dtype=float) * (1.0 + 0.04 * (i - 1))  # side by side
        y, se, th = (np.array([r[k] for r in mine]) for k in ("measured", "se", "theory"))
        top.errorbar(x, y, yerr=4 * se, fmt="o", ms=4, capsize=2, color=f"C{i}", label=f"M = {M} (± 4 SE)")
        bottom.errorbar(x, y / th, yerr=4 * se / th, fmt="o", ms=4, capsize=2, color=f"C{i}", label=f"M = {M}")
    top.set(xscale="log", yscale="log", ylabel="E‖h_L − h_0‖² / ‖h_0‖²")
    bottom.set(xscale="log", xlabel="depth L", ylabel="measured / theory")
    for ax in (top, bottom):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    bottom.set_xticks(depths, [str(L) for L in depths])
    bottom.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    top.set_title("res-3 with a hidden width M: the same second moment for every M")
    fig.tight_layout()
    return _save(fig, out, "hidden_width")
