"""pymer's glmmTMB summary against glmmTMB's printed text: from the fit statistics on,
line by line, words equal and numbers equal to the digits printed (a last-digit
difference allowed where the estimate agrees only to glmmTMB's tolerance)."""
import numpy as np
import pytest

from tmbdata import REF, assert_prints_as, fit


@pytest.mark.parametrize("mid", ["sites_nbinom2", "sleep_gaussian_reml", "sal_zinb2_cov", "owls_gamma_log",
                                 "sal_nbinom2_disp", "sal_tweedie", "grouse_nbinom2_crossed",
                                 "cbpp_binomial_weights"])
def test_summary_as_glmmTMB_prints_it(mid):
    mine = fit(mid).summary().splitlines()
    ref = REF[mid]["summary"]
    assert mine[0] == ref[0]                     # " Family: nbinom2  ( log )"
    # the layout too: the columns line up where glmmTMB's do
    assert_prints_as(mine, ref, layout=True)


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
