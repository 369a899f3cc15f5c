"""The numpy step of config_resamples@v1: each config run's accuracy and latency statistic in every
bootstrap resample, from the samples its SQL (config_resamples.v1.sql) selects.

Published like a query file: never edited (checksums.txt), its sha256 in `budgetdb query list` and
in the report's footer. It imports numpy only, so that sha256 covers everything it does.

Resample r weights every example e by w_r(e) ~ Poisson(1), drawn from (seed, r, example key) alone:

    z(x)    = the SplitMix64 finalizer (x ^= x >> 30; x *= 0xbf58476d1ce4e5b9; x ^= x >> 27;
              x *= 0x94d049bb133111eb; x ^= x >> 31), on unsigned 64-bit integers
    s(e)    = z(z(seed) XOR key(e))                  key(e): the example key as 64-bit two's complement
    u_r(e)  = z(s(e) + (r + 1) * 0x9e3779b97f4a7c15)  the (r+1)-th output of SplitMix64 from state s(e)
    w_r(e)  = the smallest k with u_r(e) < T_k, T_k = floor(2^64 * P(Poisson(1) <= k)) (POISSON_1; 20 when none)

so every config of a hardware and dataset sees the same resample (paired), and the same store and
options give the same weights on any machine. A config's statistic in resample r is the statistic
of its samples repeated w_r(e) times each: the weighted mean of the accuracy; the weighted mean of
the latency, or its quantile_cont (linear interpolation, as DuckDB's: RN = (N - 1) * q, the
elements at 0-based positions floor(RN) and ceil(RN) of the expanded sorted sample, lo * (1 - d) + hi * d).

Every figure is exact, hence the same whatever order the sums run in (BLAS threads): the weighted
sums are matrix products of integers (the weights, and the values scaled by 2^k and rounded, k as
large as keeps every partial sum an integer below 2^51, which float64 holds exactly: each value
moves by at most 2^-(k+1), k = 31 for accuracies in [0, 1] and 22 for latencies below 700 ms at
20,000 examples a config); a weighted quantile finds its positions by integer running sums of the
weights of the sorted values, over a band around the unweighted quantile's rank (6 standard
deviations of that rank on each side) and over all values for the resamples whose positions fall
outside it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

PARAMS = ("resamples", "seed", "latency_stat")
COLUMNS = (("config_run_id", "BIGINT"), ("r", "INTEGER"), ("accuracy", "DOUBLE"), ("latency", "DOUBLE"), ("n", "BIGINT"))

# floor(2^64 * P(Poisson(1) <= k)) for k = 0..19, from exact rational arithmetic (e^-1 as its series);
# P(Poisson(1) > 19) < 2^-64
POISSON_1 = np.array(
    [
        0x5E2D58D8B3BCDF1A, 0xBC5AB1B16779BE35, 0xEB715E1DC1582DC2, 0xFB23979734A252F1, 0xFF1025F59174DC3D,
        0xFFD90F3BA4055E19, 0xFFFA8B71FC72C913, 0xFFFF540C0914B3C9, 0xFFFFED1F4AA8F120, 0xFFFFFE216E641462,
        0xFFFFFFD4D85D3183, 0xFFFFFFFC6DA262B4, 0xFFFFFFFFBA12D178, 0xFFFFFFFFFB07C64C, 0xFFFFFFFFFFAB8EA5,
        0xFFFFFFFFFFFABE22, 0xFFFFFFFFFFFFB11A, 0xFFFFFFFFFFFFFBA1, 0xFFFFFFFFFFFFFFC5, 0xFFFFFFFFFFFFFFFD,
    ],
    dtype=np.uint64,
)  # fmt: skip
MAX_WEIGHT = len(POISSON_1)
QUANTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}
CHUNK = 64  # resamples drawn at once (the weights of a chunk stay in the CPU's cache)
BAND_SD = 6.0  # the band around a quantile's rank: its half-width in standard deviations of that rank

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_TOP = 16  # the weight of most draws is read from a table of their top 16 bits


def _mix(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 finalizer, in place on a uint64 array."""
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def _table() -> tuple[np.ndarray, np.uint64]:
    """The weight of every draw whose top bits fix it (a bucket holding no threshold), 255 elsewhere."""
    shift = np.uint64(64 - _TOP)
    first = np.arange(1 << _TOP, dtype=np.uint64) << shift
    last = first + np.uint64((1 << (64 - _TOP)) - 1)
    low = np.searchsorted(POISSON_1, first, side="right")
    high = np.searchsorted(POISSON_1, last, side="right")
    table = low.astype(np.uint8)
    table[low != high] = 255
    return table, shift


_WEIGHT_TABLE, _SHIFT = _table()


def key_states(seed: int, keys: np.ndarray) -> np.ndarray:
    """s(e) of every example key (int64)."""
    with np.errstate(over="ignore"):
        start = _mix(np.array([seed], dtype=np.uint64))
        return _mix(start ^ keys.astype(np.int64).view(np.uint64))


