"""ggeffects' syntax for focal terms: ``"x"``, ``"x [1, 2, 3]"``, ``"x [meansd]"``,
``"f [a, b]"``, ``"x [2:6]"``, ``"x [2:6 by=2]"``."""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

#: the shortcuts of ggeffects' values_at() (and "all": every observed value)
KEYWORDS = ("meansd", "minmax", "zeromax", "quart", "quart2", "fivenum", "terciles",
            "terciles2", "all")

_TERM = re.compile(r"^\s*([^\s\[\]]+)\s*(?:\[(.*)\])?\s*$")
_RANGE = re.compile(r"^\s*(-?[\d.eE+-]+)\s*:\s*(-?[\d.eE+-]+)\s*(?:by\s*=\s*([\d.eE+-]+))?\s*$")


@dataclass
class FocalTerm:
    """One focal term: the variable's name and what the brackets asked for.

    ``keyword`` is one of :data:`KEYWORDS` or None; ``values`` the listed values
    (strings, converted once the variable's type is known) or None.
    """

    name: str
    keyword: str | None = None
    values: list | None = None


def parse_terms(terms) -> list:
    """Read ggeffects' `terms` (a string or up to three strings) into FocalTerm objects."""
    if isinstance(terms, str):
        terms = [terms]
    if not isinstance(terms, (list, tuple)) or not terms or \
            not all(isinstance(t, str) for t in terms):
        raise TypeError(f"terms must be a string or a list of up to three strings, not {terms!r}")
    if len(terms) > 3:
        raise ValueError(f"at most three focal terms (x, group, facet); got {len(terms)}: {list(terms)}")
    out = [_parse_one(t) for t in terms]
    names = [t.name for t in out]
    if len(set(names)) != len(names):
        raise ValueError(f"a focal term is named twice in {list(terms)}")
    return out


def _parse_one(text: str) -> FocalTerm:
    if text.count("[") != text.count("]") or text.count("[") > 1:
        raise ValueError(f"malformed brackets in term {text!r}; write e.g. 'x [1, 2, 3]' or 'x [meansd]'")
    m = _TERM.match(text)
    if m is None or (("[" in text) and m.group(2) is None):
        raise ValueError(f"cannot read term {text!r}; write e.g. 'x', 'x [1, 2, 3]' or 'f [a, b]'")
    name, inside = m.group(1), m.group(2)
    if inside is None:
        return FocalTerm(name)
    inside = inside.strip()
    if not inside:
        raise ValueError(f"empty brackets in term {text!r}")
    if inside in KEYWORDS:
        return FocalTerm(name, keyword=inside)
    r = _RANGE.match(inside)
    if r is not None:
        try:
            lo, hi = float(r.group(1)), float(r.group(2))
            by = float(r.group(3)) if r.group(3) else 1.0
        except ValueError:
            raise ValueError(f"cannot read the range in term {text!r}") from None
        if by <= 0 or hi < lo:
            raise ValueError(f"the range in term {text!r} must run upwards with a positive step")
        grid = np.arange(lo, hi + by * 1e-9, by)
        return FocalTerm(name, values=[repr(float(v)) for v in grid])
    vals = [v.strip() for v in inside.split(",")]
    if any(not v for v in vals):
        raise ValueError(f"an empty value in the brackets of term {text!r}")
    return FocalTerm(name, values=vals)
