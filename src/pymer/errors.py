"""Every exception and warning class pymer raises: bad formulas, bad data, and the
warnings of a fit (convergence, singular fits, rank deficiency, scales, responses)."""
from __future__ import annotations

from collections.abc import Iterable
import difflib
import sys
import warnings
from types import FrameType

__all__ = ["warn", "FormulaError", "PymerDataError", "MissingColumnError", "ConvergenceWarning",
           "SingularFitWarning", "RankDeficiencyWarning", "PredictorScaleWarning", "PerfectFitWarning",
           "ResponseWarning", "RefitWarning"]


class ConvergenceWarning(UserWarning):
    """The optimizer or lme4's post-fit checks report a convergence problem."""


class SingularFitWarning(UserWarning):
    """The fit is singular (a variance component at its boundary)."""


class RankDeficiencyWarning(UserWarning):
    """Aliased fixed-effect columns were dropped, as lme4 drops them."""


class PredictorScaleWarning(UserWarning):
    """Fixed-effect predictors on very different scales (lme4's check.scaleX)."""


class PerfectFitWarning(UserWarning):
    """The residual variance is essentially zero: the model fits the response exactly."""


class ResponseWarning(UserWarning):
    """A GLMM response that R accepts with a warning (non-integer counts, ...)."""


class FormulaError(ValueError):
    """A model formula that cannot be read: bad syntax, or a term pymer cannot use.

    The message names the offending term (and its position in the formula when
    the problem is syntactic).
    """


class PymerDataError(ValueError):
    """Data that cannot be used for the model: a missing column, a non-numeric
    response, infinite values, no complete rows, new factor levels, ..."""


class MissingColumnError(KeyError, PymerDataError):
    """A variable the formula (or ``weights=``/``offset=``) names is not a column of the data.

    It is both a ``KeyError`` (a name lookup failed) and a :class:`PymerDataError`.
    The message names the column and suggests close names.

    Attributes
    ----------
    column : str
        The name that was looked up.
    suggestions : list of str
        Columns of the data with close names (possibly empty).
    """

    def __init__(self, column: str, available: Iterable[str] = (), *, what: str = "variable") -> None:
        self.column = str(column)
        names = [str(c) for c in available]
        self.suggestions = suggest_names(self.column, names)
        msg = f"{what} '{self.column}' not found in the data"
        if self.suggestions:
            msg += "; did you mean " + " or ".join(f"'{s}'" for s in self.suggestions) + "?"
        elif names:
            shown = ", ".join(f"'{s}'" for s in names[:12])
            more = f", ... ({len(names)} columns)" if len(names) > 12 else ""
            msg += f" (columns: {shown}{more})"
        self.message = msg
        super().__init__(msg)

    def __str__(self) -> str:  # KeyError would repr-quote the message
        return self.message


def suggest_names(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Up to `n` names in `candidates` close to `name` (case-insensitive matches first)."""
    candidates = [str(c) for c in candidates]
    low = name.lower()
    out = [c for c in candidates if c.lower() == low and c != name]
    for c in difflib.get_close_matches(name, candidates, n=n, cutoff=0.6):
        if c not in out and c != name:
            out.append(c)
    if len(out) < n:
        lowmap: dict[str, str] = {}
        for c in candidates:
            lowmap.setdefault(c.lower(), c)
        for c in difflib.get_close_matches(low, list(lowmap), n=n, cutoff=0.6):
            if lowmap[c] not in out and lowmap[c] != name:
                out.append(lowmap[c])
    return out[:n]


class RefitWarning(UserWarning):
    """lme4's message: REML fits were refitted by maximum likelihood to compare likelihoods."""


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` pointing at the first line outside pymer: the caller's line.

    Every warning pymer gives goes through here, so a warning raised deep in a fit
    names the user's ``lmer(...)`` line (script, notebook cell or test), not a pymer file.
    """
    warnings.warn(message, category, stacklevel=_stacklevel())


def _stacklevel() -> int:
    """warnings.warn's stacklevel, seen from warn(), of the first frame outside pymer."""
    level = 2                           # 1 is warn() itself, 2 its caller
    frame: FrameType | None = sys._getframe(2)      # warn()'s caller
    while frame is not None and _in_pymer(frame):
        frame = frame.f_back
        level += 1
    return level


def _in_pymer(frame) -> bool:
    name = frame.f_globals.get("__name__", "")
    return name == "pymer" or name.startswith("pymer.")
