"""R's ``poly(x, degree)`` in a formula read against a Dask DataFrame.

The orthogonal polynomials depend on all rows: R's ``coefs`` (alpha, the centres of the
three-term recurrence, and norm2, the squared norms of the monic polynomials p_0, p_1,
...) are sums over the rows. With p_0 = 1, p_1 = x - alpha_0 and
p_{j+1} = (x - alpha_j) p_j - (norm2_{j+1} / norm2_j) p_{j-1},

    alpha_j = sum x p_j^2 / sum p_j^2,   norm2 = (1, n, sum p_1^2, ..., sum p_degree^2),

so degree + 1 passes find them: pass j evaluates p_j on each partition from the
coefficients found so far (:func:`pymer.formula.splines.poly_monic`) and brings back two
sums. Every partition then evaluates the basis with the global coefficients, as
``predict(newdata)`` does in memory (:func:`pymer.formula.splines.poly_predict`). As R's
model.frame (and the in-memory fit), x is evaluated on all rows, before rows with missing
values elsewhere are dropped.

The template of the factor-like columns (:mod:`pymer.dask.design`) is parsed in memory
with poly() in it; :func:`poly_rows` adds to it a few complete rows of distinct x, so that
its own (discarded) poly() basis exists.
"""
from __future__ import annotations

import dask
import numpy as np
import pandas as pd

from ..formula import _Evaluator
from ..formula.splines import poly_check, poly_monic
from ..formula.syntax import _BinOp, _Call, _deparse, _Paren, _split_formula, _Unary


def formula_calls(formula: str, names: tuple[str, ...]) -> list:
    """The distinct calls of a formula to the functions `names` (with or without a
    package prefix such as ``splines::``)."""
    out: list = []

    def visit(node):
        if isinstance(node, _Call):
            fn = node.fn.name.partition("::")[2].lstrip(":") if "::" in node.fn.name else node.fn.name
            if fn in names and all(_deparse(node) != _deparse(o) for o in out):
                out.append(node)
            for _, a in node.args:
                visit(a)
        elif isinstance(node, _BinOp):
            visit(node.lhs)
            visit(node.rhs)
        elif isinstance(node, (_Paren, _Unary)):
            visit(node.x)

    for node in _split_formula(formula):
        visit(node)
    return out


def poly_calls(formula: str) -> list:
    """The distinct poly() calls of a formula."""
    return formula_calls(formula, ("poly",))


def _args(part: pd.DataFrame, calls, state):
    """(x, degree, raw) of each call on a partition's rows (scale() from `state`)."""
    ev = _Evaluator(part, state, fitting=False)
    return [ev.poly_args(node)[1:] for node in calls]


def poly_rows(part: pd.DataFrame, used, calls) -> pd.DataFrame:
    """Up to degree + 1 complete rows of distinct x for each poly() call of a partition."""
    sub = part[list(used)]
    sub = sub[sub.notna().all(axis=1).to_numpy()]
    keep: list[int] = []
    for x, degree, _ in _args(sub, calls, {}):
        _, first = np.unique(x, return_index=True)
        keep.extend(first[:degree + 1].tolist())
    return sub.iloc[sorted(set(keep))]


def _first_sums(part: pd.DataFrame, calls, state):
    """Per call: ([rows, missing values, sum x], up to degree + 1 distinct values, degree,
    raw)."""
    out = []
    for x, degree, raw in _args(part, calls, state):
        nan = bool(np.isnan(x).any())
        ok = x[~np.isnan(x)]
        out.append((np.array([x.size, float(nan), ok.sum()]), np.unique(ok)[:max(degree, 0) + 1], degree, raw))
    return out


def _merge_first(a, b):
    return [(sa + sb, np.unique(np.concatenate([ua, ub]))[:max(d, 0) + 1], d, r)
            for (sa, ua, d, r), (sb, ub, _, _) in zip(a, b)]


def _next_sums(part: pd.DataFrame, calls, state, coefs):
    """Per call still short of its degree: [sum p_j^2, sum (x - alpha_0) p_j^2] of the
    highest polynomial p_j the coefficients so far define (zeros for the others)."""
    out = []
    for (x, _, _), c in zip(_args(part, calls, state), coefs):
        if c is None:
            out.append(np.zeros(2))
            continue
        pj = poly_monic(x, c["alpha"], c["norm2"])[:, -1]
        pj2 = pj * pj
        out.append(np.array([pj2.sum(), ((x - c["alpha"][0]) * pj2).sum()]))
    return out


def _sum_lists(a, b):
    return [x + y for x, y in zip(a, b)]


def _reduce(fn, *items):
    out = items[0]
    for it in items[1:]:
        out = fn(out, it)
    return out


def _tree(items, fn, split_every: int):
    while len(items) > 1:
        items = [dask.delayed(_reduce)(fn, *items[i:i + split_every]) for i in range(0, len(items), split_every)]
    return items[0]


def poly_state(parts, calls, state, split_every: int | None = 8) -> dict:
    """R's coefs of every (non-raw) poly() call over all rows of the partitions, as the
    in-memory evaluator keeps them (``"basis:" + call``), with poly()'s errors.

    Parameters
    ----------
    parts : list of dask.delayed
        The partitions (all rows).
    calls : list
        poly() calls (:func:`poly_calls`).
    state : dict
        The evaluator's state so far (scale()'s global centres and scales).
    """
    split_every = split_every or 8
    first = dask.compute(_tree([dask.delayed(_first_sums)(p, calls, state) for p in parts],
                               _merge_first, split_every))[0]
    todo, coefs = [], []
    for node, (s, uniq, degree, raw) in zip(calls, first):
        if raw:
            continue
        n, nan, total = s
        poly_check(nan > 0, uniq.size, degree, _deparse(node))
        todo.append((node, degree))
        xbar = total / n
        coefs.append({"alpha": np.array([xbar]), "norm2": np.array([1.0, n])})
    # pass j: the sums of p_j^2 give norm2_{j+1} and alpha_j (p_j from alpha_0..j-1)
    calls_t = [node for node, _ in todo]
    for j in range(1, max((d for _, d in todo), default=0) + 1):
        live = [c if d >= j else None for c, (_, d) in zip(coefs, todo)]
        sums = dask.compute(_tree([dask.delayed(_next_sums)(p, calls_t, state, live) for p in parts],
                                  _sum_lists, split_every))[0]
        for c, (_, d), (pp, xpp) in zip(coefs, todo, sums):
            if d < j:
                continue
            c["norm2"] = np.append(c["norm2"], pp)
            if j < d:
                c["alpha"] = np.append(c["alpha"], xpp / pp + c["alpha"][0])
    return {"basis:" + _deparse(node): c for (node, _), c in zip(todo, coefs)}
