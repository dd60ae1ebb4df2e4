"""Multiplicity adjustments of p-values and simultaneous critical values.

From the methods' published definitions: Tukey's studentized range, Dunnett's
equicorrelated (rho = 1/2) maximum, Scheffe's F projection, Bonferroni, Sidak, Holm,
Benjamini-Hochberg/-Yekutieli, and the single-step maximum of a multivariate normal
or t vector with the contrasts' own correlation (Hothorn, Bretz & Westfall 2008).
The multivariate probabilities come from SciPy's Genz integration (multivariate normal
and t) with a fixed seed; Dunnett's equicorrelated case is a deterministic quadrature
(Gauss-Hermite over the shared normal, Gauss-Legendre over the t's chi scale).
"""
from __future__ import annotations

import numpy as np
from scipy import optimize, special, stats

P_ADJUST = ("holm", "hochberg", "bonferroni", "BH", "BY", "fdr", "none")
METHODS = ("tukey", "dunnettx", "sidak", "scheffe", "mvt") + P_ADJUST
SEED = 20240601
_GH = np.polynomial.hermite_e.hermegauss(80)
_GL = np.polynomial.legendre.leggauss(48)


_CANON = {**{m.lower(): m for m in METHODS}, "fdr": "BH"}


def check_method(adjust: str) -> str:
    """The adjustment's canonical name (case-insensitive; "fdr" is "BH")."""
    key = _CANON.get(str(adjust).lower())
    if key is None:
        raise ValueError(f"adjust={adjust!r}: use one of {', '.join(METHODS)}")
    return key


def _t_sf2(t, df):
    """Two-sided p-values of t statistics (normal when df is infinite)."""
    t = np.abs(np.asarray(t, dtype=np.float64))
    df = np.broadcast_to(np.asarray(df, dtype=np.float64), t.shape)
    return np.where(np.isfinite(df), 2 * stats.t.sf(t, np.where(np.isfinite(df), df, 1.0)),
                    2 * stats.norm.sf(t))


def _chi_nodes(df):
    """Nodes and weights of s = sqrt(chi2_df / df) (for t as a scale mixture of normals)."""
    u = (_GL[0] + 1) / 2
    return np.sqrt(stats.chi2.ppf(u, df) / df), _GL[1] / 2


def _mixture(prob_normal, df):
    """E_s[prob_normal(s)] over s = sqrt(chi2_df/df); prob_normal(1) when df is infinite."""
    if not np.isfinite(df):
        return prob_normal(1.0)
    s, w = _chi_nodes(df)
    return float(sum(wi * prob_normal(si) for si, wi in zip(s, w)))


def _box(R, lower, upper, df, seed=SEED):
    """P(lower <= T <= upper) for T multivariate t (df) or normal (df = inf) with
    correlation R, by Genz's methods with a fixed seed. A singular R (all pairwise
    differences) is nudged to R + 1e-8 I, which SciPy's integrators need."""
    R = np.asarray(R, dtype=np.float64)
    k = R.shape[0]
    if k == 1:
        d = stats.norm if not np.isfinite(df) else stats.t(df)
        return float(d.cdf(upper[0]) - d.cdf(lower[0]))
    R = (R + 1e-8 * np.eye(k)) / (1 + 1e-8)
    lo = np.where(np.isfinite(lower), lower, -1e10)
    hi = np.where(np.isfinite(upper), upper, 1e10)
    if np.isfinite(df):
        # SciPy's randomized QMC for the t: error about 5e-4 with 1e5 points, as mvtnorm's abseps = 1e-3
        dist = stats.multivariate_t(loc=np.zeros(k), shape=R, df=df, seed=seed)
        return float(np.clip(dist.cdf(hi, lower_limit=lo, maxpts=100_000), 0.0, 1.0))
    dist = stats.multivariate_normal(mean=np.zeros(k), cov=R, seed=seed, abseps=1e-3, releps=0)
    return float(np.clip(dist.cdf(hi, lower_limit=lo), 0.0, 1.0))


def pmax(q, R, df=np.inf, alternative="two.sided", seed=SEED):
    """P(max statistic <= q) for a multivariate t (df) or normal (df = inf) vector with
    correlation R: two-sided max |T_i|, 'greater' max T_i, 'less' max -T_i."""
    k = np.asarray(R).shape[0]
    low = np.full(k, -q) if alternative == "two.sided" else np.full(k, -np.inf)
    return _box(R, low, np.full(k, q), df, seed)


