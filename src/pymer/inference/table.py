"""The table every test of a mixed model returns: likelihood-ratio tables (anova, drop1)
and F-test tables (lmerTest's anova), printed as R prints them."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
import html

import pandas as pd

from ..report.rformat import format_anova_table

__all__ = ["AnovaTable"]


class AnovaTable:
    """An anova-like table: ``.table`` (DataFrame) printed as R prints it.

    Attributes
    ----------
    table : pandas.DataFrame
    heading : list of str
        Lines printed above the table.
    models : list
        For likelihood-ratio tables, the fitted models compared (after any ML refit),
        in table order.
    """

    def __init__(self, table: pd.DataFrame, heading: Iterable[str] = (), models: Sequence[Any] | None = None) -> None:
        self.table = table
        self.heading = list(heading)
        self.models = models

    def __str__(self):
        return "\n".join(self.heading + format_anova_table(self.table))

    def __repr__(self):
        return self.__str__()

    def _repr_html_(self):
        return f"<pre>{html.escape(str(self))}</pre>"

    def __getitem__(self, key):
        return self.table[key]

    def __len__(self):
        return len(self.table)
