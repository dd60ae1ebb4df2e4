"""Profile-likelihood confidence intervals of a glmmTMB fit, as glmmTMB's
``confint(m, method = "profile")`` and ``method = "uniroot"`` report them.

Each parameter is profiled on glmmTMB's internal scale: the fixed effects of the
conditional, zero-inflation and dispersion models (the dispersion's on its log
scale) and the log standard deviations of the random effects ("theta_1|site.1").
At a trial value the other parameters are optimized again (L-BFGS-B, scaled by
the fit's Hessian), and the interval's ends are where the deviance has risen by
the chi-square quantile of the level: roots of the signed square root of the
deviance change, by secant steps inside a bracket. An end where the profile
flattens out below the quantile is open (-inf or inf; glmmTMB reports NA).
glmmTMB's "profile" method interpolates the same roots from a spline through
profile points; pymer finds them directly for both methods.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize as sopt
from scipy import stats

from ..terms import term_order

def parameter_table(res) -> list:
    """(glmmTMB's name, kind, position in the optimizer's vector or None) of every
    parameter, in glmmTMB's order: conditional, zero-inflation, dispersion fixed
    effects, then theta term by term in formula order. kind is "beta", "disp" or
    "theta"; the position is None where pymer cannot profile it (the REML fixed
    effects; of a random-effects term with more than two columns, the correlation
    parameters and the second and later SDs)."""
    m = res.model
    rows = []
    off = 0
    for name in m.fixef_names:
        rows.append((name, "beta", None if m.REML else off))
        off += 0 if m.REML else 1
    for name in m.zi_names:
        rows.append((f"zi~{name}", "beta", off))
        off += 1
    for name in m.disp_names:
        rows.append((f"d~{name}", "disp", off))
        off += 1
    terms = m.re.terms
    starts = m.re.theta_offsets
    order = term_order([len(t.levels) for t in m.mf.random]) if terms else []
    # formula position j is lme4-ordered term order.index(j)
    for j in range(len(terms)):
        i = order.index(j)
        t = terms[i]
        lhs = t.lhs or "1"
        for a in range(t.ntheta):
            ok = a == 0 or t.k == 2
            rows.append((f"theta_{lhs}|{t.group}.{a + 1}", "theta", off + int(starts[i]) + a if ok else None))
    return rows


def _select(res, parm, table):
    """The rows of ``table`` that ``parm`` names (None: all of them but a constant
    dispersion's intercept, as glmmTMB)."""
    m = res.model
    if parm is None:
        single = m.disp_names == ["(Intercept)"]
        return [r for r in table if not (r[1] == "disp" and single)]
    items = [parm] if isinstance(parm, (str, int, np.integer)) else list(parm)
    if not items:
        raise ValueError("parm is empty: give parameter names, 'beta_', 'theta_', 'disp_' or 'sigma'")
    names = [r[0] for r in table]
    out = []
    for p in items:
        if isinstance(p, (int, np.integer)) and not isinstance(p, bool):
            if not 1 <= p <= len(table):
                raise ValueError(f"parm index {p} is out of range: the model has {len(table)} parameters "
                                 "(indices start at 1, as R's)")
            out.append(table[p - 1])
        elif p == "beta_":
            out += [r for r in table if r[1] == "beta"]
        elif p == "theta_":
            out += [r for r in table if r[1] == "theta"]
        elif p in ("disp_", "sigma"):
            out += [r for r in table if r[1] == "disp"]
        elif isinstance(p, str) and p in names:
            out.append(table[names.index(p)])
        else:
            raise ValueError(f"parm {p!r} is not a parameter of this model; its parameters are "
                             + ", ".join(repr(x) for x in names) + " (or 'beta_', 'theta_', 'disp_', 'sigma')")
    seen, uniq = set(), []
    for r in out:
        if r[0] not in seen:
            seen.add(r[0])
            uniq.append(r)
    if not uniq:
        raise ValueError(f"parm {parm!r} selects no parameter of this model")
    return uniq


class _Profiler:
    """The profiled deviance of one fit, one parameter at a time, on glmmTMB's scale y:
    the optimizer's vector x except for random-effects terms with two columns, whose
    (log T11, T21, log T22) (lme4's factor T) become glmmTMB's (log sd1, log sd2,
    t) with correlation t / sqrt(1 + t^2)."""

    def __init__(self, res):
        self.res = res
        self.model = res.model
        m = self.model
        nb = 0 if m.REML else m.p
        base = nb + m.pz + m.pd
        self.blocks = [base + int(o) for t, o in zip(m.re.terms, m.re.theta_offsets) if t.k == 2]
        self.x_fit = m.to_opt(res.par)
        self.x0 = self.to_y(self.x_fit)
        self.f0 = float(res.objective)
        J = self.jacobian(self.x0)
        H = J.T @ (0.5 * (res.hess + res.hess.T)) @ J
        self.H = H
        self._scales = {}
        try:
            self.cov = 2.0 * np.linalg.inv(H)
        except np.linalg.LinAlgError:
            self.cov = 2.0 * np.linalg.pinv(H)

    def to_y(self, x):
        y = np.array(x, dtype=np.float64)
        for i in self.blocks:
            a, l21, c = x[i], x[i + 1], x[i + 2]
            y[i + 1] = 0.5 * np.log(l21 * l21 + np.exp(2.0 * c))
            y[i + 2] = l21 * np.exp(-c)
            y[i] = a
        return y

    def to_x(self, y):
        x = np.array(y, dtype=np.float64)
        for i in self.blocks:
            c = y[i + 1] - 0.5 * np.log1p(y[i + 2] ** 2)
            x[i + 2] = c
            x[i + 1] = y[i + 2] * np.exp(c)
        return x

    def jacobian(self, y):
        """dx/dy."""
        J = np.eye(y.shape[0])
        for i in self.blocks:
            t = y[i + 2]
            ec = np.exp(y[i + 1] - 0.5 * np.log1p(t * t))
            J[i + 2, i + 1], J[i + 2, i + 2] = 1.0, -t / (1.0 + t * t)
            J[i + 1, i + 1], J[i + 1, i + 2] = t * ec, ec / (1.0 + t * t)
        return J

    def objective(self, y) -> float:
        return self.model.objective_z(self.to_x(y))

    def gradient(self, y):
        f, g = self.model.gradient(self.to_x(y))
        return f, self.jacobian(y).T @ g

    def _scaling(self, j: int) -> np.ndarray:
        """C^-T with C C' the fit's Hessian of the other parameters: in w = C' z the
        profiled problem starts near an identity Hessian (few quasi-Newton steps)."""
        if j not in self._scales:
            keep = np.arange(self.x0.shape[0]) != j
            Hoo = self.H[np.ix_(keep, keep)]
            try:
                C = np.linalg.cholesky(Hoo)
                S = np.linalg.inv(C).T
            except np.linalg.LinAlgError:
                S = np.eye(Hoo.shape[0])
            self._scales[j] = S
        return self._scales[j]

    def deviance(self, j: int, v: float, start: np.ndarray) -> tuple:
        """(objective - objective at the fit, the others' optimum) with parameter j
        fixed at v, from ``start`` (the others)."""
        keep = np.arange(self.x0.shape[0]) != j
        x = np.empty(self.x0.shape[0])
        x[j] = v
        if not keep.any():
            f = self.objective(x)
            return (f - self.f0 if np.isfinite(f) else np.inf), np.zeros(0)
        S = self._scaling(j)

        def fg(w):
            x[keep] = start + S @ w
            f, g = self.gradient(x)
            if not np.isfinite(f):
                return 1e300, np.zeros_like(w)
            return f, S.T @ g[keep]

        r = sopt.minimize(fg, np.zeros(start.shape[0]), jac=True, method="L-BFGS-B",
                          options={"maxiter": 1000, "ftol": 1e-13, "gtol": 1e-6, "maxcor": 20})
        z = start + S @ r.x
        x[keep] = z
        f = self.objective(x)
        if not np.isfinite(f):
            return np.inf, z
        return f - self.f0, z

    def conditional_start(self, j: int, v: float) -> np.ndarray:
        """The others' optimum at parameter j = v in the quadratic approximation."""
        keep = np.arange(self.x0.shape[0]) != j
        c = self.cov
        if c[j, j] > 0:
            shift = c[keep, j] / c[j, j] * (v - self.x0[j])
        else:
            shift = 0.0
        return self.x0[keep] + shift

    def end(self, j: int, direction: float, crit: float) -> float:
        """Where the profiled deviance reaches ``crit`` on one side of the estimate:
        root of the signed square root of the deviance change (near linear in the
        parameter), by secant steps kept inside a bracket (Illinois)."""
        x0 = self.x0[j]
        se = np.sqrt(self.cov[j, j]) if self.cov[j, j] > 0 else 0.0
        if not np.isfinite(se) or se <= 0:
            se = 0.1 * max(1.0, abs(x0))
        target = np.sqrt(crit)
        tol = 1e-5 * se
        warm: dict[str, np.ndarray] = {}

        def r(v):
            cand = self.conditional_start(j, v)
            starts = [cand] if not warm else [warm["z"] + (cand - warm["c"]), warm["z"], cand]
            d, z = self.deviance(j, v, starts[0])
            if not np.isfinite(d) or (d >= 0.8 * crit and abs(v - x0) > 3.0 * se * target):
                # a crossing (or no value) far beyond the Wald end from one start: the
                # others must agree, else the inner optimization went astray there
                for st in starts[1:]:
                    d2, z2 = self.deviance(j, v, st)
                    if d2 < d:
                        d, z = d2, z2
            if np.isfinite(d):
                warm["z"], warm["c"] = z, cand
            return np.sqrt(max(d, 0.0)) - target if np.isfinite(d) else np.inf

        # inside: (x0, -target); search outwards from the Wald end for a point beyond;
        # the interval is open on this side when the profile flattens out below the
        # quantile (glmmTMB: NA)
        a, fa = x0, -target
        v = x0 + direction * se * target
        fv = r(v)
        open_end = -np.inf if direction < 0 else np.inf
        for _ in range(60):
            if np.isfinite(fv) and fv >= 0:
                break
            if not np.isfinite(fv):
                v = 0.5 * (a + v)          # off the domain: back towards the inside
            else:
                if a != x0 and fv - fa < 1e-4:
                    return open_end
                # secant through (x0, -target), (v, fv) overshoots a convex profile a
                # little; the distance grows by a factor 1.1 to 2 per step
                a, fa = v, fv
                dist = abs(v - x0)
                slope = (fv + target) / dist
                grow = min(max(-fv / max(slope, 1e-300) * 1.2, 0.1 * dist), dist)
                v = v + direction * grow
                if abs(v - x0) > 1e4 * max(se, 1.0):
                    return open_end
            fv = r(v)
        else:
            return open_end
        b, fb = v, fv
        side = 0
        for _ in range(60):
            if abs(b - a) < tol:
                break
            c = b - fb * (b - a) / (fb - fa)
            if not (min(a, b) < c < max(a, b)):
                c = 0.5 * (a + b)
            fc = r(c)
            if not np.isfinite(fc):
                b, fb = c, 1e3
                continue
            if abs(fc) < 1e-5:
                return float(c)
            if fc > 0:
                b, fb = c, fc
                if side == 1:
                    fa *= 0.5
                side = 1
            else:
                a, fa = c, fc
                if side == -1:
                    fb *= 0.5
                side = -1
        return float(a - fa * (b - a) / (fb - fa))


def profile_confint(res, parm=None, level: float = 0.95, estimate: bool = True) -> pd.DataFrame:
    """Profile-likelihood intervals of a glmmTMB fit (see :meth:`TMBResult.confint`).

    Parameters
    ----------
    res : TMBResult
    parm : str, int or list, optional
        glmmTMB's names ("(Intercept)", "zi~(Intercept)", "d~x", "theta_1|site.1"),
        1-based positions, or the groups "beta_", "theta_", "disp_" ("sigma");
        default all parameters but a constant dispersion.
    level : float
    estimate : bool
        Add the estimates as a third column.

    Returns
    -------
    DataFrame
        One row per parameter: lower and upper limits on glmmTMB's internal scale
        (fixed effects; log dispersion; log SD of random effects); -inf or inf
        where the profile never reaches the quantile.
    """
    if isinstance(level, bool) or not isinstance(level, (int, float, np.floating)) or not 0 < level < 1:
        raise ValueError(f"level must be a number between 0 and 1, not {level!r}")
    table = parameter_table(res)
    rows = _select(res, parm, table)
    bad = [r[0] for r in rows if r[2] is None]
    if bad:
        why = ("the conditional fixed effects of a REML fit are integrated out"
               if res.model.REML and any(r[1] == "beta" for r in rows if r[2] is None) else
               "of a random-effects term with more than two columns pymer profiles the first SD "
               "only, not correlations or further SDs")
        raise NotImplementedError(f"confint(method='profile') cannot profile {', '.join(map(repr, bad))}: "
                                  f"{why}")
    crit = float(stats.chi2.ppf(level, 1))
    prof = _Profiler(res)
    out = []
    try:
        for name, _kind, j in rows:
            lo = prof.end(j, -1.0, crit)
            hi = prof.end(j, 1.0, crit)
            out.append((name, lo, hi, prof.x0[j]))
    finally:
        res.model.objective_z(prof.x_fit)       # the compiled state back at the fit
    lo_n, hi_n = f"{100 * (1 - level) / 2:g} %", f"{100 * (1 + level) / 2:g} %"
    df = pd.DataFrame({lo_n: [r[1] for r in out], hi_n: [r[2] for r in out],
                       "Estimate": [r[3] for r in out]}, index=[r[0] for r in out])
    return df if estimate else df.drop(columns=["Estimate"])
