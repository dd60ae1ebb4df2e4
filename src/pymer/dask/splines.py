"""R's ``ns(x, df)`` and ``bs(x, df)`` in a formula read against a Dask DataFrame.

Their knots depend on all rows: the boundary knots are range(x) and the interior knots
R's type 7 quantiles of the non-missing x (?ns, ?bs). The in-memory knot rule
(:func:`pymer.formula.splines.spline_rule`) runs in the client on two views of x that
passes over the partitions provide: its range (one pass: count, min, max), and exact
order statistics (:func:`order_statistics`: histograms of the values in a bracket
around each needed rank narrow it, 256 bins a pass, until the bracket holds few enough
values to gather, or one value). Every partition then evaluates the basis with those
knots, as ``predict(newdata)`` does in memory. As R's model.frame (and the in-memory
fit), x is evaluated on all rows, before rows with missing values elsewhere are dropped.

The template of the factor-like columns (:mod:`pymer.dask.design`) is parsed in memory
with the splines in it; :func:`spline_rows` adds to it a few complete rows spread over
x, so that its own (discarded) knots exist.
"""
from __future__ import annotations

from typing import Any

import dask
import numpy as np
import pandas as pd

from ..errors import FormulaError
from ..formula import _Evaluator
from ..formula.splines import spline_rule
from .poly import formula_calls

__all__ = ["spline_calls", "spline_rows", "template_rows", "spline_state", "order_statistics"]

NBINS = 256                 # histogram bins per bracket and pass
GATHER = 50_000             # a bracket with at most this many values is gathered


def spline_calls(formula: str) -> list:
    """The distinct ns() and bs() calls of a formula."""
    return formula_calls(formula, ("ns", "bs"))


def _fn(node) -> str:
    name = node.fn.name
    return name.partition("::")[2].lstrip(":") if "::" in name else name


def _x(part: pd.DataFrame, node, state: dict) -> np.ndarray:
    """The non-missing values of a call's x on a partition's rows."""
    x = _Evaluator(part, state, fitting=False).spline_args(node, _fn(node))[1]
    return x[~np.isnan(x)]


def _df(node, rows: pd.DataFrame) -> int:
    """A call's df (0 when not given): at most its number of interior knots."""
    df = _Evaluator(rows, {}, fitting=False).spline_args(node, _fn(node))[2]["df"]
    return int(df) if df is not None else 0


def spline_rows(part: pd.DataFrame, used, calls) -> pd.DataFrame:
    """Complete rows of a partition whose x spread over its distinct values (the smallest
    and the largest among them; 2 (df + 2) of them, at least 12), for each ns()/bs() call."""
    sub = part[list(used)]
    sub = sub[sub.notna().all(axis=1).to_numpy()]
    keep: list[int] = []
    for node in calls:
        x = _Evaluator(sub, {}, fitting=False).spline_args(node, _fn(node))[1]
        rows = np.flatnonzero(~np.isnan(x))
        uniq, first = np.unique(x[rows], return_index=True)
        if uniq.size:
            m = min(uniq.size, max(12, 2 * (_df(node, sub.iloc[:1]) + 2)))
            pick = np.unique(np.linspace(0, uniq.size - 1, m).round().astype(int))
            keep.extend(rows[first[pick]].tolist())
    return sub.iloc[sorted(set(keep))]


def template_rows(nfactor: int, spread: list, calls) -> list:
    """The spread rows (:func:`spline_rows` of the partitions), repeated so that they
    outweigh the template's `nfactor` rows of factor combinations, whose x (the first of
    each combination, often all alike in ordered data) would otherwise put the template's
    own interior knots on a boundary knot. The template's knots are discarded; they only
    have to exist."""
    rows = pd.concat([s for s in spread if len(s)]) if any(len(s) for s in spread) else None
    if rows is None:
        return []
    df = max(_df(node, rows.iloc[:1]) for node in calls)
    reps = int(np.ceil(2 * (nfactor + 1) * (df + 1) / len(rows))) + 1
    return [rows] * reps


def _range(part: pd.DataFrame, node, state: dict) -> tuple[int, float, float]:
    x = _x(part, node, state)
    return (x.size, float(x.min()), float(x.max())) if x.size else (0, np.inf, -np.inf)


def _brackets(part: pd.DataFrame, node, state: dict, lo: float, hi: float, brackets: list) -> list:
    """Per bracket (a, b, closed, gather) of the values in [lo, hi]: (values below a, the
    values in the bracket) to gather, else (values below a, the cumulative counts of
    the NBINS histogram of the bracket, its smallest and largest value). A bracket is
    [a, b) or, closed, [a, b]; bin i is [e_i, e_i+1) (the last one as the bracket)."""
    x = np.sort(_x(part, node, state))
    x = x[np.searchsorted(x, lo, "left"):np.searchsorted(x, hi, "right")]
    out: list[tuple] = []
    for a, b, closed, gather in brackets:
        i0 = int(np.searchsorted(x, a, "left"))
        v = x[i0:np.searchsorted(x, b, "right" if closed else "left")]
        if gather:
            out.append((i0, v))
        else:
            edges = np.linspace(a, b, NBINS + 1)
            cum = np.concatenate([[0], np.searchsorted(v, edges[1:-1], "left"), [v.size]])
            out.append((i0, cum, float(v[0]) if v.size else np.inf, float(v[-1]) if v.size else -np.inf))
    return out


