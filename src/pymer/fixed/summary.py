"""R's summary.lm and summary.glm, printed character for character as R 4.2 prints them."""
from __future__ import annotations

import numpy as np

from ..formula import _deparse, _parse
from ..report.rformat import coef_lines, format_pvalues, format_real, zapsmall
from ..report.summary import Summary

_DIGITS = 4      # max(3, getOption("digits") - 3)


def _call_line(res) -> list:
    """The call as R deparses it: arguments in the function's formal order, a line
    break (indent 4) after an argument once the line is longer than 60 characters."""
    model = res.model
    call = model.call
    args = ["formula = " + _deparse(_parse(res.formula))]
    if call.fn.__name__ == "glm":
        fam = res.family
        default = type(fam)().link
        if not (fam.name == "gaussian" and fam.link == default):      # glm()'s default family
            args.append("family = " + (fam.name if fam.link == default
                                       else f'{fam.name}(link = "{fam.link}")'))
    args.append("data = " + (model.data_name or "data"))
    for what in ("weights", "offset"):
        v = call.args.get(what)
        if v is not None:
            args.append(f"{what} = " + (v if isinstance(v, str) else what))
    lines, cur = [], call.fn.__name__ + "("
    for i, a in enumerate(args):
        cur += a + (", " if i < len(args) - 1 else ")")
        if i < len(args) - 1 and len(cur) > 60:
            lines.append(cur)
            cur = "    "
    return lines + [cur]


def _named_vector(values, names, gap):
    """print() of a named numeric vector: one common width, each field followed by `gap` blanks."""
    txt = [s.strip() for s in format_real(values, _DIGITS)]
    w = max(max(len(s) for s in txt), max(len(s) for s in names))
    pad = " " * gap
    return ["".join(s.rjust(w) + pad for s in names), "".join(s.rjust(w) + pad for s in txt)]


def _residual_lines(r, rdf, gap):
    if rdf > 5:
        q = np.quantile(r, [0, 0.25, 0.5, 0.75, 1])
        return _named_vector(zapsmall(q, _DIGITS + 1), ["Min", "1Q", "Median", "3Q", "Max"], gap)
    if rdf > 0 or gap == 2:
        return _named_vector(r, [str(i + 1) for i in range(len(r))], gap)
    return [f"ALL {len(r)} residuals are 0: no residual degrees of freedom!"]


def _coefficient_lines(res):
    table = res.coef_table
    lines = coef_lines(table, digits=_DIGITS)
    if res.rank < len(table):
        # aliased rows: R prints NA where the formatter gives NaN
        lines = [ln.replace("NaN", " NA") for ln in lines]
    k = len(table) - res.rank
    head = "Coefficients:" + (f" ({k} not defined because of singularities)" if k else "")
    return [head] + lines


def _missing_line(res):
    k = res.mf.nobs_dropped
    return [f"  ({k} observation{'s' if k > 1 else ''} deleted due to missingness)"] if k else []


def _g4(x) -> str:
    """formatC(x, digits = 4): C's %.4g, right-justified to digits + 1 characters."""
    return f"{x:.4g}".rjust(5)


def lm_summary(res) -> Summary:
    """summary(lm) as R prints it."""
    w = res.prior_weights
    pos = w > 0
    r = res.residuals("pearson")[pos]
    weighted = res.mf.weights is not None and np.ptp(w) != 0
    lines = ["", "Call:"] + _call_line(res) + [""]
    lines.append(("Weighted " if weighted else "") + "Residuals:")
    lines += _residual_lines(r, res.df_residual, 1)
    lines.append("")
    lines += _coefficient_lines(res)
    lines.append("")
    sigma = float(f"{res.sigma:.{_DIGITS}g}")
    lines.append(f"Residual standard error: {format_real([sigma], 7)[0].strip()} on "
                 f"{res.df_residual} degrees of freedom")
    lines += _missing_line(res)
    fs = res.fstatistic
    if fs is not None:
        from scipy import stats
        p = stats.f.sf(fs[0], fs[1], fs[2])
        lines.append(f"Multiple R-squared:  {_g4(res.r_squared)},\tAdjusted R-squared:  "
                     f"{_g4(res.adj_r_squared)} ")
        lines.append(f"F-statistic: {_g4(fs[0])} on {fs[1]} and {fs[2]} DF,  p-value: "
                     f"{format_pvalues([p], _DIGITS)[0]}")
    lines.append("")
    return Summary("\n".join(lines), res.coef_table.copy(), title="summary.lm")


def glm_summary(res) -> Summary:
    """summary(glm) as R 4.2 prints it."""
    pos = res.prior_weights > 0
    lines = ["", "Call:"] + _call_line(res) + [""]
    lines.append("Deviance Residuals: ")
    lines += _residual_lines(res.residuals("deviance")[pos], res.df_residual, 2)
    lines.append("")
    lines += _coefficient_lines(res)
    lines.append("")
    disp = format_real([res.dispersion], 7)[0].strip()
    lines.append(f"(Dispersion parameter for {res.family.name} family taken to be {disp})")
    lines.append("")
    dev = [s.strip() for s in format_real([res.null_deviance, res.deviance], 5)]
    dw = max(len(s) for s in dev)
    dfs = [str(res.df_null), str(res.df_residual)]
    fw = max(len(s) for s in dfs)
    for lab, d, f in zip(("    Null", "Residual"), dev, dfs):
        lines.append(f"{lab} deviance: {d.rjust(dw)}  on {f.rjust(fw)}  degrees of freedom")
    lines += _missing_line(res)
    lines.append(f"AIC: {format_real([res.aic], 5)[0].strip()}")
    lines += ["", f"Number of Fisher Scoring iterations: {res.iter}", ""]
    return Summary("\n".join(lines), res.coef_table.copy(), title="summary.glm")
