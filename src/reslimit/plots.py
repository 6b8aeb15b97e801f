"""Figures: matplotlib with the Agg backend; every figure draws the theory beside the measurement."""

from __future__ import annotations

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


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
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(depths, [str(int(L)) for L in depths], minor=False)
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("depth L")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)


def convergence_figure(conv, path) -> None:
    """Path error max_k ||H_{k/L} - h_k|| and gradient error ||P_0 - p_0|| against L, log-log."""
    p = conv.params
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    _rate_panel(axes[0], conv.depths, conv.path_error, conv.rate, conv.theory, "error")
    axes[0].set_ylabel(r"$\max_k \|H_{k/L} - h_k\|$")
    axes[0].set_title(f"{p['limit']} limit, {p['block']} ({p['activation']}), d = {p['width']}")
    _rate_panel(axes[1], conv.depths, conv.grad_error, conv.grad_rate, conv.theory, "gradient error")
    axes[1].set_ylabel(r"$\|P_0 - p_0\|$")
    axes[1].set_title("backward states (adjoint) at the input")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