def single_step(t, R, df=np.inf, alternative="two.sided", seed=SEED):
    """Single-step adjusted p-values: P(max over the family exceeds the observed)."""
    t = np.asarray(t, dtype=np.float64)
    if alternative == "two.sided":
        stat = np.abs(t)
    elif alternative == "greater":
        stat = t
    else:
        stat = -t
    return np.array([1.0 - pmax(x, R, df, alternative, seed) for x in stat])


def single_step_quantile(level, R, df=np.inf, alternative="two.sided", seed=SEED):
    """The critical value q with P(max <= q) = level (simultaneous intervals)."""
    k = np.asarray(R).shape[0]
    side = 1.0 if alternative != "two.sided" else 2.0
    lo = stats.t.ppf(1 - (1 - level) / side, df) if np.isfinite(df) else stats.norm.ppf(1 - (1 - level) / side)
    hi = (stats.t.ppf(1 - (1 - level) / (side * k), df) if np.isfinite(df)
          else stats.norm.ppf(1 - (1 - level) / (side * k)))
    if hi - lo < 1e-10:
        return float(lo)
    f = lambda q: pmax(q, R, df, alternative, seed) - level      # noqa: E731
    return float(optimize.brentq(f, lo - 1e-6, hi + 1e-6, xtol=1e-5))


def _dunnett_prob(q, m, df):
    """P(max |T_i| <= q) for m t statistics with common correlation 1/2 (Dunnett's
    comparisons with a control, equal sizes): Z_i = (W_i + V)/sqrt(2)."""
    x, w = _GH
    w = w / w.sum()

    def prob(s):
        a = q * s * np.sqrt(2.0)
        inner = special.ndtr(a - x) - special.ndtr(-a - x)
        return float(np.sum(w * inner ** m))

    return _mixture(prob, df)


def _scheffe(t, df, rank):
    F = np.asarray(t, dtype=np.float64) ** 2 / rank
    df = np.asarray(df, dtype=np.float64)
    return np.where(np.isfinite(df), stats.f.sf(F, rank, np.where(np.isfinite(df), df, 1.0)),
                    stats.chi2.sf(F * rank, rank))


def p_adjust(p, method):
    """R's p.adjust for one family."""
    p = np.asarray(p, dtype=np.float64)
    n = p.size
    if method == "none" or n <= 1:
        return p.copy()
    if method == "bonferroni":
        return np.minimum(1.0, n * p)
    if method == "holm":
        o = np.argsort(p, kind="stable")
        adj = np.minimum(1.0, np.maximum.accumulate((n - np.arange(n)) * p[o]))
        out = np.empty(n)
        out[o] = adj
        return out
    if method == "hochberg":
        # decreasing order: the k-th largest p times k, running minimum
        o = np.argsort(p, kind="stable")[::-1]
        adj = np.minimum(1.0, np.minimum.accumulate(np.arange(1, n + 1) * p[o]))
        out = np.empty(n)
        out[o] = adj
        return out
    if method in ("BH", "BY"):
        return stats.false_discovery_control(p, method=method.lower())
    raise ValueError(method)


def adjust_family(t, df, method, *, nmeans=None, rank=None, R=None):
    """Adjusted two-sided p-values of one family of t (or z, df = inf) statistics.

    ``nmeans`` is the number of means compared (Tukey), ``rank`` the rank of the
    contrast family (Scheffe), ``R`` the correlation of the statistics (mvt).
    """
    t = np.asarray(t, dtype=np.float64)
    df = np.broadcast_to(np.asarray(df, dtype=np.float64), t.shape)
    m = t.size
    if method == "tukey":
        return np.minimum(1.0, stats.studentized_range.sf(np.abs(t) * np.sqrt(2), nmeans, df))
    if method == "dunnettx":
        return np.array([1.0 - _dunnett_prob(abs(ti), m, d) for ti, d in zip(t, df)])
    if method == "scheffe":
        return _scheffe(t, df, rank)
    if method == "mvt":
        d = float(np.mean(df)) if np.all(np.isfinite(df)) else np.inf
        return single_step(t, R, d)
    p = _t_sf2(t, df)
    if method == "sidak":
        return 1.0 - (1.0 - p) ** m
    return p_adjust(p, method)
