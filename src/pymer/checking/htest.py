"""A test result printed as R prints an ``htest`` (``print.htest``)."""
from __future__ import annotations

from numpy.typing import ArrayLike
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..report.rformat import format_pvalues, format_real

_ALT_WORDS = {"two.sided": "not equal to", "greater": "greater than", "less": "less than"}


@dataclass
class HTest:
    """The result of a residual test.

    Attributes
    ----------
    statistic : float
        The test statistic, named by ``statistic_name``.
    p_value : float
    alternative : str
        ``"two.sided"``, ``"greater"`` or ``"less"``.
    method : str
        What was tested, and how.
    data_name : str
    statistic_name : str
    parameter : dict
        Named parameters of the null distribution (degrees of freedom, sizes).
    estimate : dict
        Named estimates (printed under "sample estimates").
    null_value : dict
        A named value of the null hypothesis (then the alternative reads
        "true <name> is not equal to <value>").
    table : pandas.DataFrame, optional
        Per-quantile or per-group details of tests made of several parts.
    alternative_text : str, optional
        The alternative in words, where R's test prints it so.
    """

    statistic: float
    p_value: float
    alternative: str
    method: str
    data_name: str = "simulated residuals"
    statistic_name: str = "statistic"
    parameter: dict = field(default_factory=dict)
    estimate: dict = field(default_factory=dict)
    null_value: dict = field(default_factory=dict)
    table: pd.DataFrame | None = None
    alternative_text: str | None = None

    def __repr__(self) -> str:
        # print.htest: statistics with digits - 2 = 5 significant digits, p-values as
        # format.pval with digits - 3 = 4, estimates as print() with 7
        lines = ["", "\t" + self.method, "", f"data:  {self.data_name}"]
        parts = [f"{self.statistic_name} = {_fmt(self.statistic, 5)}"]
        parts += [f"{k} = {_fmt(v, 5)}" for k, v in self.parameter.items()]
        fp = format_pvalues([self.p_value], 4)[0]
        parts.append("p-value " + (fp if fp.startswith("<") else "= " + fp))
        lines.append(", ".join(parts))
        if self.alternative_text:
            lines.append(f"alternative hypothesis: {self.alternative_text}")
        elif self.null_value:
            (name, value), = self.null_value.items()
            lines.append(f"alternative hypothesis: true {name} is {_ALT_WORDS[self.alternative]} "
                         f"{_fmt(value, 7)}")
        else:
            lines.append(f"alternative hypothesis: {self.alternative}")
        if self.estimate:
            lines.append("sample estimates:")
            names = list(self.estimate)
            vals = [x.strip() for x in format_real(list(self.estimate.values()), 7)]
            w = [max(len(a), len(b)) for a, b in zip(names, vals)]
            lines.append(" ".join(a.rjust(k) for a, k in zip(names, w)))
            lines.append(" ".join(b.rjust(k) for b, k in zip(vals, w)))
        if self.table is not None:
            lines += ["", self.table.to_string()]
        return "\n".join(lines) + "\n"

    def _repr_html_(self) -> str:
        import html
        return "<pre>" + html.escape(repr(self)) + "</pre>"


def _fmt(x, digits):
    x = float(x)
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return format_real([x], digits)[0].strip()


def simulation_p_value(observed: float, simulated: ArrayLike, alternative: str) -> float:
    """p-value of an observed summary against its simulated distribution.

    "greater": the fraction of simulated values >= observed; "less": the fraction
    <= observed; "two.sided": twice the smaller of the two, at most 1.
    """
    simulated = np.asarray(simulated, dtype=np.float64)
    p_greater = float(np.mean(simulated >= observed))
    p_less = float(np.mean(simulated <= observed))
    if alternative == "greater":
        return p_greater
    if alternative == "less":
        return p_less
    return min(1.0, 2.0 * min(p_greater, p_less))


def check_alternative(alternative: str) -> str:
    if alternative not in _ALT_WORDS:
        raise ValueError(f"alternative must be 'two.sided', 'greater' or 'less', not {alternative!r}")
    return alternative
