"""Plots of fitted models (moved to :mod:`pymer.report.plots`; this name stays for users)."""
from .report.plots import *  # noqa: F401,F403
from .report.plots import __all__  # noqa: F401
