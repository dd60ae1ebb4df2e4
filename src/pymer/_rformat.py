"""Number formatting as R prints it, so summaries read as lme4's do."""
from __future__ import annotations

import math

import numpy as np


def _sig(x: float, digits: int):
    """(exponent, significant digits needed) of |x| rounded to `digits` significant digits."""
    ax = abs(x)
    if ax == 0.0:
        return 0, 1
    kp = math.floor(math.log10(ax))
    mant = round(ax / 10.0 ** kp, digits - 1)
    if mant >= 10.0:
        kp += 1
        mant /= 10.0
    s = f"{mant:.{digits - 1}f}".replace(".", "").rstrip("0")
    return kp, max(1, len(s))


def format_real(values, digits=7, nsmall=0):
    """Format numbers with a common layout, as R's format()/print() do for a numeric vector.

    Every finite element gets at least `digits` significant digits (trailing zeros
    dropped), with a common number of decimals; scientific notation when it is narrower.
    """
    vals = [float(v) for v in np.asarray(values, dtype=np.float64).ravel()]
    fin = [v for v in vals if math.isfinite(v)]
    if not fin:
        return [_nonfinite(v) for v in vals]
    info = [_sig(v, digits) for v in fin]
    neg = any(v < 0 for v in fin)
    rgt = max(max(0, ns - kp - 1) for kp, ns in info)
    rgt = max(rgt, nsmall)
    left = max(max(1, kp + 1) for kp, ns in info)
    wF = neg + left + (rgt > 0) + rgt
    mxns = max(ns for kp, ns in info)
    exps = [kp for kp, ns in info]
    ewidth = 2 if max(abs(e) for e in exps) < 100 else 3
    wE = neg + (mxns + 1 if mxns > 1 else mxns) + 2 + ewidth
    if wF <= wE:
        out = [f"{v:.{rgt}f}" if math.isfinite(v) else _nonfinite(v) for v in vals]
    else:
        out = [_sci(v, mxns - 1) if math.isfinite(v) else _nonfinite(v) for v in vals]
    w = max(len(s) for s in out)
    return [s.rjust(w) for s in out]


def _sci(v, dec):
    s = f"{v:.{dec}e}"
    mant, exp = s.split("e")
    sign = exp[0]
    e = exp[1:].lstrip("0").rjust(2, "0")
    return f"{mant}e{sign}{e}"


def _nonfinite(v):
    if math.isnan(v):
        return "NaN"
    return "Inf" if v > 0 else "-Inf"


def format_fixed_decimals(values, decimals):
    out = [f"{float(v):.{decimals}f}" for v in np.asarray(values, dtype=np.float64).ravel()]
    w = max((len(s) for s in out), default=0)
    return [s.rjust(w) for s in out]


def format_vc(values, digits=5):
    """lme4's variance-component columns: decimals so the largest entry shows `digits` significant digits."""
    vals = np.asarray(values, dtype=np.float64)
    big = np.nanmax(np.abs(vals)) if vals.size else 0.0
    if big == 0 or not np.isfinite(big):
        dec = digits - 1
    else:
        dec = max(0, digits - 1 - math.floor(math.log10(big)))
    return format_fixed_decimals(vals, dec)


def abbreviate(name: str, minlength: int = 6) -> str:
    """R's abbreviate(): drop lower-case vowels from the end, then lower-case letters."""
    s = name.replace(" ", "")
    if len(s) <= minlength:
        return s
    chars = list(s)
    for pool in ("aeiou", "abcdefghijklmnopqrstuvwxyz"):
        i = len(chars) - 1
        while len(chars) > minlength and i > 0:
            if chars[i] in pool:
                del chars[i]
            i -= 1
    return "".join(chars[:max(minlength, 0)]) if len(chars) > minlength else "".join(chars)


def format_table(rows, header, align=None):
    """Right-aligned text table: rows of strings (first column left-aligned)."""
    cols = list(zip(*([header] + rows))) if rows else [[h] for h in header]
    widths = [max(len(c) for c in col) for col in cols]
    lines = []
    for r in [header] + rows:
        cells = []
        for j, (c, w) in enumerate(zip(r, widths)):
            cells.append(c.ljust(w) if j == 0 else c.rjust(w))
        lines.append(" ".join(cells))
    return lines
