"""The plot of adjusted predictions: lines and ribbons (points and error bars for a factor),
groups as colors, facets as panels, partial residuals as points."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..report.plots import _figure
from .grid import ModelView


def residual_points(pred) -> pd.DataFrame:
    """Each observation's partial residual: the prediction at its own focal values (the
    other variables as in the table) plus its working residual, on the response scale.

    Returns a DataFrame with ``x``, ``group`` (and ``facet``) and ``residual``.
    """
    info = pred.info
    m = info["model"]
    view = ModelView(m)
    data = view.data
    g = data[view.columns].copy()
    for c, v in info["constants"].items():
        if c in g.columns and c not in info["terms"]:
            g[c] = [v] * len(g)
    nd = view.mf.new_data(g, include_random=False)
    keep = [list(view.mf.fixef_names).index(nm) for nm in m.fixef.index]
    eta = np.asarray(nd.X, dtype=np.float64)[:, keep] @ np.asarray(m.fixef, dtype=np.float64)
    if nd.offset is not None:
        eta = eta + np.asarray(nd.offset)
    res = np.asarray(m.residuals(type="working"), dtype=np.float64)
    out = {"x": data[info["terms"][0]].to_numpy(), "residual": view.linkinv(eta + res)}
    for key, t in zip(("group", "facet"), info["terms"][1:]):
        out[key] = data[t].astype(str).to_numpy()
    return pd.DataFrame(out)


def plot_predictions(pred, partial_residuals=False, ci=True, ax=None, figsize=None):
    """Draw a :class:`PredictedResponse`; see its ``plot`` method."""
    info = pred.info
    facets = list(pred["facet"].cat.categories) if "facet" in pred.columns else [None]
    if ax is not None:
        if len(facets) > 1:
            raise ValueError("a plot with facets needs its own figure (ax=None)")
        fig, axes = ax.figure, [ax]
    else:
        fig, grid = _figure(1, len(facets), panel=(5.0, 3.8), figsize=figsize)
        axes = list(grid.ravel())
    groups = list(pred["group"].cat.categories) if hasattr(pred["group"], "cat") else ["1"]
    is_fac = info["x_is_factor"]
    xcats = list(pred["x"].cat.categories) if is_fac else None
    pr = residual_points(pred) if partial_residuals else None
    for a, fac in zip(axes, facets):
        sub = pred if fac is None else pred[pred["facet"] == fac]
        for k, gr in enumerate(groups):
            s = sub[sub["group"] == gr]
            color = f"C{k % 10}"
            label = gr if len(groups) > 1 else None
            if is_fac:
                pos = np.array([xcats.index(v) for v in s["x"]], dtype=float)
                pos += (k - (len(groups) - 1) / 2) * 0.1
                y = s["predicted"].to_numpy()
                if ci:
                    a.errorbar(pos, y, yerr=[y - s["conf.low"].to_numpy(), s["conf.high"].to_numpy() - y],
                               fmt="o", color=color, capsize=3, label=label)
                else:
                    a.plot(pos, y, "o", color=color, label=label)
            else:
                x = s["x"].to_numpy(dtype=float)
                if ci:
                    a.fill_between(x, s["conf.low"], s["conf.high"], color=color, alpha=0.2, lw=0)
                a.plot(x, s["predicted"], color=color, lw=2, label=label)
            if pr is not None:
                pts = pr[(pr["group"] == gr) if "group" in pr.columns else slice(None)]
                if fac is not None:
                    pts = pts[pts["facet"] == fac]
                px = pts["x"].to_numpy()
                if is_fac:
                    lookup = {str(v): i for i, v in enumerate(xcats)}
                    px = np.array([lookup.get(str(v), np.nan) for v in px], dtype=float)
                a.plot(px, pts["residual"], "o", ms=3, color=color, alpha=0.4)
        if is_fac:
            a.set_xticks(range(len(xcats)), [str(c) for c in xcats])
        a.set_xlabel(info["terms"][0])
        a.set_ylabel(_response_name(info["model"]))
        if fac is not None:
            a.set_title(f"{info['terms'][2]} = {fac}", fontsize=10)
        if len(groups) > 1:
            a.legend(title=info["terms"][1], fontsize=8, frameon=False)
    if facets == [None]:
        axes[0].set_title(f"Predicted values of {_response_name(info['model'])}", fontsize=10)
    return fig


def _response_name(m) -> str:
    return str(getattr(m.model.mf, "response_name", "response"))
