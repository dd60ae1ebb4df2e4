"""glmmTMB's families: names, default and allowed links, the meaning of the
dispersion parameter phi (exp of the dispersion model's linear predictor), the
response each family accepts, and the moments used for residuals and simulation.

Parameterizations (``?glmmTMB::nbinom2``, ``?glmmTMB::sigma.glmmTMB``):

========================  ============================  =====================
family                    variance                      sigma() reports
========================  ============================  =====================
gaussian                  phi                           sqrt(phi)
Gamma                     mu^2 / phi   (phi = shape)    1 / sqrt(phi)
nbinom2                   mu (1 + mu / phi)             phi
nbinom1                   mu (1 + phi)                  phi
beta                      mu (1 - mu) / (1 + phi)       phi
betabinomial              n mu (1 - mu) (n + phi) / (1 + phi)    phi
tweedie                   phi mu^power, 1 < power < 2   phi
genpois                   mu phi                        phi
========================  ============================  =====================
"""
from __future__ import annotations

from typing import Any
from numpy.typing import ArrayLike
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from ..errors import PymerDataError
from ..families import LINKS

# compiled family codes (pymer/_core/_tmb.pxd)
_CODES = {"gaussian": 0, "binomial": 1, "poisson": 2, "Gamma": 3, "nbinom2": 4, "nbinom1": 5,
          "beta": 6, "betabinomial": 7, "tweedie": 8, "genpois": 9}
_BASE = {"truncated_poisson": "poisson", "truncated_nbinom1": "nbinom1",
         "truncated_nbinom2": "nbinom2", "beta_family": "beta"}
_DEFAULT_LINK = {"gaussian": "identity", "binomial": "logit", "poisson": "log", "Gamma": "inverse",
                 "nbinom2": "log", "nbinom1": "log", "beta": "logit", "betabinomial": "logit",
                 "tweedie": "log", "genpois": "log"}
_ALLOWED = {"gaussian": ("identity", "log", "inverse"),
            "binomial": ("logit", "probit", "cloglog"),
            "poisson": ("log", "identity", "sqrt"),
            "Gamma": ("inverse", "log", "identity"),
            "nbinom2": ("log",), "nbinom1": ("log",), "genpois": ("log",), "tweedie": ("log",),
            "beta": ("logit", "probit", "cloglog"), "betabinomial": ("logit", "probit", "cloglog")}
FAMILY_NAMES = tuple(list(_CODES) + [k for k in _BASE if k != "beta_family"])
_NO_DISPERSION = ("binomial", "poisson")
# families whose response has no zeros to inflate
_NO_ZEROS = ("Gamma", "beta")
# glmmTMB's zero_dispval: the gaussian variance that dispformula '~0' fixes
ZERO_DISPERSION = float(np.sqrt(np.finfo(float).eps))


