"""broom.mixed's tidy tables (moved to :mod:`pymer.report.tidy`; this name stays for users)."""
from .report.tidy import *  # noqa: F401,F403
from .report.tidy import __all__  # noqa: F401
