"""lme4's variance parameters of a fit: their names, the sd/cor scale they are reported
on, and the map between that scale and theta (the relative covariance factor)."""
from __future__ import annotations

from typing import Any
import math

import numpy as np

from ..report.rformat import format_real
from ..terms import lower_tri_pairs

__all__ = ["param_names", "sdcor_params", "var_layout", "theta_from_sdcor"]


def _require_lmm(res, what):
    """Refuse what only a linear mixed model (profiled Gaussian likelihood) supports."""
    if not getattr(res, "is_linear", False):
        raise TypeError(f"{what} is available for linear mixed models (lmer fits) only")


def param_names(res: Any, old_names: bool = True) -> list:
    """lme4's names of the variance parameters: .sig01, ..., .sigma (old_names) or
    sd_(Intercept)|Subject, cor_Days.(Intercept)|Subject, ..., sigma."""
    names = []
    i = 0
    for t in res.re.terms:
        for r, c in lower_tri_pairs(t.k):
            i += 1
            if old_names:
                names.append(f".sig{i:02d}")
            elif r == c:
                names.append(f"sd_{t.colnames[r]}|{t.group}")
            else:
                names.append(f"cor_{t.colnames[r]}.{t.colnames[c]}|{t.group}")
    if res.is_linear:
        names.append(".sigma" if old_names else "sigma")
    return names


def sdcor_params(res: Any) -> np.ndarray:
    """Standard deviations and correlations of the random effects (lme4's theta
    order, per term), then sigma for models with a scale: what lme4's profile and
    bootstrap intervals are about."""
    scale = res.is_linear
    out = res.re.sd_cor(res.theta, res.sigma if scale else 1.0)
    return np.r_[out, res.sigma] if scale else out


def var_layout(re: Any) -> tuple:
    """Per term (k, offset, [(row, col), ...]): lme4's order of the sd/cor parameters."""
    out = []
    o = 0
    for t in re.terms:
        idx = lower_tri_pairs(t.k)
        out.append((t.k, o, idx))
        o += len(idx)
    return out, o


def theta_from_sdcor(layout: tuple, psi: np.ndarray) -> np.ndarray | None:
    """theta for (sd, cor, sigma) in lme4's order (`layout` from :func:`var_layout`);
    None where sigma is not positive or the correlations are not a correlation matrix."""
    sigma = psi[-1]
    if not sigma > 0:
        return None
    th = []
    for k, o, idx in layout:
        vals = psi[o:o + len(idx)]
        if k == 1:
            th.append(vals[0] / sigma)
            continue
        sd = np.zeros(k)
        R = np.eye(k)
        for (r, c), v in zip(idx, vals):
            if r == c:
                sd[r] = v
            else:
                R[r, c] = R[c, r] = v
        T = _chol_psd(R)
        if T is None:
            return None
        T = T * sd[:, None] / sigma
        th.extend(T[r, c] for r, c in idx)
    return np.asarray(th, dtype=np.float64)


def _chol_psd(R):
    """Lower Cholesky factor of a correlation matrix that may be singular; None if not PSD."""
    k = R.shape[0]
    L = np.zeros_like(R)
    for j in range(k):
        d = R[j, j] - L[j, :j] @ L[j, :j]
        if d < -1e-10:
            return None
        L[j, j] = math.sqrt(max(d, 0.0))
        for i in range(j + 1, k):
            s = R[i, j] - L[i, :j] @ L[j, :j]
            if L[j, j] > 0:
                L[i, j] = s / L[j, j]
            elif abs(s) > 1e-10:
                return None
    return L


def _ci_labels(level):
    a = (1 - level) / 2
    return [f"{format_real([100 * p], 3)[0].strip()} %" for p in (a, 1 - a)]


def _select_parms(all_names, nvar, parm):
    if parm is None:
        return list(range(len(all_names)))
    if isinstance(parm, str):
        if parm == "theta_":
            return list(range(nvar))
        if parm == "beta_":
            return list(range(nvar, len(all_names)))
        parm = [parm]
    out = []
    for p in parm:
        if isinstance(p, (int, np.integer)):
            out.append(int(p))
        elif p in all_names:
            out.append(all_names.index(p))
        else:
            raise KeyError(f"unknown parameter {p!r}; parameters: {all_names}")
    return out
