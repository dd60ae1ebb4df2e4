"""Inference for fitted mixed models, one subject per module:

- :mod:`.params`: lme4's variance parameters (names, the sd/cor scale, theta <-> sd/cor),
- :mod:`.lrt`: likelihood-ratio tests, :func:`anova` of nested fits and :func:`drop1`,
- :mod:`.ddf`: Satterthwaite and Kenward-Roger df, :func:`contest`;
  :mod:`.hypotheses`: type I/II/III hypotheses, :func:`anova_ddf`;
  :mod:`.ddf_summary`: lmerTest's summary (:func:`summary_with_ddf`),
- :mod:`.intervals`: :func:`confint` (Wald, profile, bootstrap),
- :mod:`.profile`: likelihood profiles (:func:`pymer.profile`), with the LMM and GLMM
  deviances in :mod:`.profile_lmm` and :mod:`.profile_glmm`,
- :mod:`.bootmer`: the parametric bootstrap (:func:`bootstrap`, lme4's bootMer),
- :mod:`.table`: :class:`AnovaTable`, the table the tests return.

Inference asks a result what it is (``is_linear``, ``has_dispersion``), never its class,
and imports no model or result module. The modules are not named after the functions
they hold (``intervals``, not ``confint``), so ``pymer.inference.confint`` is the function.
"""
from ..numdiff import richardson_hessian, richardson_jacobian
from .bootmer import BootstrapResult, bootstrap
from .ddf import contest, deviance_varpar, vcov_varpar
from .ddf_summary import summary_with_ddf
from .hypotheses import anova_ddf
from .intervals import confint
from .lrt import RefitWarning, anova, drop1
from .params import param_names, sdcor_params
from .profile import Profile
from .table import AnovaTable

__all__ = [
    "anova",
    "drop1",
    "contest",
    "confint",
    "bootstrap",
    "summary_with_ddf",
    "anova_ddf",
    "AnovaTable",
    "BootstrapResult",
    "RefitWarning",
    "Profile",
    "param_names",
    "sdcor_params",
    # where they were before inference/ was split (one place each: numdiff, ddf)
    "richardson_hessian",
    "richardson_jacobian",
    "deviance_varpar",
    "vcov_varpar",
]
