"""R's printing conventions: numbers, p-values, significance stars, abbreviations,
R's anova layout, as lme4's print() and summary() show them."""
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
    # R's formatReal: the sign counts per element (the widest signed integer part)
    left = max((v < 0) + max(1, kp + 1) for v, (kp, ns) in zip(fin, info))
    wF = left + (rgt > 0) + rgt
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
    """Numbers with a fixed number of decimals, right-aligned to a common width."""
    out = [f"{float(v):.{decimals}f}" for v in np.asarray(values, dtype=np.float64).ravel()]
    w = max((len(s) for s in out), default=0)
    return [s.rjust(w) for s in out]


def format_table(rows, header):
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


SIGNIF_LEGEND = "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"
_EPS = np.finfo(float).eps


def format_pvalues(p, digits=3, na="NA"):
    """p-values as R's format.pval() writes them (the layout of printCoefmat and print.anova).

    Values >= 1e-4 share one common layout (fixed unless scientific is narrower),
    smaller ones another; values below machine epsilon read ``<2e-16`` or
    ``< 2.2e-16`` (the number of digits and the blank depend on `digits` and on the
    width of the other entries, as in R). NaN/NA give `na` (``"NA"``; print.anova leaves them blank: ``na=""``).
    """
    p = np.asarray(p, dtype=np.float64).ravel()
    out = [na] * p.size
    ok = np.isfinite(p)
    tiny = ok & (p < _EPS)
    with np.errstate(divide="ignore"):
        expo = np.floor(np.log10(np.where(ok & (p > 0), p, 1e-300)))
    fixp = ok & ~tiny & ((expo >= -4) | (p == 0))
    sci = ok & ~tiny & ~fixp
    for mask in (fixp, sci):
        if mask.any():
            for i, txt in zip(np.flatnonzero(mask), format_real(p[mask], digits)):
                out[i] = txt.strip()
    if tiny.any():
        # epsilon with digits - 2 significant digits, fewer when the other entries are
        # narrow; a blank after "<" unless that would widen the column (R's rules)
        dig = max(1, digits - 2)
        others = [out[i] for i in np.flatnonzero(ok & ~tiny)]
        if others:
            nc = max(len(o) for o in others)
            if dig > 1 and dig + 6 > nc:
                dig = max(1, nc - 7)
            sep = "" if dig == 1 and nc <= 6 else " "
        else:
            sep = "" if dig == 1 else " "
        eps_txt = format_real([_EPS], dig)[0].strip()
        for i in np.flatnonzero(tiny):
            out[i] = "<" + sep + eps_txt
    return out


def signif_stars(p) -> str:
    """R's significance stars of one p-value (printCoefmat's cut points)."""
    if not np.isfinite(p):
        return ""
    for cut, s in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p < cut:
            return s
    return ""


def add_signif_stars(lines, pvalues):
    """Append R's significance-star column to a header line and its table rows.

    As printCoefmat: only when some p-value is below 0.1; the column is as wide
    as its widest entry, blank-padded (also on the header line), and the legend
    follows the table.
    """
    pv = np.asarray(pvalues, dtype=np.float64)
    if not np.any(np.isfinite(pv) & (pv < 0.1)):
        return list(lines)
    stars = [signif_stars(x) for x in pv]
    w = max(len(x) for x in stars)
    out = [lines[0] + " " + " " * w]
    out += [ln + " " + st.ljust(w) for ln, st in zip(lines[1:], stars)]
    return out + ["---", SIGNIF_LEGEND]


def coef_cells(table, digits=4):
    """The cells of a coefficient table as R's printCoefmat formats them: (column -> list of
    strings with their common width, the p-value column or None).

    Estimates and standard errors (and lmerTest's df) share one layout with `digits`
    significant digits; test statistics are rounded to ``digits - 1`` decimals first;
    p-values as :func:`format_pvalues` with ``digits - 1``. The text table and the HTML
    table of a summary are built from these same cells.
    """
    n = len(table)
    dig_tst = max(1, min(5, digits - 1))
    joint = [c for c in ("Estimate", "Std. Error", "df") if c in table.columns]
    fmt = format_real(table[joint].to_numpy(dtype=float).ravel(order="F"), digits)
    cols = {c: fmt[k * n:(k + 1) * n] for k, c in enumerate(joint)}
    pcol = None
    for c in table.columns:
        if c in cols:
            continue
        v = table[c].to_numpy(dtype=float)
        if str(c).startswith("Pr("):
            pcol = c
            cols[c] = format_pvalues(v, dig_tst)
        else:
            cols[c] = format_real(np.round(v, dig_tst), digits)
    return cols, pcol


def coef_lines(table, digits=4) -> list:
    """The fixed-effects table as R's printCoefmat prints it in lme4's summary (cells from
    :func:`coef_cells`), with significance stars when some p-value is below 0.1."""
    cols, pcol = coef_cells(table, digits)
    header = [""] + [str(c) for c in table.columns]
    # the numbers keep their common width (R pads them), so a column narrower than its
    # values' layout ("df" over " 17.000") is as wide as the layout
    rows = [[str(table.index[i])] + [cols[c][i] for c in table.columns] for i in range(len(table))]
    lines = format_table(rows, header)
    if pcol is not None:
        lines = add_signif_stars(lines, table[pcol].to_numpy(dtype=float))
    return lines


