"""Text forms of emmeans' and multcomp's results, as R prints them.

emmeans: label columns left-aligned; estimates, SEs, df and limits with 3 significant
digits in a common layout per column (R's ``format(x, digits = 3)``); t/z ratios with
3 decimals; p-values with 4 decimals and ``<.0001``; ``by`` groups as
``f = level:`` blocks; then the footnotes. multcomp: printCoefmat's layout.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .._rformat import format_fixed_decimals, format_real
from ..results import _coef_lines

_RATIO_COLS = ("t.ratio", "z.ratio")


def _num_cells(name, v):
    v = np.asarray(v, dtype=np.float64)
    if name in _RATIO_COLS:
        return format_fixed_decimals(v, 3)
    if name == "p.value":
        return ["<.0001" if x < 1e-4 else f"{x:.4f}" for x in v]
    if name in ("null", "df") and np.all(~np.isfinite(v) | (v == np.round(v))):
        return ["Inf" if np.isinf(x) else str(int(x)) for x in v]
    return format_real(v, 3)


def table_lines(df: pd.DataFrame) -> list[str]:
    """A data frame as emmeans prints it (no row names; text columns left-aligned)."""
    cols, left = [], []
    for c in df.columns:
        v = df[c]
        if pd.api.types.is_numeric_dtype(v.dtype):
            cells = [s.strip() for s in _num_cells(c, v.to_numpy())]
            left.append(False)
        else:
            cells = [str(x) for x in v]
            left.append(True)
        cols.append([str(c)] + cells)
    widths = [max(len(x) for x in col) for col in cols]
    lines = []
    for i in range(len(df) + 1):
        cells = [(col[i].ljust(w) if lf else col[i].rjust(w)) for col, w, lf in zip(cols, widths, left)]
        lines.append((" " + " ".join(cells)).rstrip())
    return lines


def emm_lines(df: pd.DataFrame, bys: list[str], notes: list[str]) -> list[str]:
    """The emmeans or contrasts table (in ``by`` blocks) and its footnotes."""
    lines = []
    if bys:
        keys = df[bys].astype(str).agg(", ".join, axis=1)
        for k in dict.fromkeys(keys):
            sub = df[keys == k].drop(columns=bys)
            head = ", ".join(f"{b} = {x}" for b, x in zip(bys, k.split(", ")))
            lines += [head + ":"] + table_lines(sub) + [""]
    else:
        lines += table_lines(df) + [""]
    for n in notes:
        lines += n.split("\n")
    return lines


def glht_lines(title: str, kind: str | None, fit: str, table: pd.DataFrame, footer: str) -> list[str]:
    """multcomp's print of summary(glht): title, contrast kind, fit, hypotheses table."""
    lines = ["", "\t " + title, ""]
    if kind:
        lines += [f"Multiple Comparisons of Means: {kind} Contrasts", ""]
    lines += ["", f"Fit: {fit}", "", "Linear Hypotheses:"]
    lines += _coef_lines(table, digits=4)
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
              f"{level * 100:g}% family-wise confidence level", "", "", "Linear Hypotheses:"]
    vals = table.to_numpy(dtype=np.float64)
    fmt = format_real(vals[np.isfinite(vals)], 5)
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
