"""GLM families and links, named as R names them, with the codes of the compiled core."""
from __future__ import annotations

from numpy.typing import ArrayLike
import numpy as np
from dataclasses import dataclass
from typing import Any, Callable

from scipy import special

from .errors import PymerDataError

_FAMILY_CODES = {"binomial": 0, "poisson": 1, "Gamma": 2, "inverse.gaussian": 3, "gaussian": 4,
                 "negative.binomial": 5}


@dataclass(frozen=True)
class Link:
    """A link as R's make.link() gives it: g (linkfun), its inverse (linkinv), and the
    code of the compiled core's implementation."""

    name: str
    code: int
    linkfun: Callable[[np.ndarray], np.ndarray]
    linkinv: Callable[[np.ndarray], np.ndarray]


#: Every link pymer knows: the one table families, validation and plots read.
LINKS = {ln.name: ln for ln in (
    Link("logit", 0, special.logit, special.expit),
    Link("probit", 1, special.ndtri, special.ndtr),
    Link("cloglog", 2, lambda mu: np.log(-np.log1p(-mu)), lambda e: -np.expm1(-np.exp(e))),
    Link("cauchit", 3, lambda mu: np.tan(np.pi * (mu - 0.5)), lambda e: 0.5 + np.arctan(e) / np.pi),
    Link("log", 4, np.log, np.exp),
    Link("identity", 5, lambda mu: mu, lambda e: e),
    Link("inverse", 6, lambda mu: 1.0 / mu, lambda e: 1.0 / e),
    Link("sqrt", 7, np.sqrt, np.square),
    Link("1/mu^2", 8, lambda mu: 1.0 / mu ** 2, lambda e: 1.0 / np.sqrt(e)),
)}

#: the links R's make.link() knows, in its order
MAKE_LINK = ("logit", "probit", "cauchit", "cloglog", "identity", "log", "sqrt", "1/mu^2", "inverse")

#: R's families, each with the links it lists (its okLinks in ?family; the first is the default)
FAMILY_LISTED_LINKS = {
    "binomial": ("logit", "probit", "cauchit", "log", "cloglog"),
    "poisson": ("log", "identity", "sqrt"),
    "gaussian": ("identity", "log", "inverse"),
    "Gamma": ("inverse", "identity", "log"),
    "inverse.gaussian": ("1/mu^2", "inverse", "identity", "log"),
    "negative.binomial": ("log", "sqrt", "identity"),
}
#: every link each family accepts: its listed links, then every other link of make.link()
#: (R's family functions accept any of them, e.g. binomial("identity"), gaussian("logit"))
FAMILY_LINKS = {fam: ok + tuple(ln for ln in MAKE_LINK if ln not in ok) for fam, ok in FAMILY_LISTED_LINKS.items()}


def check_link(family: str, link: Any, available: Any = None) -> str:
    """A link the family accepts, with R's message otherwise
    (``link "foo" not available for binomial family; available links are ...``)."""
    avail = FAMILY_LINKS.get(family, ()) if available is None else tuple(available)
    if not isinstance(link, str):
        raise TypeError(f"link must be a name such as 'logit', not {type(link).__name__}")
    if link not in avail:
        raise ValueError(f'link "{link}" not available for {family} family; available links are '
                         + ", ".join(f"'{a}'" for a in avail))
    return link


RESIDUAL_TYPES = ("deviance", "pearson", "working", "response")


def glm_residuals(type: str, y: np.ndarray, mu: np.ndarray, wt: np.ndarray, mu_eta: np.ndarray,
                  variance: np.ndarray, dev_resid: np.ndarray) -> np.ndarray:
    """R's residuals.glm of each type from a family's evaluation at the fit (see
    :meth:`Family.eval`): "deviance", "pearson", "working" or "response"."""
    r = y - mu
    if type == "response":
        return r
    if type == "working":
        return r / mu_eta
    if type == "pearson":
        return r * np.sqrt(wt / variance)
    if type == "deviance":
        return np.sign(r) * np.sqrt(np.maximum(dev_resid, 0.0))
    raise ValueError(f"unknown residual type {type!r}; use 'deviance', 'pearson', 'working' or 'response'")


