"""glmmTMB's models: the model frames of the three formulas, the Laplace objective
over all fixed parameters, and the fit.

Parameters, in the order of the objective's argument: the conditional fixed
effects beta (absent with REML, where they are part of the mode), the
zero-inflation fixed effects, the dispersion fixed effects, theta (lme4's
relative covariance factors, here absolute: b = Lambda u, u ~ N(0, I)), and
for the tweedie family psi, power = 1 + plogis(psi). The optimizer works on
the same vector with theta's diagonal on the log scale (as glmmTMB's log-SDs:
the Laplace objective is even in the sign of a diagonal, so at 0 its gradient
vanishes and a bounded gradient method stalls there). It is L-BFGS-B on the
compiled gradient (:mod:`pymer._core._tmb_grad`: the envelope theorem at the
mode, as TMB's automatic differentiation gives it), polished by Newton steps
on the Hessian from central differences of that gradient, which also gives the
standard errors. REML uses differences of the objective instead (forward for
the search, central for the Hessian).
"""
from __future__ import annotations

from typing import Any
from numpy.typing import ArrayLike
import copy
import math

import numpy as np
import pandas as pd
from scipy import optimize as sopt
from scipy import special

from .._core._blas_threads import single_threaded
from .._core._pls import PLS
from .._core._selinv import diag_blocks_inverse, inverse_on_pattern
from .._core._tmb import TMBLaplace
from .._core._tmb_grad import laplace_gradient
from ..call import ModelCall
from ..errors import FormulaError, PymerDataError
from ..families import get_family, glm_start
from ..formula import parse_formula
from ..errors import ConvergenceWarning, warn
from ..numdiff import _fd_steps, finite_diff_derivs
from ..terms import RandomEffects
from ..validate import check_weights, drop_aliased_columns
from .families import _NO_ZEROS, ZERO_DISPERSION, TMBFamily, check_response, family as get_tmb_family
from .fixed_core import FixedEffectsCore
from .result import TMBResult
# L-BFGS-B's tolerances on the compiled gradient (a dispersion running to its limit needs the
# small ftol to get there), and the |log dispersion| beyond which it has run off
GTOL = 1e-6
FTOL = 1e-12
_DISP_LIMIT = 15.0
# subclasses of TMBModel for the models it does not take itself (random effects in
# ziformula: tmb.joint registers JointTMBModel here, as model.py cannot import it)
MODEL_EXTENSIONS: list = []



def _at_optimum(f: float, g: np.ndarray, H: np.ndarray, rtol: float = 1e-8) -> bool:
    """A positive definite Hessian and a Newton decrement g'H^-1 g so small that no
    quadratic step improves the objective f by more than `rtol` relative."""
    try:
        c = np.linalg.cholesky(0.5 * (H + H.T))
    except np.linalg.LinAlgError:
        return False
    z = np.linalg.solve(c, g)
    return bool(np.isfinite(z).all() and 0.5 * (z @ z) < rtol * (1.0 + abs(f)))


def _rhs(formula, what: str) -> str:
    if not isinstance(formula, str):
        raise TypeError(f"{what} must be a one-sided formula string such as '~1', not "
                        f"{type(formula).__name__}")
    s = formula.strip()
    if not s.startswith("~"):
        raise FormulaError(f"{what} must be a one-sided formula starting with '~' (got {formula!r})")
    return s[1:].strip()


