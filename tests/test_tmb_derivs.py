"""The closed-form higher derivatives of one observation's log-density (_tmb_obs.pyx)
against central differences of the compiled density itself (_tmb.pyx's obs_loglik):
the third derivative in eta for every family, link, truncation and zero inflation, the
log-dispersion partials of the families that have them written out, the zero-inflation
predictor's at zeros and the tweedie power's (the series W differentiated)."""
import numpy as np
import pytest
from scipy.special import expit

import pymer.tmb
from pymer._core._tmb import obs_loglik
from pymer._core._tmb_obs import obs_partials_py
from pymer.families import LINKS

# (family, link, y, N, eta, phi): counts small and large (the finite sums and the special
# functions), zeros, proportions
CASES = [
    ("gaussian", "identity", [0.3, -2.0], 1, [0.5, -1.0], 0.7),
    ("gaussian", "log", [1.3, 4.0], 1, [0.2, 1.1], 1.7),
    ("binomial", "logit", [0, 2, 5], 5, [0.3, -1.2, 2.0], 1.0),
    ("binomial", "probit", [0, 2, 5], 5, [0.3, -1.2, 1.0], 1.0),
    ("binomial", "cloglog", [0, 2, 5], 5, [0.3, -1.2, 0.5], 1.0),
    ("poisson", "log", [0, 3, 40], 1, [0.1, 1.2, 3.5], 1.0),
    ("poisson", "sqrt", [0, 3, 40], 1, [0.8, 1.2, 5.5], 1.0),
    ("Gamma", "inverse", [0.4, 2.5], 1, [0.8, 0.5], 2.5),
    ("Gamma", "log", [0.4, 2.5], 1, [0.1, 0.7], 0.6),
    ("nbinom2", "log", [0, 3, 30.0, 40], 1, [0.1, 1.2, 2.5, 3.5], 1.7),
    ("nbinom1", "log", [0, 3, 30.0, 40], 1, [0.1, 1.2, 2.5, 3.5], 0.8),
    ("beta", "logit", [0.2, 0.75], 1, [-0.5, 0.9], 6.0),
    ("betabinomial", "logit", [0, 3, 7, 30], 30, [-0.5, 0.2, 1.1, 2.0], 4.0),
    ("tweedie", "log", [0, 0.7, 4.0, 31.0], 1, [0.2, -0.3, 1.2, 3.3], 1.3),
    ("genpois", "log", [0, 3, 12], 1, [0.1, 1.2, 2.0], 1.6),
]
WITH_A = {"gaussian", "Gamma", "nbinom1", "nbinom2", "tweedie"}
H = 1e-4
POWER = 1.4


def _ll(fam, trunc, zi, y, N, eta, etaz, phi, power=POWER):
    return obs_loglik(fam.code, LINKS[fam.link].code, trunc, zi, np.atleast_1d(np.float64(y)), N, eta, etaz,
                      phi, power)[:, 0]


def _variants(name):
    """(family, truncated, zero-inflated) forms of a base family."""
    out = [(name, False, False)]
    if name in ("poisson", "nbinom1", "nbinom2"):
        out += [(name, False, True), ("truncated_" + name, True, True)]
    elif name in ("binomial", "betabinomial", "tweedie", "genpois"):
        out.append((name, False, True))
    return out


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_closed_form_partials_match_the_density(case):
    base, link, ys, N, etas, phi = case
    for name, trunc, zi in _variants(base):
        fam = pymer.tmb.family(name, link if name in (base,) else None)
        etaz = -0.4 if zi else 0.0
        for y, eta in zip(ys, etas):
            if trunc and y == 0:
                continue
            e3, apart, zpart, ppart = obs_partials_py(fam.code, LINKS[fam.link].code, trunc, zi, y, N, eta,
                                                      etaz, phi, POWER)
            # d2 = -d^2 l / d eta^2, central differences of it in eta
            hp = H * max(1.0, abs(eta))
            d2p = _ll(fam, trunc, zi, y, N, eta + hp, etaz, phi)[2]
            d2m = _ll(fam, trunc, zi, y, N, eta - hp, etaz, phi)[2]
            want = -(d2p - d2m) / (2 * hp)
            assert e3 == pytest.approx(want, rel=1e-6, abs=1e-8), (name, link, y)
            if zi and not trunc and y == 0:
                # the zero-inflation predictor at a zero
                p = _ll(fam, trunc, zi, y, N, eta, etaz + H, phi)
                m = _ll(fam, trunc, zi, y, N, eta, etaz - H, phi)
                np.testing.assert_allclose(zpart, (p - m) / (2 * H), rtol=1e-6, atol=1e-9,
                                           err_msg=f"{name} {link} zi")
            else:
                assert np.isnan(zpart).all()
            if base == "tweedie":
                # psi, power = 1 + plogis(psi)
                psi = np.log((POWER - 1) / (2 - POWER))
                p = _ll(fam, trunc, zi, y, N, eta, etaz, phi, 1 + expit(psi + H))
                m = _ll(fam, trunc, zi, y, N, eta, etaz, phi, 1 + expit(psi - H))
                np.testing.assert_allclose(ppart, (p - m) / (2 * H), rtol=1e-6, atol=1e-9,
                                           err_msg=f"tweedie psi {y}")
            else:
                assert np.isnan(ppart).all()
            if base not in WITH_A:
                assert np.isnan(apart).all()
                continue
            # log phi: (l, d1, d2) at phi e^{+-h}
            p = _ll(fam, trunc, zi, y, N, eta, etaz, phi * np.exp(H))
            m = _ll(fam, trunc, zi, y, N, eta, etaz, phi * np.exp(-H))
            fd = (p - m) / (2 * H)
            np.testing.assert_allclose(apart, fd, rtol=1e-6, atol=1e-8, err_msg=f"{name} {link} {y}")


def test_truncated_zero_has_no_eta_or_dispersion_terms():
    fam = pymer.tmb.family("truncated_nbinom1")
    e3, apart = obs_partials_py(fam.code, LINKS[fam.link].code, True, True, 0.0, 1.0, 0.7, 0.3, 1.2)[:2]
    assert e3 == 0 and apart == (0, 0, 0)
