"""The options of `budgetdb report` (and `budgetdb.report()`), checked when they are made."""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from budgetdb import __version__
from budgetdb.errors import BudgetdbError
from budgetdb.queries import ranges, registry

MAX_RESAMPLES = 20_000  # config_resamples' range
MAX_SEED = 2**31 - 1
# the query whose header declares the latency choices (every version the report pins declares the
# same: tests/test_report_options.py); one file is parsed, not the catalog, to keep start-up fast
LATENCY_QUERY = "config_points.v4.sql"


def _choices(param: str) -> tuple[str, ...]:
    text = resources.files("budgetdb.queries").joinpath(LATENCY_QUERY).read_text("utf-8")
    found = next(p for p in registry.parse(LATENCY_QUERY, text).params if p.name == param)
    return tuple(found.choices or ())


LATENCY_STAGES = _choices("latency_stage")
LATENCY_STATS = _choices("latency_stat")


class ReportOptionsError(BudgetdbError):
    """An option value the report cannot use."""


@dataclass(frozen=True)
class ReportOptions:
    lang: str = "zh"
    hardware: tuple[str, ...] | str | None = ()  # a str is one hardware
    experiments: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    latency_stage: str = "T_total"
    latency_stat: str = "mean"
    step: float = 10.0
    coarse_step: float = 50.0
    num: int = 10
    alpha: tuple[float, float] = (0.1, 0.2)
    # bootstrap resamples behind the intervals, frontier stability and the lookup's ties (0: none,
    # the report without uncertainty), and their seed
    resamples: int = 1000
    seed: int = 0
    # user template folders, searched before the packaged templates
    template_paths: tuple[str, ...] = ()
    # the main template's name (default report.<lang>.md.j2)
    template: str | None = None
    plots_dir: Path | None = None
    # plot links are relative to this folder (the report file's folder; default: the current one)
    link_base: Path | None = None
    # files no plot may overwrite (resolved): the store's own
    protected_paths: frozenset[Path] = frozenset()
    budgetdb_version: str = __version__

    def __post_init__(self):
        hardware = self.hardware
        if hardware is None or isinstance(hardware, str):
            hardware = (hardware,) if hardware else ()
        object.__setattr__(self, "hardware", tuple(hardware))
        object.__setattr__(self, "experiments", tuple(self.experiments))
        object.__setattr__(self, "datasets", tuple(self.datasets))
        from budgetdb.templates import template_name  # here: the CLI imports this module to build its options

        template_name(self.lang)
        if self.latency_stage not in LATENCY_STAGES:
            raise ReportOptionsError(f"unknown latency stage {self.latency_stage!r}; use one of: {', '.join(LATENCY_STAGES)}")
        if self.latency_stat not in LATENCY_STATS:
            raise ReportOptionsError(f"unknown latency statistic {self.latency_stat!r}; use one of: {', '.join(LATENCY_STATS)}")
        for name, kind in (("step", "a number of ms"), ("coarse_step", "a number of ms"), ("num", "a whole number")):
            value = getattr(self, name)  # the same ranges as the queries' parameters of these names
            valid = ranges.KNOWN[name] if name != "num" else ranges.Range(1, ranges.KNOWN["num"].high)  # a list to show
            number = isinstance(value, int) if name == "num" else isinstance(value, (int, float))
            if isinstance(value, bool) or not number or not math.isfinite(value) or not valid.holds(value):
                raise ReportOptionsError(f"--{name.replace('_', '-')} must be {kind} {valid}, got {value!r}")
        _check_alpha(*self.alpha, shown=f"{self.alpha[0]}-{self.alpha[1]}")
        for name, top in (("resamples", MAX_RESAMPLES), ("seed", MAX_SEED)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
                raise ReportOptionsError(f"--{name} must be a whole number between 0 and {top:,}, got {value!r}")

    @property
    def uncertain(self) -> bool:
        return self.resamples > 0


def parse_alpha(text: str) -> tuple[float, float]:
    """`0.1-0.2` -> (0.1, 0.2); `0.15` -> (0.15, 0.15); `~` works as the separator too."""
    parts = text.replace("~", "-").split("-")
    try:
        values = [float(p) for p in parts if p.strip()]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or len([p for p in parts if p.strip()]) != len(parts):
        raise ReportOptionsError(f"--alpha takes LO-HI or one value (e.g. 0.1-0.2), got {text!r}")
    lo, hi = values[0], values[-1]
    _check_alpha(lo, hi, shown=repr(text))
    return lo, hi


def _check_alpha(lo: float, hi: float, *, shown: str) -> None:
    if not (0 <= lo <= hi and math.isfinite(hi)):
        raise ReportOptionsError(f"--alpha must be LO-HI with 0 <= LO <= HI (e.g. 0.1-0.2), got {shown}")