def varcorr_lines(header, rows, end="") -> list:
    """lme4's VarCorr table laid out as R prints it: a last cell that is a list holds the
    correlations (one right-aligned column per earlier effect, a common width); every
    column is left-aligned; each line starts with a blank and ends with `end`."""
    if any(isinstance(r[-1], list) for r in rows):
        cw = max([len(c) for r in rows if isinstance(r[-1], list) for c in r[-1]] + [4])
        rows = [r[:-1] + [" ".join(c.rjust(cw) for c in r[-1])] if isinstance(r[-1], list) else r
                for r in rows]
    widths = [max(len(x[j]) for x in [header] + rows) for j in range(len(header))]
    return [" " + " ".join(c.ljust(w) for c, w in zip(r, widths)) + end for r in [header] + rows]


def zapsmall(x, digits):
    """R's zapsmall() (R 4.2): round to ``digits - log10(max|x|)`` decimals, that
    number itself rounded to a whole number as R's round() does with its digits
    (0.5142541 among values up to 2.88 keeps 5 decimals, 0.51425)."""
    x = np.asarray(x, dtype=np.float64)
    mx = np.nanmax(np.abs(x)) if x.size else 0.0
    if not mx > 0:
        return x
    return np.round(x, int(np.floor(max(0.0, digits - np.log10(mx)) + 0.5)))


def r_round_format(x, decimals):
    """A single number rounded to `decimals` places and printed as R prints it (7 digits)."""
    return format_real([np.round(float(x), decimals)], 7)[0].strip()


def abbreviate(names, minlength=4):
    """R's ``abbreviate(names, minlength)`` (method "left.kept", strict = FALSE).

    Each name is shortened to `minlength` characters if it is longer: spaces go
    first, then lower-case vowels from the right, then lower-case letters from
    the right, then anything else from the right; the first character and the
    first character after each space are kept. Names whose abbreviations
    coincide get one more character each, until all differ (as R does).
    A single string gives a string, a list gives a list.
    """
    single = isinstance(names, str)
    names = [names] if single else [str(x) for x in names]
    mins = [int(minlength)] * len(names)
    out = [_abbreviate1(nm, m) for nm, m in zip(names, mins)]
    for _ in range(max((len(x) for x in names), default=0) + 1):
        counts = {}
        for a in out:
            counts[a] = counts.get(a, 0) + 1
        dup = [i for i, a in enumerate(out) if counts[a] > 1 and names[i] != a
               and len(names[i]) > mins[i]]
        if not dup:
            break
        for i in dup:
            mins[i] += 1
            out[i] = _abbreviate1(names[i], mins[i])
    return out[0] if single else out


def _abbreviate1(name: str, minlength: int) -> str:
    s = name.lstrip(" ")
    if len(s) <= minlength:
        return s
    # (character, kept?) -- the first character and word starts are never dropped
    chars = [(c, i == 0 or s[i - 1] == " ") for i, c in enumerate(s)]
    chars = [(c, k) for c, k in chars if c != " "]
    vowels = set("aeiou")
    lower = set("abcdefghijklmnopqrstuvwxyz")
    for droppable in (lambda c: c in vowels, lambda c: c in lower, lambda c: True):
        i = len(chars) - 1
        while len(chars) > minlength and i > 0:
            c, kept = chars[i]
            if not kept and droppable(c):
                del chars[i]
            i -= 1
        if len(chars) <= minlength:
            break
    return "".join(c for c, _ in chars)


def cat_fill(items, width=80):
    """R's ``cat(..., fill = TRUE)``: items separated by blanks, a new line (after a
    trailing blank) before an item that would reach `width`."""
    lines, cur = [], items[0]
    for it in items[1:]:
        if len(cur) + 1 + len(it) >= width:
            lines.append(cur + " ")
            cur = it
        else:
            cur = cur + " " + it
    lines.append(cur)
    return lines


_INT_COLUMNS = ("npar", "Df", "NumDF", "Res.Df")
# test statistics (print.anova's: "F", "Cp", "Chisq" and "... value"; not drop1's LRT)
_TEST_COLUMNS = ("Chisq", "F", "Cp", "F value", "t value")


def format_anova_table(table, digits=5) -> list:
    """Lines of an anova-like table as R's print.anova prints it (NA as blank, stars)."""
    cols = {}
    for c in table.columns:
        v = table[c].to_numpy(dtype=np.float64)
        fin = np.isfinite(v)
        cells = [""] * len(v)
        if c.startswith("Pr("):
            cells = format_pvalues(v, max(1, min(5, digits - 1)), na="")
        elif fin.any():
            if c in _INT_COLUMNS and np.all(v[fin] == np.round(v[fin])):
                txt = [str(int(x)) for x in v[fin]]
            elif c in _TEST_COLUMNS or str(c).endswith(" value"):
                txt = format_real(np.round(v[fin], max(1, min(5, digits - 1))), digits)
            else:
                # as print.anova: the other columns are zapsmall()ed, then formatted
                txt = format_real(zapsmall(v[fin], digits), digits)
            for i, s in zip(np.flatnonzero(fin), txt):
                cells[i] = s.strip()
        cols[c] = cells
    names = [str(x) for x in table.index]
    header = [""] + [str(c) for c in table.columns]
    rows = [[names[i]] + [cols[c][i] for c in table.columns] for i in range(len(table))]
    widths = [max(len(r[j]) for r in rows + [header]) for j in range(len(header))]
    lines = [" ".join([r[0].ljust(widths[0])] + [r[j].rjust(widths[j]) for j in range(1, len(r))])
             for r in [header] + rows]
    pcols = [c for c in table.columns if str(c).startswith("Pr(")]
    if pcols:
        # R pads every row, blank cells included, and adds the stars column and its
        # legend when some p-value is below 0.1
        lines = add_signif_stars(lines, table[pcols[0]].to_numpy(dtype=np.float64))
    return lines