def weights(states: np.ndarray, start: int, stop: int) -> np.ndarray:
    """w_r(e) for r in start..stop-1 (rows) and the examples of `states` (columns), as uint8."""
    with np.errstate(over="ignore"):
        steps = (np.arange(start, stop, dtype=np.uint64) + np.uint64(1)) * _GAMMA
        draws = _mix(states[None, :] + steps[:, None])
    out = _WEIGHT_TABLE[draws >> _SHIFT]
    unsure = out == 255
    if unsure.any():
        out[unsure] = np.searchsorted(POISSON_1, draws[unsure], side="right")
    return out


def _scale(values: np.ndarray, count: np.ndarray) -> float:
    """2^k for the largest k that keeps every config's weighted sum of round(value * 2^k) below 2^51
    (a bound from the largest value and the most samples of a config, `count` holding one row of
    counts per config: the same whatever the rows' order)."""
    most = float(np.abs(values).max(initial=0.0)) + 1.0
    bound = most * float(count.sum(axis=1).max(initial=0.0)) * MAX_WEIGHT + 1.0
    return 2.0 ** min(60, 51 - math.ceil(math.log2(bound)))


class _Group:
    """One hardware and dataset: its examples and configs, and the columns its weighted sums need."""

    def __init__(self, key_index: np.ndarray, configs: np.ndarray, acc: np.ndarray, ms: np.ndarray, stat: str):
        self.keys, row = np.unique(key_index, return_inverse=True)  # the group's examples, as indexes of all keys
        self.configs, col = np.unique(configs, return_inverse=True)  # rows come by config (then latency)
        self.everything = len(self.keys) == int(self.keys[-1]) + 1  # every key of the store: no gather needed
        examples, width = len(self.keys), len(self.configs)
        self.quantile = QUANTILES.get(stat)
        cell = col * examples + row

        def columns(values: np.ndarray, where: np.ndarray) -> np.ndarray:
            """One row per config: the sum of `values` over each example's samples."""
            return np.bincount(cell[where], values[where], minlength=examples * width).reshape(width, examples)

        has_acc, has_ms = ~np.isnan(acc), ~np.isnan(ms)
        acc_count, ms_count = columns(np.ones(len(acc)), has_acc), columns(np.ones(len(ms)), has_ms)
        self.n = ms_count.sum(axis=1).astype(np.int64)
        # each value rounded before it is summed: integers, whose sums do not depend on the row order
        self.acc_scale = _scale(acc[has_acc], acc_count)
        parts = [columns(np.round(acc * self.acc_scale), has_acc), acc_count, ms_count]
        if self.quantile is None:
            self.lat_scale = _scale(ms[has_ms], ms_count)
            parts.append(columns(np.round(ms * self.lat_scale), has_ms))
        else:
            parts.append(self._bands(row[has_ms], col[has_ms], ms[has_ms], examples, width))
        # each distinct column once (every config usually has every example: one count column)
        distinct: dict[bytes, int] = {}
        self.pick = np.array([distinct.setdefault(line.tobytes(), len(distinct)) for part in parts for line in part])
        first = {number: i for i, number in reversed(list(enumerate(self.pick)))}
        self.matrix = np.vstack([line for part in parts for line in part])[[first[k] for k in range(len(distinct))]]

    def _bands(self, row: np.ndarray, col: np.ndarray, ms: np.ndarray, examples: int, width: int) -> np.ndarray:
        """Each config's valid latencies, sorted (the rows come sorted), a band of them around the
        quantile's rank, and one row per config marking its examples before the band."""
        q = self.quantile
        assert q is not None
        before = np.zeros((width, examples))
        starts = np.searchsorted(col, np.arange(width + 1))
        self.rows: list[np.ndarray] = []
        self.values: list[np.ndarray] = []
        band, lows, highs = [], [], []
        for c in range(width):
            rows, values = row[starts[c] : starts[c + 1]], ms[starts[c] : starts[c + 1]]
            n = len(values)
            centre, half = int((n - 1) * q), int(BAND_SD * math.sqrt(n * q * (1 - q))) + 16
            lo, hi = max(0, centre - half), min(n, centre + half + 2)
            np.add.at(before[c], rows[:lo], 1.0)
            self.rows.append(rows)
            self.values.append(values)
            band.append(rows[lo:hi])
            lows.append(lo)
            highs.append(hi)
        self.band = np.concatenate(band)
        self.lo, self.hi = np.array(lows), np.array(highs)
        self.all_values = np.concatenate([*self.values, [np.nan]])  # one more: a config without values indexes it
        self.value_offsets = np.r_[0, np.cumsum([len(v) for v in self.values])[:-1]]
        self.widths = np.array([len(b) for b in band])
        self.offsets = np.r_[0, np.cumsum(self.widths)[:-1]]
        return before

    def draw(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(accuracy, latency) of every config (columns) in the resamples of weights `w` (rows)."""
        width = len(self.configs)
        mine = w if self.everything and w.shape[1] == len(self.keys) else w[:, self.keys]
        sums = (mine.astype(np.float64) @ self.matrix.T)[:, self.pick]  # integers below 2^53: exact in any order
        acc_sum, acc_n, ms_n, last = (sums[:, i * width : (i + 1) * width] for i in range(4))
        with np.errstate(invalid="ignore", divide="ignore"):
            accuracy = (acc_sum / self.acc_scale) / acc_n
            latency = (last / self.lat_scale) / ms_n if self.quantile is None else self._quantiles(mine, last, ms_n)
        return accuracy, latency

    def _quantiles(self, mine: np.ndarray, before: np.ndarray, total: np.ndarray) -> np.ndarray:
        """quantile_cont of every config's latencies repeated by the weights (resamples x configs)."""
        q = self.quantile
        assert q is not None
        rn = (total - 1) * q
        first, second = np.floor(rn), np.ceil(rn)
        # running weights along the bands (non-decreasing along a row, the weights being >= 0); within
        # config c's band, the weight up to and including its value i is cum[i] + base[c]. Position p
        # (0-based) of the expanded sample is sorted value i when running[i - 1] <= p < running[i]
        cum = np.cumsum(mine[:, self.band], axis=1, dtype=np.int32)
        ends = self.offsets + self.widths
        base = before.astype(np.int64) - np.where(self.offsets > 0, cum[:, np.maximum(self.offsets - 1, 0)], 0)
        at_first, at_second = np.empty(total.shape, dtype=np.int64), np.empty(total.shape, dtype=np.int64)
        for r in range(len(cum)):
            for found, target in ((at_first, first), (at_second, second)):
                index = np.searchsorted(cum[r], target[r].astype(np.int64) - base[r], side="right")
                found[r] = np.clip(index, self.offsets, ends) - self.offsets
        at_first += self.lo
        at_second += self.lo
        out = np.full(total.shape, np.nan)
        filled = total > 0
        # the band missed (the position lies before or after it): every value of those resamples
        missed = filled & ((before > first) | (at_second >= self.hi))
        for r, c in zip(*np.nonzero(missed), strict=True):
            full = np.cumsum(mine[r, self.rows[c]], dtype=np.int64)
            at_first[r, c] = np.searchsorted(full, first[r, c], side="right")
            at_second[r, c] = np.searchsorted(full, second[r, c], side="right")
        starts = np.minimum(self.value_offsets, len(self.all_values) - 1)
        at_first = np.where(filled, at_first + starts, 0)
        at_second = np.where(filled, at_second + starts, 0)
        d = rn - first
        with np.errstate(invalid="ignore"):
            value = self.all_values[at_first] * (1 - d) + self.all_values[at_second] * d
        out[filled] = value[filled]
        return out


def compute(inputs: dict[str, np.ndarray], params: dict[str, Any]) -> dict[str, np.ndarray]:
    """The rows of config_resamples: config_run_id, r, accuracy, latency, n (NaN: undefined in that resample)."""
    resamples, seed, stat = int(params["resamples"]), int(params["seed"]), str(params["latency_stat"])
    group, config, example = (np.asarray(inputs[k], dtype=np.int64) for k in ("grp", "config_run_id", "example"))
    acc, ms = (np.asarray(inputs[k], dtype=np.float64) for k in ("accuracy", "ms"))
    if resamples == 0 or len(config) == 0:
        return {name: np.zeros(0, dtype=np.float64 if kind == "DOUBLE" else np.int64) for name, kind in COLUMNS}
    # each config's rows together (for a quantile, by latency): no result depends on the rows' order, every sum is exact
    by_config = np.argsort(config, kind="stable")
    cuts = np.flatnonzero(np.diff(config[by_config])) + 1
    runs = [by_config[a:b] for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(config)], strict=True)]
    if stat in QUANTILES:
        runs = [rows[np.argsort(ms[rows], kind="stable")] for rows in runs]
    keys, key_index = np.unique(example, return_inverse=True)
    states = key_states(seed, keys)
    members: dict[int, list[np.ndarray]] = {}
    for rows in runs:
        members.setdefault(int(group[rows[0]]), []).append(rows)
    groups = []
    for number in sorted(members):
        rows = np.concatenate(members[number])
        groups.append(_Group(key_index[rows], config[rows], acc[rows], ms[rows], stat))
    accuracy = [np.empty((resamples, len(g.configs))) for g in groups]
    latency = [np.empty((resamples, len(g.configs))) for g in groups]
    for start in range(0, resamples, CHUNK):
        stop = min(resamples, start + CHUNK)
        w = weights(states, start, stop)
        for g, acc_out, lat_out in zip(groups, accuracy, latency, strict=True):
            acc_out[start:stop], lat_out[start:stop] = g.draw(w)
    ids = np.concatenate([np.repeat(g.configs, resamples) for g in groups])
    return {
        "config_run_id": ids,
        "r": np.tile(np.arange(resamples, dtype=np.int64), len(ids) // resamples),
        "accuracy": np.concatenate([a.T.ravel() for a in accuracy]),
        "latency": np.concatenate([a.T.ravel() for a in latency]),
        "n": np.concatenate([np.repeat(g.n, resamples) for g in groups]),
    }
