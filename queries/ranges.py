"""The values a numeric query parameter may take.

A header may give a parameter a range after its type (`docs/queries.md`):

    -- param: bins INTEGER BETWEEN 1 AND 10000 = 80 -- number of equal-width bins
    -- param: step DOUBLE > 0 AND <= 3600000 = 10 -- rounding step (ms)

`BETWEEN lo AND hi` includes both ends; `>`, `>=`, `<`, `<=` give one bound, two of them joined
by AND give both. For a list type the range holds for each element.

Published query files are never edited, so the versions published before ranges existed get
theirs from KNOWN, keyed by parameter name: a parameter of that name means the same thing in
every query that has it. A range in a header wins over KNOWN. Whatever the range, a DOUBLE
(or DOUBLE[] element) must be finite: NaN and infinities are refused, as the report's options
refuse them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_BETWEEN = re.compile(rf"^BETWEEN\s+(?P<lo>{_NUMBER})\s+AND\s+(?P<hi>{_NUMBER})$", re.I)
_BOUND = re.compile(rf"^(?P<op>>=|<=|>|<)\s*(?P<value>{_NUMBER})$")
# what the header grammar (registry._PARAM) accepts as a range, before it is parsed here
SYNTAX = rf"BETWEEN\s+{_NUMBER}\s+AND\s+{_NUMBER}|(?:>=|<=|>|<)\s*{_NUMBER}(?:\s+AND\s+(?:>=|<=|>|<)\s*{_NUMBER})?"


@dataclass(frozen=True)
class Range:
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # `> low` rather than `>= low`
    high_open: bool = False

    def __str__(self) -> str:
        if self.low is not None and self.high is not None and not (self.low_open or self.high_open):
            return f"between {_num(self.low)} and {_num(self.high)}"
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '>='} {_num(self.low)}")
        if self.high is not None:
            parts.append(f"{'<' if self.high_open else '<='} {_num(self.high)}")
        return " and ".join(parts)

    def holds(self, value: float) -> bool:
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        if self.high is not None and (value > self.high or (self.high_open and value == self.high)):
            return False
        return True


# the ranges of the parameters of the versions published before headers could declare them
MAX_LATENCY_MS = 3_600_000.0  # an hour: the ingest's limit of a plausible latency (docs/schema.md)
KNOWN: dict[str, Range] = {
    "bins": Range(1, 10_000),  # prefill_histogram: one row per bin
    "num": Range(0, 1_000),  # budget_range's linspace: one list of `num` values (0: empty, as numpy's)
    # budget_range lists every multiple of coarse_step between its bounds: a step of 0 never
    # ends, a tiny one makes a list of billions; budgets are ms, a microsecond is fine enough
    "step": Range(0.001, MAX_LATENCY_MS),
    "coarse_step": Range(0.001, MAX_LATENCY_MS),
    "upper_quantile": Range(0, 1),
}


class RangeSyntaxError(ValueError):
    pass


def parse(text: str) -> Range:
    """`BETWEEN 1 AND 10`, `> 0`, `>= 0 AND < 1` as a Range; RangeSyntaxError otherwise."""
    text = " ".join(text.split())
    between = _BETWEEN.match(text)
    if between:
        low, high = float(between.group("lo")), float(between.group("hi"))
        return _checked(Range(low, high), text)
    found = Range()
    for part in re.split(r"\s+AND\s+", text, flags=re.I):
        bound = _BOUND.match(part.strip())
        if not bound:
            raise RangeSyntaxError(f"a range is BETWEEN lo AND hi, or > x, >= x, < x, <= x (two joined by AND), not {text!r}")
        op, value = bound.group("op"), float(bound.group("value"))
        if op.startswith(">"):
            if found.low is not None:
                raise RangeSyntaxError(f"range {text!r} gives two lower bounds")
            found = Range(value, found.high, op == ">", found.high_open)
        else:
            if found.high is not None:
                raise RangeSyntaxError(f"range {text!r} gives two upper bounds")
            found = Range(found.low, value, found.low_open, op == "<")
    return _checked(found, text)


def _checked(found: Range, text: str) -> Range:
    bounds = [b for b in (found.low, found.high) if b is not None]
    if not all(math.isfinite(b) for b in bounds):
        raise RangeSyntaxError(f"range {text!r}: bounds must be finite numbers")
    if found.low is not None and found.high is not None and found.low > found.high:
        raise RangeSyntaxError(f"range {text!r} holds no value")
    return found


def of(param) -> Range | None:
    """The range a parameter's values must be in: its header's, else KNOWN's for its name."""
    declared = getattr(param, "range", None)
    if declared is not None:
        return declared
    return KNOWN.get(param.name) if param.type.rstrip("[]") in ("INTEGER", "DOUBLE") else None


def problem(param, value: Any) -> str | None:
    """Why `value` (already of the parameter's type; None is NULL) does not fit, or None."""
    if value is None:
        return None
    values = value if isinstance(value, list) else [value]
    valid = of(param)
    for item in values:
        if item is None or isinstance(item, bool) or not isinstance(item, (int, float)):
            continue
        if isinstance(item, float) and not math.isfinite(item):
            return f"must be a finite number, got {item!r}"
        if valid is not None and not valid.holds(item):
            return f"must be {valid}, got {_num(item)}"
    return None


def _num(value: float) -> str:
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return repr(float(value))