class TMBModel:
    """A glmmTMB model ready to fit: model matrices of the three formulas, Z, the
    PLS core and the compiled Laplace state."""

    def __init__(self, formula: str, data: Any, family: str | TMBFamily, ziformula: str = "~0",
                 dispformula: str = "~1", REML: bool = False, weights: str | ArrayLike | None = None,
                 offset: str | ArrayLike | None = None, call: ModelCall | None = None) -> None:
        self.call = call
        fam = get_tmb_family(family)
        self.family = fam
        self.formula = formula
        self.REML = bool(REML)
        zi_rhs = _rhs(ziformula, "ziformula")
        disp_rhs = _rhs(dispformula, "dispformula")
        self.ziformula = "~" + zi_rhs
        self.dispformula = "~" + disp_rhs
        if self.REML and not (fam.base == "gaussian"):
            raise ValueError(f"REML=True is for the gaussian family only (glmmTMB's REML), not {fam.name}")
        mf = parse_formula(formula, data, weights=weights, offset=offset, require_random=False)
        if zi_rhs == ".":
            parts = list(mf.term_labels)
            if "(Intercept)" not in mf.fixef_names:
                parts = ["0"] + parts
            zi_rhs = " + ".join(parts) if parts else "1"
        self.has_zi = zi_rhs not in ("0", "-1", "")
        if self.has_zi and fam.base in _NO_ZEROS:
            raise ValueError(f"ziformula {ziformula!r}: the {fam.name} family has no zeros to inflate "
                             "(its response is > 0); use ziformula='~0'")
        # dispformula '~0': glmmTMB fixes a gaussian model's residual variance at
        # sqrt(.Machine$double.eps) (its dispersion sits in the random effects); for a
        # family without dispersion it changes nothing; other families refuse it
        self.disp_zero = disp_rhs in ("0", "-1")
        if self.disp_zero:
            if fam.has_dispersion and fam.base != "gaussian":
                raise ValueError(f"dispformula {dispformula!r}: ~0 dispersion is not implemented for the "
                                 f"{fam.name} family (glmmTMB: gaussian only)")
            disp_rhs = "1"
        if not fam.has_dispersion and disp_rhs not in ("1",):
            raise ValueError(f"dispformula {dispformula!r}: the {fam.name} family has no dispersion "
                             "parameter; use dispformula='~1'")
        resp = mf.response_name
        frames = [mf]
        zf = df = None
        if self.has_zi:
            zf = parse_formula(f"{resp} ~ {zi_rhs}", data, require_random=False)
            if zf.random:
                raise NotImplementedError("random effects in ziformula are not supported by "
                                          f"pymer.glmmtmb (ziformula {ziformula!r}): its Laplace core "
                                          "integrates over the conditional model's random effects only; "
                                          "use fixed effects in ziformula")
            frames.append(zf)
        # an intercept-only dispersion model needs no model frame of its own: its rows are
        # the conditional model's (the same response) and its design a column of ones
        df = parse_formula(f"{resp} ~ {disp_rhs}", data, require_random=False) if disp_rhs != "1" else None
        if df is not None and df.random:
            raise NotImplementedError(f"random effects in dispformula are not supported ({dispformula!r}); "
                                      "glmmTMB 1.1.5 takes fixed effects only there")
        if df is not None:
            frames.append(df)
        rows = frames[0].rows
        for f in frames[1:]:
            rows = np.intersect1d(rows, f.rows)
        if any(f.rows.shape[0] != rows.shape[0] for f in frames):
            # glmmTMB drops a row with a missing value in any of the formulas
            sub = data.iloc[rows] if isinstance(data, pd.DataFrame) else pd.DataFrame(data).iloc[rows]
            TMBModel.__init__(self, formula, sub, fam, "~" + zi_rhs if self.has_zi else "~0",
                              dispformula, REML, weights if isinstance(weights, (str, type(None)))
                              else np.asarray(weights)[rows],
                              offset if isinstance(offset, (str, type(None))) else np.asarray(offset)[rows],
                              call=call)
            return
        self.mf, self.zf, self.df = mf, zf, df
        self.n = n = int(mf.X.shape[0])
        self._response(mf, fam, weights)
        keep, _ = drop_aliased_columns(mf.X, mf.fixef_names)
        self.X = np.asfortranarray(mf.X[:, keep])
        self.fixef_names = [mf.fixef_names[i] for i in keep]
        if zf is not None:
            kz, _ = drop_aliased_columns(zf.X, zf.fixef_names)
            self.Xzi = np.ascontiguousarray(zf.X[:, kz])
            self.zi_names = [zf.fixef_names[i] for i in kz]
        else:
            self.Xzi = np.zeros((n, 0))
            self.zi_names = []
        if fam.has_dispersion and not self.disp_zero:
            if df is None:
                self.Xd = np.ones((n, 1))
                self.disp_names = ["(Intercept)"]
            else:
                kd, _ = drop_aliased_columns(df.X, df.fixef_names)
                self.Xd = np.ascontiguousarray(df.X[:, kd])
                self.disp_names = [df.fixef_names[i] for i in kd]
        else:
            self.Xd = np.zeros((n, 0))
            self.disp_names = []
        self.offset = np.zeros(n) if mf.offset is None else np.asarray(mf.offset, dtype=np.float64)
        self.re = RandomEffects.from_formula_terms(mf.random, n)
        self.has_re = self.re.q > 0
        self.zcols: np.ndarray | None
        self.zvals: np.ndarray | None
        self.zcols, self.zvals = self.re.zrows() if self.has_re else (None, None)
        self._build_core()
        self.p, self.pz, self.pd, self.nt = self.X.shape[1], self.Xzi.shape[1], self.Xd.shape[1], self.re.ntheta
        self.n_extra = 1 if fam.base == "tweedie" else 0
        # the hot path of objective(): slices of the parameter vector, the positions of
        # theta's diagonal, and whether each linear predictor has anything to add
        sizes = [0 if self.REML else self.p, self.pz, self.pd, self.nt, self.n_extra]
        ends = np.cumsum(sizes)
        self._slices = [slice(int(e - s), int(e)) for s, e in zip(sizes, ends)]
        o = int(ends[2])
        self._logged = o + np.flatnonzero(self.re.lower_bounds() == 0)
        self._zeros = np.zeros(n)
        self._ones = np.ones(n)

    def _build_core(self):
        """The PLS factorization and the compiled Laplace state for this response
        (without random effects: the plain likelihood, :class:`FixedEffectsCore`)."""
        fam = self.family
        self._u_warm = None
        self._beta_warm = None
        self._rest = None
        self._analytic = False
        self._pattern = False
        if not self.has_re:
            self.pls = None
            self.lap = FixedEffectsCore(self.y, self.size, self.pw, self.X, fam.code, fam.link_code,
                                        fam.truncated, self.has_zi, self.REML)
            return
        colptr, rowind = self.re.pattern(self.zcols)
        col_term, col_off = self.re.column_structure()
        q, p = self.re.q, self.X.shape[1]
        m = p + 1 if self.REML else 1
        self.pls = PLS(colptr, rowind, np.zeros(rowind.shape[0]), np.zeros((q, m)), np.eye(m),
                       col_term, col_off, self.re.term_k, self.n)
        self.lap = TMBLaplace(self.pls, self.y, self.size, self.pw, self.X, self.zcols, self.zvals,
                              colptr, rowind, fam.code, fam.link_code, fam.truncated, self.has_zi)
        self._analytic = self.has_analytic_gradient
        self._pattern = len(self.re.terms) > 1

    @property
    def data_name(self) -> str | None:
        """The data's name (summary's "Data:" line), from the call."""
        return self.call.data_name if self.call is not None else None

    @property
    def weights_name(self) -> str:
        w = self.call.args.get("weights") if self.call is not None else None
        return w if isinstance(w, str) else "weights"

    def with_response(self, y: ArrayLike) -> "TMBModel":
        """The same model (rows, designs, family) with another response: for binomial
        families proportions of the trials, as :attr:`TMBResult.fitted` gives them (a
        simulated response, a refit)."""
        fam = self.family
        y = np.array(y, dtype=np.float64).ravel()
        if y.shape[0] != self.n:
            raise ValueError(f"the new response has {y.shape[0]} values; the model has {self.n} rows")
        if not np.all(np.isfinite(y)):
            bad = int(np.flatnonzero(~np.isfinite(y))[0])
            raise PymerDataError(f"the new response has a missing or infinite value (row {bad + 1})")
        if fam.binomial_like:
            if ((y < 0) | (y > 1)).any():
                raise PymerDataError(f"the new response must be proportions in [0, 1] for the {fam.name} "
                                     "family")
            y = y * self.size
        check_response(fam, y, self.size, self.mf.response_name, self.has_zi)
        new = copy.copy(self)
        new.y = y
        new._build_core()
        return new

    def updated_call(self, formula: str | None = None, data: Any = None, **args: Any) -> ModelCall:
        """This model's call with a changed formula, data or arguments (glmmTMB's update();
        ``ziformula``, ``dispformula`` and ``family`` are replaced as given)."""
        if self.call is None:
            raise ValueError("update() needs the call that made the fit: fit with pymer.glmmtmb()")
        return self.call.update(formula, data, **args)

    def _response(self, mf, fam: TMBFamily, weights):
        y = np.asarray(mf.y, dtype=np.float64)
        name = mf.response_name
        w = check_weights(mf.weights, self.n)
        if getattr(mf, "response_levels", None) is not None and not fam.binomial_like:
            raise PymerDataError(f"response '{name}' is a factor; the {fam.name} family needs a numeric "
                                 "response")
        size = np.ones(self.n)
        pw = np.ones(self.n) if w is None else w
        if y.ndim == 2:
            if not fam.binomial_like:
                raise PymerDataError(f"response '{name}' is cbind(...); only the binomial and "
                                     "betabinomial families take (successes, failures)")
            if (y < 0).any():
                raise PymerDataError(f"response '{name}' has negative counts")
            size = y[:, 0] + y[:, 1]
            y = y[:, 0].copy()
        elif fam.binomial_like:
            if ((y < 0) | (y > 1)).any():
                bad = np.flatnonzero((y < 0) | (y > 1))
                raise PymerDataError(f"response '{name}' must be 0/1 or proportions in [0, 1] for the "
                                     f"{fam.name} family (value {y[bad[0]]:g} at row {bad[0] + 1})")
            if w is not None:
                size = w.copy()
                y = y * size
                pw = np.ones(self.n)
        check_response(fam, y, size, name, self.has_zi)
        if np.unique(y).shape[0] < 2 and not fam.binomial_like:
            raise PymerDataError(f"response '{name}' is constant ({y[0]:g})")
        self.y, self.size, self.pw, self.weights = y, size, pw, w

    # ---- parameters -------------------------------------------------------------
    @property
    def npar(self) -> int:
        return (0 if self.REML else self.p) + self.pz + self.pd + self.nt + self.n_extra

    def unpack(self, par: np.ndarray) -> dict[str, np.ndarray]:
        par = np.asarray(par, dtype=np.float64)
        return dict(zip(("beta", "betazi", "betad", "theta", "psi"), (par[s] for s in self._slices)))

    def to_opt(self, par: np.ndarray) -> np.ndarray:
        z = np.array(par, dtype=np.float64)
        z[self._logged] = np.log(np.maximum(np.abs(z[self._logged]), 1e-300))
        return z

    def from_opt(self, z: np.ndarray) -> np.ndarray:
        par = np.array(z, dtype=np.float64)
        par[self._logged] = np.exp(par[self._logged])
        return par

    def phi_of(self, betad: np.ndarray, Xd: np.ndarray | None = None) -> np.ndarray:
        Xd = self.Xd if Xd is None else Xd
        if not self.family.has_dispersion:
            return np.ones(Xd.shape[0])
        if self.disp_zero:
            return np.full(Xd.shape[0], ZERO_DISPERSION)
        with np.errstate(over="ignore"):     # the optimizer may try a huge phi: the objective says inf
            if Xd.shape[1] == 1 and Xd is self.Xd and self._disp_constant:
                return np.full(Xd.shape[0], np.exp(betad[0]))
            return np.exp(Xd @ betad)

    @property
    def _disp_constant(self):
        return self.disp_names == ["(Intercept)"]

    def set_parameters(self, par: np.ndarray) -> dict[str, np.ndarray]:
        """Install all fixed parameters into the compiled state; returns them by component."""
        par = np.asarray(par, dtype=np.float64)
        self._install(par)
        return self.unpack(par)

    def _install(self, par: np.ndarray) -> np.ndarray:
        """set_parameters without the dict (the objective's hot path); returns theta."""
        sl = self._slices
        fixed = self.offset if self.REML else self.offset + self.X @ par[sl[0]]
        # (betazi, betad) and psi as bytes: as cheap to compare as it gets
        rest = par[sl[1].start:sl[2].stop].tobytes() + par[sl[4]].tobytes()
        if rest == self._rest:
            # zero-inflation, dispersion and power as before: their per-observation
            # constants (the log-gamma terms) stand
            self.lap.set_fixed(fixed)
            return par[sl[3]]
        self._rest = rest
        etaz = self.Xzi @ par[sl[1]] if self.has_zi else self._zeros
        power = 1.0 + float(special.expit(par[sl[4].start])) if self.n_extra else 1.5
        phi = self.phi_of(par[sl[2]]) if self.family.has_dispersion else self._ones
        self.lap.set_parameters(fixed, etaz, phi, power)
        return par[sl[3]]

    def objective(self, par: np.ndarray) -> float:
        """-2 log-likelihood (Laplace; REML: restricted) at all fixed parameters."""
        theta = self._install(np.asarray(par, dtype=np.float64))
        val = float(self.lap.laplace(theta, self._u_warm, self._beta_warm))
        if math.isfinite(val):
            self._u_warm = self.lap.u_vec
            if self.REML:
                self._beta_warm = self.lap.beta_vec
        else:
            self._u_warm = None
        return val

    def start(self) -> np.ndarray:
        """Fixed effects from a GLM of the family's nearest GLM (Poisson for counts),
        no zero inflation, dispersion 1 (gaussian: the residual variance), identity
        covariance factors."""
        fam = self.family
        b = fam.base
        glm_name = {"gaussian": "gaussian", "Gamma": "Gamma", "binomial": "binomial",
                    "betabinomial": "binomial", "beta": "binomial"}.get(b, "poisson")
        link = fam.link if (glm_name, fam.link) != ("poisson", "log") else "log"
        try:
            gf = get_family(glm_name).__class__(link=link)
            if glm_name == "binomial":
                beta = glm_start(gf, self.X, self.y / self.size, self.size, self.offset)
            else:
                beta = glm_start(gf, self.X, self.y, self.pw, self.offset)
        except Exception:   # a link the GLM family lacks: start from zero
            beta = np.zeros(self.p)
        if not np.all(np.isfinite(beta)):
            beta = np.zeros(self.p)
        betad = np.zeros(self.pd)
        if self.pd and "(Intercept)" in self.disp_names:
            j = self.disp_names.index("(Intercept)")
            if b == "gaussian":
                r = self.y - self.family.linkinv(self.X @ beta + self.offset)
                betad[j] = np.log(max(np.var(r), 1e-8))
        theta = self.re.theta_start()
        if self.disp_zero and b == "gaussian" and theta.shape[0]:
            # the residual variance is fixed near 0: the random effects carry the
            # residuals' scale, split equally among the terms
            r = self.y - self.family.linkinv(self.X @ beta + self.offset)
            theta = theta * np.sqrt(max(np.var(r), 1e-8) / len(self.re.terms))
        parts = [] if self.REML else [beta]
        parts += [np.zeros(self.pz), betad, theta, np.zeros(self.n_extra)]
        if self.REML:
            self._beta_warm = beta
        return np.concatenate(parts)

    # ---- fit ----------------------------------------------------------------------
    def objective_z(self, z: np.ndarray) -> float:
        return self.objective(self.from_opt(z))

    @property
    def has_analytic_gradient(self) -> bool:
        """Whether the compiled gradient applies: beta outside the mode (not REML), with
        random effects (H^-1 is needed on the diagonal level blocks of one term, or with
        more terms on the pattern of Z'Z: :mod:`pymer._core._selinv`)."""
        return not self.REML and self.re.q > 0

    def analytic_gradient(self, par: np.ndarray) -> np.ndarray | None:
        """The gradient of the objective in all parameters (natural scale) by the
        compiled envelope-theorem formula (:mod:`pymer._core._tmb_grad`); None where it
        does not apply or is not finite. Evaluates the objective at `par` first."""
        if not self.has_analytic_gradient:
            return None
        par = np.asarray(par, dtype=np.float64)
        if not np.isfinite(self.objective(par)):
            return None
        return self._gradient_at_mode(par)

    def _gradient_at_mode(self, par: np.ndarray) -> np.ndarray | None:
        """The compiled gradient at the state the last objective() left (at `par`)."""
        pattern = self._pattern
        try:
            hinv = inverse_on_pattern(self.pls) if pattern else diag_blocks_inverse(self.pls)
        except (RuntimeError, np.linalg.LinAlgError):
            return None
        psi = float(par[self._slices[4].start]) if self.n_extra else 0.0
        return laplace_gradient(self.lap, hinv, self.X, self.Xzi, self.Xd, self.n_extra == 1, psi,
                                pattern)

    def gradient(self, par: np.ndarray, h: float = 1e-7) -> tuple[float, np.ndarray]:
        """Objective and its gradient on the optimizer's scale: compiled (see
        :meth:`analytic_gradient`) where it applies, else forward differences."""
        par = np.asarray(par, dtype=np.float64)
        nat = self.from_opt(par)
        f0 = self.objective(nat)
        if self._analytic and math.isfinite(f0):
            g = self._gradient_at_mode(nat)
            if g is not None:
                g[self._logged] *= nat[self._logged]
                return f0, g
        u0 = self._u_warm
        g = np.empty_like(par)
        for j in range(par.shape[0]):
            step = h * max(1.0, abs(par[j]))
            xp = par.copy()
            xp[j] += step
            self._u_warm = u0
            g[j] = (self.objective_z(xp) - f0) / step
        self._u_warm = u0
        return f0, g

    def fit(self, start: ArrayLike | None = None, control: dict | None = None) -> TMBResult:
        """Fit: minimize the objective from `start` (all parameters, see
        :func:`glmmtmb`); warns when the optimizer or the Hessian says the fit is
        not reliable."""
        x, f, g, H, messages = self.optimize(start=start, control=control)
        if not np.all(np.linalg.eigvalsh(0.5 * (H + H.T)) > 0):
            messages = list(messages) + ["non-positive-definite Hessian matrix: some parameters are not "
                                         "identified, their standard errors are not reliable"]
        betad = self.unpack(self.from_opt(x))["betad"]
        if self.family.base not in ("gaussian", "tweedie") and np.any(np.abs(betad) > _DISP_LIMIT):
            # a unitless dispersion (nbinom size, Gamma shape, beta precision, ...) run off to
            # e^15: the limit family (Poisson, binomial, ...) fits as well; glmmTMB's nlminb
            # stops there with "false convergence"
            messages = list(messages) + [f"the dispersion parameter ran to its limit (log scale "
                                         f"{betad[np.argmax(np.abs(betad))]:.3g}): the data show no "
                                         "over- or underdispersion for this family"]
        if messages:
            warn("glmmtmb: " + "; ".join(messages), ConvergenceWarning)
        return TMBResult(self, x, f, g, H, messages)

    @single_threaded
    def optimize(self, start: ArrayLike | None = None,
                 control: dict | None = None) -> tuple[np.ndarray, float, np.ndarray, np.ndarray, list[str]]:
        """Minimize the objective; returns (x on the optimizer's scale, objective,
        gradient, Hessian, messages).

        A random-effects SD that ends near 0 may be a local optimum that the log scale
        cannot leave (the gradient vanishes there): when the objective is lower with
        that SD at 0.03, 0.1, 0.3 or 1, the fit is repeated from there and the better
        of the two is kept.
        """
        control = dict(control or {})
        maxit = int(control.pop("maxit", 1000))
        if control:
            raise ValueError(f"unknown control option(s) {sorted(control)}; glmmtmb takes 'maxit'")
        x0 = self.to_opt(self.start() if start is None else self._check_start(start))
        if not np.isfinite(self.objective_z(x0)):
            raise PymerDataError("the model cannot be evaluated at its starting values (check the "
                                 "response against the family and link)")
        first = self._search(x0, maxit)
        best = None
        small = [j for j in self._logged if first[0][j] < np.log(1e-4)]
        if small:
            # refit only when some SD in (0, 1] already beats the boundary fit
            for sd in (0.03, 0.1, 0.3, 1.0):
                x1 = first[0].copy()
                x1[small] = np.log(sd)
                if self.objective_z(x1) < first[1]:
                    second = self._search(x1, maxit)
                    if first[2].success and second[1] < first[1] - 1e-6 * abs(first[1]):
                        # clearly better than the converged boundary fit: only this one
                        # needs the Newton polish and the Hessian
                        best = self._polish(*second)
                    else:
                        best = self._polish(*first)
                        other = self._polish(*second)
                        if other[1] < best[1] - 1e-9 * abs(best[1]):
                            best = other
                    break
        if best is None:
            best = self._polish(*first)
        self.objective_z(best[0])
        return best

    def _opt_scale(self):
        """Per-parameter scale of the quasi-Newton search: a coefficient of a covariate on
        a large scale (root mean square > 1, e.g. heights ~460) is searched per unit of
        it, so that its first step does not overflow the linear predictor."""
        s = np.ones(self.npar)
        for sl, X in zip(self._slices[:3], (None if self.REML else self.X, self.Xzi, self.Xd)):
            if X is not None and X.shape[1]:
                s[sl] = np.maximum(1.0, np.sqrt(np.mean(np.square(X), axis=0)))
        return s

    def _search(self, x0, maxit):
        """L-BFGS-B from `x0`: (x on the optimizer's scale, objective there, scipy's result)."""
        scale = self._opt_scale()

        def fg(y):
            f, g = self.gradient(y / scale)
            if not math.isfinite(f):
                return 1e300, np.zeros_like(y)
            return f, g / scale

        res = sopt.minimize(fg, x0 * scale, jac=True, method="L-BFGS-B",
                            options={"maxiter": maxit, "ftol": FTOL, "gtol": GTOL, "maxcor": 20})
        x = res.x / scale
        return x, self.objective_z(x), res

    def _polish(self, x, f, res):
        """Newton steps on the Hessian from the search's end; (x, objective, gradient,
        Hessian, messages)."""
        messages = [] if res.success else [f"optimizer: {res.message}"]
        # Newton polish on the Hessian (also the standard errors')
        g, H = self.derivatives(x)
        for _ in range(4):
            try:
                step = np.linalg.solve(H, g)
            except np.linalg.LinAlgError:
                break
            t, improved = 1.0, False
            if 0.0 <= 0.5 * float(g @ step) < 1e-14 * (1.0 + abs(f)):
                # the quadratic model's whole decrease is far below the 1e-12 relative
                # a step must gain: at the optimum already (no halvings to try)
                break
            for _h in range(10):
                xn = x - t * step
                fn = self.objective_z(xn)
                if fn < f - 1e-12 * abs(f):
                    improved = True
                    break
                t *= 0.5
            if not improved:
                break
            done = f - fn < 1e-7 * (1 + abs(f))
            x, f = xn, fn
            if done:
                # so small a step leaves the Hessian (the standard errors') as it was
                break
            g, H = self.derivatives(x)
        if messages and "ABNORMAL" in str(res.message) and _at_optimum(f, g, H):
            # L-BFGS-B's line search stalls on an objective flat to rounding at its optimum;
            # the polished point's Newton decrement says nothing is left to gain
            messages = []
        return x, f, g, H, messages

    def derivatives(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gradient and Hessian on the optimizer's scale: the Hessian by central
        differences of the compiled gradient (2 npar gradients, as glmmTMB's
        sdreport/optimHess), or where that does not apply of the objective."""
        x = np.asarray(x, dtype=np.float64)
        if self._analytic:
            g = self.gradient(x)[1]
            u0 = self._u_warm

            def grad(z):
                self._u_warm = u0
                return self.gradient(z)[1]

            # central differences of the gradient (numdiff.richardson_jacobian's r=1 steps),
            # each from the mode at x
            h = _fd_steps(x, 1e-4)
            J = np.empty((x.shape[0], x.shape[0]))
            for i in range(x.shape[0]):
                e = np.zeros_like(x)
                e[i] = h[i]
                J[:, i] = (grad(x + e) - grad(x - e)) / (2 * h[i])
            self._u_warm = u0
            return g, 0.5 * (J + J.T)
        self.objective_z(x)
        u0 = self._u_warm

        def fun(z):
            self._u_warm = u0
            return self.objective_z(z)

        g, H = finite_diff_derivs(fun, x, delta=1e-4)
        self._u_warm = u0
        self.objective_z(x)
        return g, H

    def _check_start(self, start):
        s = np.asarray(start, dtype=np.float64).ravel()
        if s.shape[0] != self.npar or not np.all(np.isfinite(s)):
            raise ValueError(f"start must have {self.npar} finite values (beta, betazi, betad, theta"
                             f"{', psi' if self.n_extra else ''}), got {s.shape[0]}")
        return s


def glmmtmb(formula: str, data: Any, family: str | TMBFamily = "gaussian", ziformula: str = "~0",
            dispformula: str = "~1", REML: bool = False, weights: str | ArrayLike | None = None,
            offset: str | ArrayLike | None = None, start: ArrayLike | None = None,
            control: dict | None = None) -> TMBResult:
    """Fit a generalized linear mixed model with glmmTMB's families, zero inflation
    and dispersion models, as R's ``glmmTMB::glmmTMB()`` does.

    Parameters
    ----------
    formula : str
        Conditional model in lme4's syntax, e.g. ``"y ~ x + (x | site)"``, or without
        random effects (``"count ~ spp + mined"``: plain maximum likelihood); binomial
        families take 0/1, proportions with ``weights=`` (the trials) or
        ``cbind(successes, failures)``.
    data : pandas.DataFrame or dict of arrays
        Never modified.
    family : str or pymer.tmb.TMBFamily
        ``gaussian``, ``binomial``, ``poisson``, ``Gamma``, ``nbinom2``, ``nbinom1``,
        ``truncated_poisson``, ``truncated_nbinom1``, ``truncated_nbinom2``,
        ``beta`` (``beta_family``), ``betabinomial``, ``tweedie``, ``genpois``; another
        link with ``pymer.tmb.family("Gamma", link="log")``.
    ziformula : str
        Fixed effects of the structural-zero probability (logit link): ``"~0"``
        (none), ``"~1"``, ``"~x"``, or ``"~."`` (the conditional fixed part). With a
        truncated family it is the hurdle (zero) model.
    dispformula : str
        Fixed effects of the dispersion parameter (log link), ``"~1"`` by default.
        ``"~0"``: for the gaussian family the residual variance is fixed at
        ``sqrt(.Machine$double.eps)`` (glmmTMB's default ``zero_dispval``), so that the
        random effects carry it; families without dispersion ignore it, the others
        refuse it (as glmmTMB).
    REML : bool
        Restricted likelihood (gaussian family only).
    weights, offset : str or array_like, optional
        A column name or one value per row. Weights multiply each observation's
        log-likelihood (binomial proportions: the numbers of trials).
    start : array_like, optional
        All parameters in the order (beta, zi beta, dispersion beta, theta, tweedie
        psi); theta in lme4's layout of (absolute) covariance factors.
    control : dict, optional
        ``maxit``: the optimizer's iteration limit.

    Returns
    -------
    TMBResult
    """
    call = ModelCall(glmmtmb, formula, data, {"family": family, "ziformula": ziformula,
                                              "dispformula": dispformula, "REML": REML, "weights": weights,
                                              "offset": offset, "control": control})
    cls = next((c for c in MODEL_EXTENSIONS if c.handles(ziformula, dispformula)), TMBModel)
    model = cls(formula, data, family, ziformula, dispformula, REML, weights, offset, call=call)
    return model.fit(start=start, control=control)
