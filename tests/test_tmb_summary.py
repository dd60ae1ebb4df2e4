"""pymer's glmmTMB summary against glmmTMB's printed text: from the fit statistics on,
line by line, words equal and numbers equal to the digits printed (a last-digit
difference allowed where the estimate agrees only to glmmTMB's tolerance)."""
import re

import numpy as np
import pytest

from tmbdata import REF, fit

NUM = re.compile(r"^[-<]?\d[\d.e+-]*$")


def _body(lines):
    i = next(j for j, ln in enumerate(lines) if ln.strip().startswith("AIC"))
    return [ln.replace("\u2018", "'").replace("\u2019", "'") for ln in lines[i:]]


def _same(a, b):
    if a == b:
        return True
    if NUM.match(a) and NUM.match(b) and not a.startswith("<"):
        x, y = float(a), float(b)
        dec = len(b.split(".")[1]) if "." in b and "e" not in b else 0
        return abs(x - y) <= max(1.01 * 10.0 ** -dec, 2e-3 * abs(y))
    return False


@pytest.mark.parametrize("mid", ["sites_nbinom2", "sleep_gaussian_reml", "sal_zinb2_cov", "owls_gamma_log",
                                 "sal_nbinom2_disp", "sal_tweedie", "grouse_nbinom2_crossed",
                                 "cbpp_binomial_weights"])
def test_summary_as_glmmTMB_prints_it(mid):
    mine = fit(mid).summary().splitlines()
    ref = REF[mid]["summary"]
    assert mine[0] == ref[0]                     # " Family: nbinom2  ( log )"
    a, b = _body(mine), _body(ref)
    assert len(a) == len(b), "\n".join(a)
    for x, y in zip(a, b):
        tx, ty = x.split(), y.split()
        assert len(tx) == len(ty), (x, y)
        assert all(_same(p, q) for p, q in zip(tx, ty)), (x, y)
        # the layout too: the columns line up where glmmTMB's do
        assert abs(len(x.rstrip()) - len(y.rstrip())) <= 1, (x, y)


def test_summary_blocks_and_dispersion_line():
    text = fit("sites_nbinom2").summary()
    assert "Dispersion parameter for nbinom2 family (): 5.12 " in text
    assert "Zero-inflation model:" not in text
    zi = fit("sal_zinb2_cov").summary()
    assert "Zero inflation:          ~mined" in zi and "Zero-inflation model:" in zi
    disp = fit("sal_nbinom2_disp").summary()
    assert "Dispersion model:" in disp and "Dispersion parameter" not in disp
    assert "Dispersion estimate for gaussian family (sigma^2):  655 " in fit("sleep_gaussian_reml").summary()
    assert str(fit("sites_nbinom2")) == text
    assert np.isfinite(fit("sites_nbinom2").coef_table("cond").to_numpy()).all()
