"""glmmTMB's printed summary: header, fit statistics, random effects (of the
conditional and the zero-inflation model), the dispersion line, and one coefficient table per model component."""
from __future__ import annotations

import numpy as np

from ..report.rformat import coef_lines, format_real, varcorr_lines, zapsmall
from ..report.summary import aic_lines


def _vc_lines(res, pairs, resid):
    """The random-effects table of (term, covariance) `pairs` (lme4's layout: variances
    and SDs with 4 significant digits, correlations with 2 decimals, every column
    left-aligned), with the Residual row when `resid`."""
    terms = [t for t, _S in pairs]
    covs = [S for _t, S in pairs]
    kmax = max(t.k for t in terms)
    var, sd = [], []
    for t, S in zip(terms, covs):
        for a in range(t.k):
            var.append(S[a, a])
            sd.append(np.sqrt(S[a, a]))
    if resid:
        var.append(res.sigma ** 2)
        sd.append(res.sigma)
    vtxt, stxt = format_real(var, 4), format_real(sd, 4)
    header = ["Groups", "Name", "Variance", "Std.Dev."] + (["Corr"] if kmax > 1 else [])
    rows, i = [], 0
    for t, S in zip(terms, covs):
        s = np.sqrt(np.diag(S))
        for a in range(t.k):
            r = [t.group if a == 0 else "", t.colnames[a], vtxt[i], stxt[i]]
            if kmax > 1:
                cs = [f"{S[a, b] / (s[a] * s[b]):.2f}" if s[a] > 0 and s[b] > 0 else "NaN"
                      for b in range(a)]
                r.append(cs)
            rows.append(r)
            i += 1
    if resid:
        rows.append(["Residual", "", vtxt[i], stxt[i]] + ([""] if kmax > 1 else []))
    # with a Corr column glmmTMB's table ends in a blank
    return varcorr_lines(header, rows, end=" " if kmax > 1 else "")


def _groups_line(nobs, ngrps):
    groups = "; ".join(f"{g}, {n}" for g, n in ngrps.items())
    return f"Number of obs: {nobs}, groups:  {groups}"


def _dispersion_line(res):
    fam = res.family
    if not fam.has_dispersion or res.model.disp_zero or not np.isfinite(res.sigma):
        return None
    if fam.base in ("gaussian", "Gamma"):
        return (f"Dispersion estimate for {fam.name} family (sigma^2): "
                f"{_g3(res.sigma ** 2)} ")
    return f"Dispersion parameter for {fam.name} family (): {_g3(res.sigma)} "


def _g3(x):
    """A number with 3 significant digits in a field of 4, as glmmTMB prints sigma."""
    return f"{float(f'{x:.3g}'):g}".rjust(4)


def _coef_block(res, component):
    """A coefficient table as glmmTMB prints it: printCoefmat with 4 digits and the
    z values zapped (zapsmall to 4 digits) before formatting."""
    tab = res.coef_table(component)
    tab["z value"] = zapsmall(tab["z value"].to_numpy(), 4)
    return coef_lines(tab, digits=4)


def summary_text(res) -> str:
    """glmmTMB's ``print(summary(fit))`` as text."""
    m = res.model
    fam = res.family
    lines = [f" Family: {fam.name}  ( {fam.link} )", f"Formula:          {m.formula}"]
    if m.has_zi:
        lines.append(f"Zero inflation:          {m.ziformula}")
    if m.disp_zero or (fam.has_dispersion and m.dispformula.replace(" ", "") != "~1"):
        lines.append(f"Dispersion:              {m.dispformula}")
    if getattr(m, "data_name", None):
        lines.append(f"Data: {m.data_name}")
    if m.weights is not None:
        lines.append(f"Weights: {m.weights_name}")
    lines += [""] + aic_lines(res.aic, res.bic, res.loglik, res.deviance, res.df_residual, 1)
    zi_pairs = res.zi_terms_covariances() if hasattr(res, "zi_terms_covariances") else []
    if m.has_re or zi_pairs:
        lines += ["", "Random effects:"]
        if m.has_re:
            lines += ["", "Conditional model:"] + _vc_lines(res, res._terms_covariances(), res._residual_row)
            lines.append(_groups_line(res.nobs, res.ngrps))
        if zi_pairs:
            lines += ["", "Zero-inflation model:"] + _vc_lines(res, zi_pairs, False)
            lines.append(_groups_line(res.nobs, res.ngrps_zi))
    else:
        # glmmTMB leaves the random-effects block's place empty
        lines.append("")
    disp = _dispersion_line(res)
    if disp is not None:
        lines += ["", disp]
    lines += ["", "Conditional model:"] + _coef_block(res, "cond")
    if m.has_zi:
        lines += ["", "Zero-inflation model:"] + _coef_block(res, "zi")
    if fam.has_dispersion and not m.disp_zero and m.dispformula.replace(" ", "") != "~1":
        lines += ["", "Dispersion model:"] + _coef_block(res, "disp")
    if res.messages:
        lines += [""] + [f"Note: {x}" for x in res.messages]
    return "\n".join(lines)