def order_statistics(parts: list, node, state: dict, lo: float, hi: float, ranks, count: int) -> dict:
    """The values of the 0-based `ranks` among the sorted non-missing x of a call that
    lie in [lo, hi] (`count` of them), exactly: every rank's bracket starts at [lo, hi]
    and narrows to the histogram bin holding the rank, pass by pass, until it holds at
    most GATHER values (gathered and sorted) or values all equal."""
    todo: dict[int, tuple[float, float, bool, int]] = {int(r): (lo, hi, True, count) for r in set(ranks)}
    found: dict[int, float] = {}
    while todo:
        order = sorted(todo)
        spec = [(todo[r][0], todo[r][1], todo[r][2], todo[r][3] <= GATHER) for r in order]
        res = dask.compute(*[dask.delayed(_brackets)(p, node, state, lo, hi, spec) for p in parts])
        for k, r in enumerate(order):
            a, b, closed, gather = spec[k]
            rr = r - sum(pr[k][0] for pr in res)
            if gather:
                found[r] = float(np.sort(np.concatenate([pr[k][1] for pr in res]))[rr])
                del todo[r]
                continue
            cum = sum(pr[k][1] for pr in res)
            vmin, vmax = min(pr[k][2] for pr in res), max(pr[k][3] for pr in res)
            if vmin == vmax:
                found[r] = vmin
                del todo[r]
                continue
            i = int(np.searchsorted(cum, rr, "right")) - 1
            edges = np.linspace(a, b, NBINS + 1)
            todo[r] = (float(edges[i]), float(edges[i + 1]), closed and i == NBINS - 1, int(cum[i + 1] - cum[i]))
    return found


def _type7(stats: dict, n: int, probs: np.ndarray) -> np.ndarray:
    """R's type 7 quantiles (numpy's "linear", its interpolation included) from the order
    statistics of ranks floor((n - 1) p) and the next."""
    out = np.empty(probs.size)
    for j, p in enumerate(probs):
        h = (n - 1) * p
        k = int(np.floor(h))
        if h >= n - 1:
            out[j] = stats[n - 1]
            continue
        a, b, t = stats[k], stats[k + 1], h - k
        out[j] = b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t
    return out


def _quantile_ranks(n: int, probs: np.ndarray) -> list[int]:
    ranks = []
    for p in probs:
        k = int(np.floor((n - 1) * p))
        ranks.extend([min(k, n - 1), min(k + 1, n - 1)])
    return ranks


def _count(part: pd.DataFrame, node, state: dict, lo: float, hi: float) -> int:
    x = _x(part, node, state)
    return int(np.count_nonzero((x >= lo) & (x <= hi)))


def spline_state(parts: list, calls: list, state: dict, template: pd.DataFrame) -> dict[str, Any]:
    """The knots of every ns()/bs() call over all rows of the partitions, as the
    in-memory evaluator keeps them (``"basis:" + call``), with the knot rule's errors.

    Parameters
    ----------
    parts : list of dask.delayed
        The partitions (all rows).
    calls : list
        ns()/bs() calls (:func:`spline_calls`).
    state : dict
        The evaluator's state so far (scale()'s and poly()'s over all rows).
    template : pandas.DataFrame
        A few rows of the data, to read each call's arguments from.
    """
    out: dict[str, Any] = {}
    for node in calls:
        key, _, rule = _Evaluator(template, state, fitting=False).spline_args(node, _fn(node))
        ranges = dask.compute(*[dask.delayed(_range)(p, node, state) for p in parts])
        n = sum(r[0] for r in ranges)
        full = (min(r[1] for r in ranges), max(r[2] for r in ranges))

        def value_range(n: int = n, full: tuple = full) -> tuple[float, float] | None:
            return full if n else None

        def quantiles(lo: float, hi: float, probs: np.ndarray, n: int = n, full: tuple = full,
                      node: Any = node, key: str = key) -> np.ndarray:
            m = n if (lo, hi) == full else \
                sum(dask.compute(*[dask.delayed(_count)(p, node, state, lo, hi) for p in parts]))
            if not m:
                raise FormulaError(f"'{key}' has no values inside its Boundary.knots")
            stats = order_statistics(parts, node, state, lo, hi, _quantile_ranks(m, probs), m)
            return _type7(stats, m, probs)

        out["basis:" + key] = spline_rule(**rule, value_range=value_range, quantiles=quantiles)
    return out