@dataclass(frozen=True)
class TMBFamily:
    """A glmmTMB family and its link, as ``glmmTMB::nbinom2(link = "log")``.

    Parameters
    ----------
    name : str
        glmmTMB's name: ``gaussian``, ``binomial``, ``poisson``, ``Gamma``, ``nbinom2``,
        ``nbinom1``, ``truncated_poisson``, ``truncated_nbinom1``, ``truncated_nbinom2``,
        ``beta`` (glmmTMB's ``beta_family()``), ``betabinomial``, ``tweedie``, ``genpois``.
    link : str, optional
        The family's default link when omitted.
    """

    name: str
    link: str

    @property
    def base(self) -> str:
        """The untruncated family."""
        return _BASE.get(self.name, self.name)

    @property
    def truncated(self) -> bool:
        return self.name.startswith("truncated_")

    @property
    def code(self) -> int:
        return _CODES[self.base]

    @property
    def link_code(self) -> int:
        return LINKS[self.link].code

    @property
    def has_dispersion(self) -> bool:
        return self.base not in _NO_DISPERSION

    @property
    def counts(self) -> bool:
        """Integer responses (counts, or successes out of trials)."""
        return self.base in ("binomial", "poisson", "nbinom2", "nbinom1", "betabinomial", "genpois")

    @property
    def binomial_like(self) -> bool:
        return self.base in ("binomial", "betabinomial")

    def linkfun(self, mu: ArrayLike) -> np.ndarray:
        mu = np.asarray(mu, dtype=np.float64)
        return {"log": np.log, "logit": special.logit, "identity": lambda m: m,
                "inverse": lambda m: 1.0 / m, "probit": stats.norm.ppf,
                "cloglog": lambda m: np.log(-np.log1p(-m)), "sqrt": np.sqrt}[self.link](mu)

    def linkinv(self, eta: ArrayLike) -> np.ndarray:
        eta = np.asarray(eta, dtype=np.float64)
        return {"log": np.exp, "logit": special.expit, "identity": lambda e: e,
                "inverse": lambda e: 1.0 / e, "probit": stats.norm.cdf,
                "cloglog": lambda e: -np.expm1(-np.exp(e)), "sqrt": np.square}[self.link](eta)

    def sigma(self, phi: ArrayLike) -> np.ndarray:
        """glmmTMB's ``sigma()`` from phi."""
        phi = np.asarray(phi, dtype=np.float64)
        if self.base == "gaussian":
            return np.sqrt(phi)
        if self.base == "Gamma":
            return 1.0 / np.sqrt(phi)
        if not self.has_dispersion:
            return np.ones_like(phi)
        return phi

    def variance(self, mu: np.ndarray, phi: np.ndarray | float, size: np.ndarray | float = 1.0,
                 power: float = 1.5) -> np.ndarray:
        """Conditional variance of the untruncated family (of counts out of ``size``
        for the binomial families)."""
        b = self.base
        if b == "gaussian":
            return phi * np.ones_like(mu)
        if b == "poisson":
            return mu
        if b == "binomial":
            return size * mu * (1 - mu)
        if b == "nbinom2":
            return mu * (1 + mu / phi)
        if b == "nbinom1":
            return mu * (1 + phi)
        if b == "Gamma":
            return mu * mu / phi
        if b == "beta":
            return mu * (1 - mu) / (1 + phi)
        if b == "betabinomial":
            return size * mu * (1 - mu) * (size + phi) / (1 + phi)
        if b == "tweedie":
            return phi * mu ** power
        if b == "genpois":
            return mu * phi
        raise ValueError(b)

    def pearson_variance(self, mu: np.ndarray, phi: np.ndarray | float, size: np.ndarray | float = 1.0,
                         power: float = 1.5) -> np.ndarray:
        """The variance glmmTMB's Pearson residuals divide by: the family's variance
        function as glmmTMB defines it, which leaves out the dispersion of the gaussian
        (1), Gamma (mu^2), beta (mu (1 - mu)) and betabinomial (binomial) families."""
        b = self.base
        if b == "gaussian":
            return np.ones_like(mu)
        if b == "Gamma":
            return mu * mu
        if b in ("beta", "betabinomial", "binomial"):
            return mu * (1 - mu) * (size if b != "beta" else 1.0)
        return self.variance(mu, phi, size, power)

    def __str__(self):
        return f"{self.name}({self.link})"


def family(name: str | TMBFamily, link: str | None = None) -> TMBFamily:
    """A glmmTMB family by name (``"nbinom2"``, ``"beta"``, ...), with its link.

    Parameters
    ----------
    name : str or TMBFamily
    link : str, optional

    Returns
    -------
    TMBFamily
    """
    if isinstance(name, TMBFamily):
        if link is not None and link != name.link:
            return family(name.name, link)
        return name
    if not isinstance(name, str):
        raise TypeError(f"family must be a glmmTMB family name or pymer.tmb.family(...), not "
                        f"{type(name).__name__}")
    canon = "beta" if name == "beta_family" else name
    if canon not in FAMILY_NAMES:
        raise ValueError(f"unknown glmmTMB family {name!r}; available: "
                         + ", ".join(repr(x) for x in FAMILY_NAMES))
    base = _BASE.get(canon, canon)
    link = _DEFAULT_LINK[base] if link is None else link
    if link not in _ALLOWED[base]:
        raise ValueError(f"link {link!r} is not available for the {canon} family; available: "
                         + ", ".join(repr(x) for x in _ALLOWED[base]))
    return TMBFamily(canon, link)


def check_response(fam: TMBFamily, y: ArrayLike, size: Any, name: str, has_zi: bool) -> None:
    """The response as the family reads it, with a message naming the culprit."""
    y = np.asarray(y, dtype=np.float64)
    b = fam.base

    def bad(mask, what):
        i = int(np.flatnonzero(mask)[0])
        raise PymerDataError(f"response '{name}' {what} for the {fam.name} family "
                             f"({int(mask.sum())} values; the first is {y[i]:g} at row {i + 1})")

    if b in ("Gamma",):
        if (y <= 0).any():
            bad(y <= 0, "must be > 0")
    elif b == "beta":
        if ((y <= 0) | (y >= 1)).any():
            bad((y <= 0) | (y >= 1), "must be strictly between 0 and 1")
    elif b != "gaussian":
        if (y < 0).any():
            bad(y < 0, "must be >= 0")
    if fam.counts and (np.abs(y - np.round(y)) > 1e-8).any():
        bad(np.abs(y - np.round(y)) > 1e-8, "must be whole numbers (counts)")
    if fam.binomial_like and (y > size + 1e-8).any():
        bad(y > size + 1e-8, "has more successes than trials")
    if fam.truncated and not has_zi and (y == 0).any():
        bad(y == 0, "has zeros, which a truncated family cannot give without a ziformula "
                    "(a hurdle model needs ziformula, e.g. '~1')")