class Family:
    """A GLM family with its link, as R's ``binomial(link = "probit")``."""

    name = "gaussian"

    def __init__(self, link: str | None = None, theta: float | None = None) -> None:
        self.link = FAMILY_LINKS[self.name][0] if link is None else check_link(self.name, link)
        self.theta = theta

    @property
    def code(self) -> int:
        return _FAMILY_CODES[self.name]

    @property
    def link_code(self) -> int:
        return LINKS[self.link].code

    @property
    def has_dispersion(self) -> bool:
        return self.name in ("Gamma", "inverse.gaussian", "gaussian")

    @property
    def label(self) -> str:
        if self.name == "negative.binomial":
            return f"Negative Binomial({self.theta:.4f})"
        return self.name

    def linkfun(self, mu: ArrayLike) -> np.ndarray:
        """eta = g(mu)."""
        return LINKS[self.link].linkfun(np.asarray(mu, dtype=np.float64))

    def linkinv(self, eta: ArrayLike) -> np.ndarray:
        """mu = g^-1(eta)."""
        return LINKS[self.link].linkinv(np.asarray(eta, dtype=np.float64))

    def initial_mu(self, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """R's family()$initialize starting values of mu."""
        if self.name == "binomial":
            return (weights * y + 0.5) / (weights + 1.0)
        if self.name in ("poisson", "negative.binomial"):
            return y + 0.1
        if self.name == "gaussian" and self.link in ("log", "inverse"):
            # R's gaussian()$initialize: mu starts at y, which the link must map to a
            # finite eta; R stops with "cannot find valid starting values: please specify some"
            bad = (y <= 0) if self.link == "log" else (y == 0)
            if np.any(bad):
                i = int(np.argmax(bad))
                raise PymerDataError(
                    f"cannot find valid starting values: the gaussian family with the {self.link} link "
                    f"starts from mu = y, which needs y {'> 0' if self.link == 'log' else '!= 0'}; "
                    f"the response has {int(bad.sum())} values {'<= 0' if self.link == 'log' else '== 0'} "
                    f"(first at row {i + 1}: {y[i]:g})")
        return np.where(y == 0, 0.1, y) if self.name == "Gamma" else y.astype(float)

    def eval(self, eta: np.ndarray, y: np.ndarray,
             wt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
        """mu, dmu/deta, variance, deviance residuals, -2 log-lik (R's aic) at eta."""
        from ._core._families import family_eval
        return family_eval(self.code, self.link_code, eta, y, wt, self.theta or 1.0)

    def __repr__(self):
        return f"Family: {self.label} ( {self.link} )"


class Binomial(Family):
    name = "binomial"


class Poisson(Family):
    name = "poisson"


class Gamma(Family):
    name = "Gamma"


class InverseGaussian(Family):
    name = "inverse.gaussian"


class Gaussian(Family):
    name = "gaussian"


class NegativeBinomial(Family):
    """Negative binomial with known theta (MASS's negative.binomial(theta))."""

    name = "negative.binomial"

    def __init__(self, theta: float = 1.0, link: str = "log") -> None:
        super().__init__(link=link, theta=float(theta))


_BY_NAME = {"binomial": Binomial, "poisson": Poisson, "gamma": Gamma, "Gamma": Gamma,
            "inverse.gaussian": InverseGaussian, "inverse_gaussian": InverseGaussian,
            "gaussian": Gaussian, "negative.binomial": NegativeBinomial}


def get_family(family: str | Family | type[Family]) -> Family:
    """A Family from a name ("binomial"), a Family class or instance."""
    if isinstance(family, Family):
        return family
    if isinstance(family, type) and issubclass(family, Family):
        return family()
    if isinstance(family, str):
        if family not in _BY_NAME:
            raise ValueError(f"unknown family {family!r}; use one of 'binomial', 'poisson', 'Gamma', "
                             "'inverse.gaussian', 'gaussian' or a pymer.families object")
        return _BY_NAME[family]()
    raise TypeError(f"family must be a name or a pymer.families.Family, not {type(family).__name__}")


def binomial_response(mf: Any, weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """R's binomial response rules: (y as proportions, prior weights = trials x weights)."""
    y = np.asarray(mf.y, dtype=np.float64)
    w = np.ones(y.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    if y.ndim == 2:
        s, f = y[:, 0], y[:, 1]
        if np.any(s < 0) or np.any(f < 0):
            raise PymerDataError(f"negative counts in the binomial response {mf.response_name}")
        m = s + f
        with np.errstate(invalid="ignore", divide="ignore"):
            p = np.where(m > 0, s / np.where(m > 0, m, 1), 0.0)
        return p, m * w
    if np.any((y < 0) | (y > 1)):
        bad = y[(y < 0) | (y > 1)][0]
        raise PymerDataError(f"binomial response '{mf.response_name}' must be in [0, 1] "
                             f"(0/1, proportions with weights=, a two-level factor or cbind(successes, failures)); found {bad:g}")
    return y, w


def _valid(family, eta):
    """R's valideta and validmu: eta and mu inside the link's and the family's domain."""
    if not np.all(np.isfinite(eta)):
        return False
    if family.link in ("logit", "probit", "cloglog", "cauchit") or (family.link == "log" and family.name != "binomial"):
        return True       # any finite eta maps into the domain
    if family.link in ("sqrt", "1/mu^2") and np.any(eta <= 0):
        return False
    if family.link == "inverse" and np.any(eta == 0):
        return False
    mu = family.eval(eta, np.zeros_like(eta), np.ones_like(eta))[0]
    if family.name == "binomial":
        return bool(np.all((mu > 0) & (mu < 1)))
    return family.name == "gaussian" or bool(np.all(mu > 0))


def glm_start(family: Family, X: np.ndarray, y: np.ndarray, w: np.ndarray, offset: np.ndarray, maxit: int = 50,
              mustart: ArrayLike | None = None, etastart: ArrayLike | None = None) -> np.ndarray:
    """Fixed-effects starting values from a plain GLM (IRLS from the family's mustart).

    As R's glm.fit, a step that leaves the valid domain of eta or mu (a
    non-canonical link: sqrt, inverse) is halved back into it. If already the
    first step leaves it, that step is kept (R's glm stops there): going on
    would reach the mirror image of the fit that a sqrt link allows (eta < 0).
    `etastart` (or `mustart`, on the response scale) replaces the family's starting
    values, as in R's glm.fit; they must lie in the family's and the link's domain.
    """
    what: str | None
    if etastart is not None:
        eta = np.asarray(etastart, dtype=np.float64)
        what = "etastart"
    else:
        with np.errstate(all="ignore"):
            eta = family.linkfun(family.initial_mu(y, w) if mustart is None else np.asarray(mustart, float))
        what = "mustart" if mustart is not None else None
    if what is not None and not _valid(family, eta):
        raise PymerDataError(f"cannot find valid starting values: {what} is outside the domain of the "
                             f"{family.name} family with the {family.link} link")
    glm = f"the {family.name}({family.link}) GLM for the fixed-effects start"
    for name, v in (("the fixed-effects design", X), ("the offset", offset)):
        if not np.all(np.isfinite(v)):
            raise PymerDataError(f"{glm}: {name} has non-finite values")
    beta = None
    for _ in range(maxit):
        mu, me, var, dr, _ = family.eval(eta, y, w)
        wk = w * me ** 2 / var
        z = eta - offset + (y - mu) / me
        sw = np.sqrt(wk)
        A, b = X * sw[:, None], z * sw
        # the IRLS has broken down; LAPACK would fail on the NaN/inf (printing its complaints).
        # From the caller's mustart/etastart that is a pymer error; from the family's own
        # start it is LAPACK's error, on which the callers fall back to another start
        if not (np.all(np.isfinite(A)) and np.all(np.isfinite(b))):
            msg = f"{glm} breaks down: its working weights or working response are not finite"
            if what is not None:
                raise PymerDataError(f"{msg} (from the {what} given)")
            raise np.linalg.LinAlgError(msg)
        new, *_ = np.linalg.lstsq(A, b, rcond=None)
        eta_new = X @ new + offset
        if beta is None:
            beta, eta = new, eta_new
            if not _valid(family, eta_new):
                break
            continue
        for _ in range(30):
            if _valid(family, eta_new):
                break
            new = 0.5 * (new + beta)
            eta_new = X @ new + offset
        else:
            break
        done = np.max(np.abs(new - beta)) < 1e-10 * (1 + np.max(np.abs(beta)))
        beta, eta = new, eta_new
        if done:
            break
    assert beta is not None     # maxit >= 1: the first iteration sets it
    return beta
