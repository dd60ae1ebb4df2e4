"""DHARMa's residual figure: a uniform QQ plot with the KS, dispersion and outlier tests,
and residuals against rank-transformed predictions with quantile regression lines."""
from __future__ import annotations

import numpy as np

from ..report.plots import _figure


def _verdict(test) -> str:
    return "significant" if test.p_value < 0.05 else "n.s."


def _p(p) -> str:
    if p == 0:
        return "0"
    return f"{p:.3g}" if p >= 1e-3 else f"{p:.1e}"


def plot_residuals(r, quantreg=True, figsize=None):
    """Draw ``r``'s two panels (see :meth:`SimulatedResiduals.plot`)."""
    fig, axes = _figure(1, 2, panel=(4.6, 4.2), figsize=figsize)
    qq_panel(r, axes[0, 0])
    residual_panel(r, axes[0, 1], quantreg=quantreg)
    fig.suptitle("Simulated residuals (DHARMa's method)")
    return fig


def qq_panel(r, ax):
    """Uniform QQ plot of the scaled residuals with the three tests written on it."""
    res = np.sort(r.residuals)
    n = res.size
    expected = (np.arange(1, n + 1) - 0.5) / n
    ax.plot(expected, res, linestyle="None", marker="o", markersize=3, color="0.25", label="residuals")
    ax.plot([0, 1], [0, 1], color="red", linewidth=1, label="1:1")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("Expected")
    ax.set_ylabel("Observed")
    ax.set_title("QQ plot residuals")
    ks, disp, out = r.test_uniformity(), r.test_dispersion(), r.test_outliers()
    lines = [(f"KS test: p = {_p(ks.p_value)}", f"Deviation {_verdict(ks)}", ks),
             (f"Dispersion test: p = {_p(disp.p_value)}", f"Deviation {_verdict(disp)}", disp),
             (f"Outlier test: p = {_p(out.p_value)}", f"Deviation {_verdict(out)}", out)]
    y = 0.97
    for head, verdict, t in lines:
        color = "red" if t.p_value < 0.05 else "black"
        ax.text(0.03, y, head, transform=ax.transAxes, fontsize=8, va="top", color=color)
        ax.text(0.03, y - 0.045, verdict, transform=ax.transAxes, fontsize=8, va="top", color=color)
        y -= 0.11


def residual_panel(r, ax, quantreg=True):
    """Residuals against the rank-transformed fitted values; quantile lines at 0.25,
    0.5 and 0.75 (red where the quantile test finds a deviation) over dashed
    reference lines at the expected quantiles; outliers as red triangles."""
    x = r.rank_predictor()
    res = r.residuals
    out = (res == 0) | (res == 1)
    ax.plot(x[~out], res[~out], linestyle="None", marker="o", markersize=3, color="0.4", alpha=0.7,
            label="residuals")
    if out.any():
        ax.plot(x[out], res[out], linestyle="None", marker="^", markersize=6, color="red", label="outliers")
    for q in (0.25, 0.5, 0.75):
        ax.axhline(q, color="0.6", linestyle="--", linewidth=0.8)
    title2 = ""
    if quantreg and res.size >= 3:
        test = r.test_quantiles()
        grid = np.array([0.0, 1.0])
        bad = False
        for tau, row in test.table.iterrows():
            dev = row["p_value"] < 0.05
            bad |= dev
            ax.plot(grid, row["intercept"] + row["slope"] * grid, color="red" if dev else "black",
                    linewidth=2.2 if dev else 1.4, label=f"quantile {tau:g}")
        title2 = ("Quantile deviations detected (red lines)\nCombined adjusted quantile test significant"
                  if bad or test.p_value < 0.05 else "No significant problems detected")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("Model predictions (rank transformed)")
    ax.set_ylabel("DHARMa residual")
    ax.set_title("Residual vs. predicted" + (f"\n{title2}" if title2 else ""), fontsize=10)
