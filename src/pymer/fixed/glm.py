"""Generalized linear models by iteratively reweighted least squares, as R's ``glm()``."""
from __future__ import annotations

from typing import Any, Literal
from numpy.typing import ArrayLike
from ..report.summary import Summary
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import PymerDataError
from ..families import _valid, binomial_response, get_family, glm_residuals
from ..errors import ConvergenceWarning, warn
from ..validate import check_family_object, check_family_response, check_fitted_boundary
from .base import FixedModel, FixedResult, aliased_columns, check_response, fixed_model, wls

EPSILON = 1e-8      # glm.control(): relative change of the deviance
MAXIT = 25


def irls(family: Any, X: np.ndarray, y: np.ndarray, w: np.ndarray, offset: np.ndarray, epsilon: float = EPSILON,
         maxit: int = MAXIT) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, int, bool]:
    """R's glm.fit: IRLS from the family's starting values, step halving into the valid
    region, convergence when |dev - dev_old| / (|dev| + 0.1) < epsilon.

    Returns (beta, Rinv and working weights of the last weighted least squares, eta,
    deviance, iterations, converged).
    """
    mu = family.initial_mu(y, w)
    eta = family.linkfun(mu)
    mu = family.eval(eta, y, w)[0]
    dev_old = float(np.sum(family.eval(eta, y, w)[3]))
    beta_old = None
    converged = False
    it = 0
    for it in range(1, maxit + 1):
        mu, me, var, _, _ = family.eval(eta, y, w)
        good = (w > 0) & (me != 0)
        z = eta - offset + (y - mu) / me
        sw = np.zeros_like(y)
        sw[good] = np.sqrt(w[good] * me[good] ** 2 / var[good])
        beta, Rinv = wls(X[good], z[good], sw[good])
        for _ in range(maxit):
            eta_new = X @ beta + offset
            dev = float(np.sum(family.eval(eta_new, y, w)[3]))
            if np.isfinite(dev) and _valid(family, eta_new):
                break
            if beta_old is None:
                raise PymerDataError("no valid set of coefficients has been found: the first IRLS "
                                     f"step leaves the domain of the {family.link} link; supply "
                                     "a different link or check the response")
            beta = 0.5 * (beta + beta_old)
        else:
            raise PymerDataError("inner loop 1; cannot correct step size (glm.fit)")
        eta = eta_new
        if abs(dev - dev_old) / (abs(dev) + 0.1) < epsilon:
            converged = True
            break
        dev_old, beta_old = dev, beta
    return beta, Rinv, sw ** 2, eta, dev, it, converged


