"""Text forms of emmeans' and multcomp's results, as R prints them.

emmeans: label columns left-aligned; estimates, SEs, df and limits with 3 significant
digits in a common layout per column (R's ``format(x, digits = 3)``); t/z ratios with
3 decimals; p-values with 4 decimals and ``<.0001``; ``by`` groups as
``f = level:`` blocks; then the footnotes. multcomp: printCoefmat's layout.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..report.rformat import add_signif_stars, format_fixed_decimals, format_pvalues, format_real, format_table

_RATIO_COLS = ("t.ratio", "z.ratio")


def _num_cells(name, v):
    v = np.asarray(v, dtype=np.float64)
    if name in _RATIO_COLS:
        # rounded first, as R's round() before printing: a ratio of -1e-17 (the rounding
        # noise of a zero contrast) prints 0.000, not -0.000 (+ 0.0 clears the sign of -0.0)
        return format_fixed_decimals(np.round(v, 3) + 0.0, 3)
    if name == "p.value":
        return ["<.0001" if round(x, 4) == 0 else f"{x:.4f}" for x in v]
    if name in ("null", "df") and np.all(~np.isfinite(v) | (v == np.round(v))):
        out = ["Inf" if np.isinf(x) else str(int(x)) for x in v]
        w = max(len(x) for x in out)
        return [x.rjust(w) for x in out]
    fin = np.isfinite(v)
    big = np.max(np.abs(v[fin])) if fin.any() else 0.0
    v = np.where(fin & (np.abs(v) < 1e-10 * big), 0.0, v)     # rounding noise of a zero contrast
    return format_real(v, 3)


def _cells(df: pd.DataFrame, right=()):
    """Each column's cells (numbers formatted over the whole column, as R does) and
    whether it is a text column (left-aligned; the levels of a numeric variable used
    as a factor, in `right`, are right-aligned as numbers)."""
    out = {}
    for c in df.columns:
        v = df[c]
        if pd.api.types.is_numeric_dtype(v.dtype):
            out[c] = (_num_cells(c, v.to_numpy()), False)
        else:
            out[c] = ([str(x) for x in v], c not in right)
    return out


def table_lines(cells: dict, rows) -> list[str]:
    """Rows of a formatted table as emmeans prints them (no row names)."""
    cols = [[str(c)] + [cl[i] for i in rows] for c, (cl, _) in cells.items()]
    left = [lf for _, lf in cells.values()]
    widths = [max(len(x) for x in col) for col in cols]
    lines = []
    for i in range(len(rows) + 1):
        parts = [(col[i].ljust(w) if lf else col[i].rjust(w)) for col, w, lf in zip(cols, widths, left)]
        lines.append((" " + " ".join(parts)).rstrip())
    return lines


def emm_lines(df: pd.DataFrame, bys: list[str], notes: list[str], right=()) -> list[str]:
    """The emmeans or contrasts table (in ``by`` blocks) and its footnotes."""
    lines = []
    if bys:
        cells = _cells(df.drop(columns=bys), right)
        keys = df[bys].astype(str).agg("\x00".join, axis=1).to_numpy()
        for k in dict.fromkeys(keys):
            rows = np.flatnonzero(keys == k)
            head = ", ".join(f"{b} = {x}" for b, x in zip(bys, k.split("\x00")))
            lines += [head + ":"] + table_lines(cells, rows) + [""]
    else:
        lines += table_lines(_cells(df, right), range(len(df))) + [""]
    for n in notes:
        lines += n.split("\n")
    return lines


def _glht_pvalues(p, eps):
    """p-values as format.pval writes them, those below `eps` as '<eps' (with a blank
    when that does not widen the column)."""
    p = np.asarray(p, dtype=np.float64)
    if eps is None:
        return format_pvalues(p, 3)
    small = p < eps
    out = [""] * p.size
    if (~small).any():
        for i, txt in zip(np.flatnonzero(~small), format_pvalues(p[~small], 3)):
            out[i] = txt
    eps_txt = format_real([eps], 1)[0].strip()
    width = max((len(x) for x in out if x), default=0)
    sep = " " if width >= len(eps_txt) + 2 else ""
    return ["<" + sep + eps_txt if sm else x for x, sm in zip(out, small)]


def _glht_coef_lines(table: pd.DataFrame, eps) -> list[str]:
    """printCoefmat's layout with digits = 4: estimates and SEs in one layout, the
    statistic rounded to 3 decimals, p-values below the integration error as '<eps'."""
    n = len(table)
    est = format_real(table.iloc[:, :2].to_numpy(dtype=float).ravel(order="F"), 4)
    stat = format_real(np.round(table.iloc[:, 2].to_numpy(dtype=float), 3), 4)
    pv = _glht_pvalues(table.iloc[:, 3].to_numpy(dtype=float), eps)
    rows = [[str(table.index[i]), est[i], est[n + i], stat[i], pv[i]] for i in range(n)]
    lines = format_table(rows, [""] + [str(c) for c in table.columns])
    return add_signif_stars(lines, table.iloc[:, 3].to_numpy(dtype=float))


def glht_lines(title: str, kind: str | None, fit: str, table: pd.DataFrame, footer: str,
               eps=None) -> list[str]:
    """multcomp's print of summary(glht): title, contrast kind, fit, hypotheses table."""
    lines = ["", "\t " + title, ""]
    if kind:
        lines += [f"Multiple Comparisons of Means: {kind} Contrasts", ""]
    lines += ["", f"Fit: {fit}", "", "Linear Hypotheses:"]
    lines += _glht_coef_lines(table, eps)
    if footer:
        lines.append(footer)
    return lines


def glht_confint_lines(kind: str | None, fit: str, quantile: float, level: float,
                       table: pd.DataFrame) -> list[str]:
    """multcomp's print of confint(glht)."""
    lines = ["", "\t Simultaneous Confidence Intervals", ""]
    if kind:
        lines += [f"Multiple Comparisons of Means: {kind} Contrasts", ""]
    lines += ["", f"Fit: {fit}", "", f"Quantile = {format_real([quantile], 5)[0].strip()}",
              f"{level * 100:g}% family-wise confidence level", " ", "", "Linear Hypotheses:"]
    vals = table.to_numpy(dtype=np.float64)
    fmt = format_real(vals[np.isfinite(vals)], 4)      # print.confint.glht: digits = 4
    cells = np.full(vals.shape, "", dtype=object)
    it = iter(fmt)
    for idx in zip(*np.nonzero(np.isfinite(vals))):
        cells[idx] = next(it).strip()
    cells[~np.isfinite(vals)] = np.where(vals[~np.isfinite(vals)] > 0, "Inf", "-Inf")
    header = [""] + list(table.columns)
    rows = [[str(table.index[i])] + list(cells[i]) for i in range(len(table))]
    widths = [max(len(r[j]) for r in rows + [header]) for j in range(len(header))]
    for r in [header] + rows:
        lines.append(" ".join([r[0].ljust(widths[0])] + [r[j].ljust(widths[j]) if r is header
                                                           else r[j].rjust(widths[j])
                                                           for j in range(1, len(r))]))
    return lines