class GLMResult(FixedResult):
    """A fitted generalized linear model (R's ``glm``).

    Attributes follow R's accessors: ``coef`` (NaN for aliased columns), ``vcov``,
    ``fitted`` (the mean), ``linear_predictors``, ``deviance``, ``null_deviance``,
    ``dispersion``, ``loglik``, ``aic``, ``bic``, ``df_residual``, ``df_null``,
    ``nobs``, ``iter``, ``converged``; methods ``residuals``, ``predict``, ``summary``.
    """

    def __init__(self, model: FixedModel, family: Any) -> None:
        self.model = model
        self.mf = mf = model.mf
        self.family = family
        if family.name == "binomial":
            y, w = binomial_response(mf, mf.weights)
        else:
            y, w = check_response(mf, "glm"), self.prior_weights
        check_family_response(family.name, y, w, name=mf.response_name)
        self.y, self._w = y, w
        self.keep = aliased_columns(mf.X, mf.fixef_names, np.sqrt(w), tol=1e-11)
        X = mf.X[:, self.keep]
        (self.beta, self.Rinv, self.working_weights, self.linear_predictors, self.deviance,
         self.iter, self.converged) = irls(family, X, y, w, self.offset)
        if not self.converged:
            warn("glm.fit: algorithm did not converge", ConvergenceWarning)
        check_fitted_boundary(family, self.fitted, w)

    @property
    def prior_weights(self) -> np.ndarray:
        """Prior weights (for a binomial cbind() response: the numbers of trials times weights)."""
        if hasattr(self, "_w"):
            return self._w
        return super().prior_weights

    @cached_property
    def _eval(self):
        return self.family.eval(self.linear_predictors, self.y, self._w)

    @property
    def fitted(self) -> np.ndarray:
        """Fitted means (response scale)."""
        return self._eval[0]

    @property
    def is_linear(self) -> bool:
        return self.family.name == "gaussian" and self.family.link == "identity"

    @property
    def has_dispersion(self) -> bool:
        return self.family.has_dispersion

    def residuals(self, type: Literal["deviance", "pearson", "working", "response"] = "deviance") -> np.ndarray:
        """Residuals as R's residuals.glm: ``"deviance"`` (default), ``"pearson"``,
        ``"working"`` or ``"response"``."""
        mu, me, var, dr, _ = self._eval
        return glm_residuals(type, self.y, mu, self._w, me, var, dr)

    @cached_property
    def dispersion(self) -> float:
        """1 for binomial and Poisson; else the Pearson estimate sum(w r_working^2) / df.residual."""
        if not self.family.has_dispersion:
            return 1.0
        ww = self.working_weights
        r = self.residuals("working")
        pos = ww > 0
        return float(np.sum(ww[pos] * r[pos] ** 2) / self.df_residual) if self.df_residual > 0 else np.nan

    @property
    def sigma(self) -> float:
        """sqrt(deviance / df.residual), as R's sigma() of a glm."""
        return float(np.sqrt(self.deviance / self.df_residual))

    @property
    def df(self) -> int:
        """Number of parameters of logLik: coefficients, plus the dispersion where estimated."""
        return self.rank + int(self.family.has_dispersion)

    @property
    def loglik(self) -> float:
        return float(self.df - self._aic_family / 2 - self.rank)

    @cached_property
    def _aic_family(self) -> float:
        return float(self._eval[4])

    @property
    def aic(self) -> float:
        return self._aic_family + 2.0 * self.rank

    @cached_property
    def null_deviance(self) -> float:
        """Deviance of the intercept-only model (with the offset), or of the offset alone."""
        y, w, off = self.y, self._w, self.offset
        if not self.has_intercept:
            return float(np.sum(self.family.eval(off, y, w)[3]))
        if not np.any(off):
            mu0 = np.sum(w * y) / np.sum(w)
            eta0 = np.full_like(y, float(self.family.linkfun(mu0)))
            return float(np.sum(self.family.eval(eta0, y, w)[3]))
        return float(irls(self.family, np.ones((len(y), 1)), y, w, off)[4])

    @property
    def df_null(self) -> int:
        return self.nobs - int(self.has_intercept)

    @cached_property
    def coef_table(self) -> pd.DataFrame:
        """Estimate, Std. Error, z or t value and p-value (t with an estimated dispersion)."""
        se = np.full(len(self.coef), np.nan)
        se[self.keep] = np.sqrt(np.diag(self.vcov.to_numpy()))
        est = self.coef.to_numpy()
        stat = est / se
        if self.family.has_dispersion:
            names, p = ("t value", "Pr(>|t|)"), 2 * stats.t.sf(np.abs(stat), self.df_residual)
        else:
            names, p = ("z value", "Pr(>|z|)"), 2 * stats.norm.sf(np.abs(stat))
        return pd.DataFrame({"Estimate": est, "Std. Error": se, names[0]: stat, names[1]: p},
                            index=self.coef_names)

    def predict(self, newdata: Any = None, type: Literal["link", "response"] = "link",
                se_fit: bool = False) -> np.ndarray | pd.DataFrame:
        """Predictions, as R's predict.glm.

        Parameters
        ----------
        newdata : DataFrame, optional
            New rows (default: the fitted data); rows with a missing value predict NaN.
        type : {"link", "response"}
        se_fit : bool
            Return a DataFrame with ``fit`` and ``se_fit`` (on the response scale by
            the delta method for ``type="response"``).
        """
        if type not in ("link", "response"):
            raise ValueError(f"type must be 'link' or 'response', not {type!r}")
        eta, se = self._link_prediction(newdata)
        if type == "response":
            ok = np.isfinite(eta)
            mu = np.full_like(eta, np.nan)
            me = np.full_like(eta, np.nan)
            ev = self.family.eval(eta[ok], np.zeros(ok.sum()), np.ones(ok.sum()))
            mu[ok], me[ok] = ev[0], ev[1]
            fit, se = mu, se * np.abs(me)
        else:
            fit = eta
        if not se_fit:
            return fit
        return pd.DataFrame({"fit": fit, "se_fit": se})

    def summary(self) -> Summary:
        """R's summary.glm, printed as R 4.2 prints it."""
        from .summary import glm_summary
        return glm_summary(self)


def glm(formula: str, data: Any, family: Any = "gaussian", weights: str | ArrayLike | None = None,
        offset: str | ArrayLike | None = None) -> GLMResult:
    """Fit a generalized linear model, as R's ``glm()`` (IRLS, R's glm.fit convergence rule).

    Parameters
    ----------
    formula : str
        ``"y ~ x + f"``; binomial responses as 0/1, a two-level factor, proportions
        with ``weights=`` or ``cbind(successes, failures)``.
    data : pandas.DataFrame or dict of arrays
        Never modified.
    family : str or pymer.families.Family
        ``"gaussian"`` (default), ``"binomial"``, ``"poisson"``, ``"Gamma"``,
        ``"inverse.gaussian"`` or a family object with a link
        (``pymer.families.Binomial(link="probit")``).
    weights, offset : str or array_like, optional
        Prior weights and an offset: a column name or one value per row.

    Returns
    -------
    GLMResult
    """
    fam = get_family(family)
    check_family_object(fam)
    if fam.name == "negative.binomial":
        raise ValueError("glm() takes the families of R's glm; for the negative binomial use "
                         "pymer.glmer_nb")
    return GLMResult(fixed_model(glm, formula, data, weights, offset, family=fam), fam)
