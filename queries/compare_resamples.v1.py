"""The numpy step of compare_resamples@v1: every config run of both sides of a comparison, its
point (r = -1) and its accuracy and latency statistic in every bootstrap resample, from the
samples its SQL (compare_resamples.v1.sql) selects.

Published like a query file: never edited (checksums.txt), its sha256 in `budgetdb query list` and
in the comparison's footer. It imports numpy only, so that sha256 covers everything it does.

The weights are config_resamples@v1's, w_r(e) ~ Poisson(1) from (seed, r, example key) alone:

    z(x)    = the SplitMix64 finalizer (x ^= x >> 30; x *= 0xbf58476d1ce4e5b9; x ^= x >> 27;
              x *= 0x94d049bb133111eb; x ^= x >> 31), on unsigned 64-bit integers
    s(e)    = z(z(seed) XOR key(e))                  key(e): the example key as 64-bit two's complement
    u_r(e)  = z(s(e) + (r + 1) * 0x9e3779b97f4a7c15)
    w_r(e)  = the smallest k with u_r(e) < T_k, T_k = floor(2^64 * P(Poisson(1) <= k)) (POISSON_1; 20 when none)

so the baseline side is resampled with the very weights config_resamples draws on its store. A config
measured on the same examples on both sides (the same set of example_ids, every sample with one)
is `paired`: its candidate run takes the same weights, an example weighs the same on both sides.
Any other config's candidate run is resampled independently: its weights come from the stream of
seed + 2^31 (a seed no comparison is given: seeds are below 2^31).

A run's statistic in resample r is the statistic of its samples repeated w_r(e) times each: the
weighted mean of the accuracy; the weighted mean of the latency, or its quantile_cont (linear
interpolation: RN = (N - 1) * q over the expanded sorted sample). The point (r = -1) is the
unweighted statistic: each mean a correctly rounded sum (math.fsum) over the count, a quantile
quantile_cont's. Weighted means are exact: each value is scaled by 2^k and rounded (k as large as
keeps every run's weighted sum below 2^51) and the sums are matrix products of integers, which
float64 holds exactly in any order; a weighted quantile's positions come from integer running sums
of the weights along the sorted values, over a band around the unweighted quantile's rank (BAND_SD
standard deviations of it on each side; all values for a resample whose positions fall outside).
The same inputs give the same bits on any machine.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

PARAMS = ("resamples", "seed", "latency_stat")
COLUMNS = (
    ("cfg", "BIGINT"),
    ("side", "INTEGER"),
    ("r", "INTEGER"),
    ("accuracy", "DOUBLE"),
    ("latency", "DOUBLE"),
    ("n", "BIGINT"),
    ("paired", "INTEGER"),
)

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
CHUNK = 64  # resamples drawn at once
BAND_SD = 6.0  # a weighted quantile's band: its half-width in standard deviations of the quantile's rank
UNPAIRED_STREAM = 1 << 31  # added to the seed for the candidate runs of unpaired configs

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_TOP = 16  # the weight of most draws is read from a table of their top 16 bits


def _mix(x: np.ndarray) -> np.ndarray:
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def key_states(seed: int, keys: np.ndarray) -> np.ndarray:
    """s(e) of every example key (int64)."""
    with np.errstate(over="ignore"):
        start = _mix(np.array([seed], dtype=np.uint64))
        return _mix(start ^ keys.astype(np.int64).view(np.uint64))


def _table() -> tuple[np.ndarray, np.uint64]:
    """The weight of every draw whose top 16 bits fix it (a bucket holding no threshold), 255 elsewhere."""
    shift = np.uint64(64 - _TOP)
    first = np.arange(1 << _TOP, dtype=np.uint64) << shift
    last = first + np.uint64((1 << (64 - _TOP)) - 1)
    low = np.searchsorted(POISSON_1, first, side="right")
    high = np.searchsorted(POISSON_1, last, side="right")
    table = low.astype(np.uint8)
    table[low != high] = 255
    return table, shift


_WEIGHT_TABLE, _SHIFT = _table()


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


def _scale(values: np.ndarray) -> float:
    """2^k for the largest k that keeps any weighted sum of round(value * 2^k) below 2^51."""
    most = float(np.abs(values).max(initial=0.0)) + 1.0
    bound = most * float(len(values)) * MAX_WEIGHT + 1.0
    return 2.0 ** min(60, 51 - math.ceil(math.log2(bound)))


def _quantile(sorted_values: np.ndarray, q: float) -> float:
    """quantile_cont of sorted values (NaN when there are none)."""
    if len(sorted_values) == 0:
        return math.nan
    rn = (len(sorted_values) - 1) * q
    lo, hi = math.floor(rn), math.ceil(rn)
    d = rn - lo
    return float(sorted_values[lo] * (1 - d) + sorted_values[hi] * d)


class _Run:
    """One config run of one side: its samples by example, and its point."""

    def __init__(self, cfg: int, side: int, key_index: np.ndarray, acc: np.ndarray, ms: np.ndarray, quantile: float | None):
        self.cfg, self.side, self.quantile = cfg, side, quantile
        has_acc, has_ms = ~np.isnan(acc), ~np.isnan(ms)
        self.n = int(has_ms.sum())
        self.acc_keys, self.acc = key_index[has_acc], acc[has_acc]
        self.ms_keys, self.ms = key_index[has_ms], ms[has_ms]
        if quantile is not None:  # sorted: the quantiles' running weights follow the values
            order = np.argsort(self.ms, kind="stable")
            self.ms_keys, self.ms = self.ms_keys[order], self.ms[order]
        self.point_acc = math.fsum(self.acc.tolist()) / len(self.acc) if len(self.acc) else math.nan
        if quantile is None:
            self.point_lat = math.fsum(self.ms.tolist()) / len(self.ms) if len(self.ms) else math.nan
        else:
            self.point_lat = _quantile(self.ms, quantile)

    def columns(self, examples: np.ndarray) -> np.ndarray:
        """Four rows over `examples` (sorted key indexes): scaled accuracy sum, accuracy count,
        latency count, and the scaled latency sum (a quantile: the count of the values below its
        band), each summed over an example's samples."""
        width = len(examples)
        self.acc_scale, self.lat_scale = _scale(self.acc), _scale(self.ms)
        out = np.zeros((4, width))
        a, m = np.searchsorted(examples, self.acc_keys), np.searchsorted(examples, self.ms_keys)
        np.add.at(out[0], a, np.round(self.acc * self.acc_scale))
        np.add.at(out[1], a, 1.0)
        np.add.at(out[2], m, 1.0)
        if self.quantile is None:
            np.add.at(out[3], m, np.round(self.ms * self.lat_scale))
        elif len(self.ms):  # the examples of the values below the quantile's band, once each
            np.add.at(out[3], m[: self.band()[0]], 1.0)
        return out

    def band(self) -> tuple[int, int]:
        """The sorted values a weighted quantile's positions almost always fall among: BAND_SD
        standard deviations of the quantile's rank on each side of the unweighted one."""
        q, n = self.quantile, len(self.ms)
        assert q is not None
        centre, half = int((n - 1) * q), int(BAND_SD * math.sqrt(n * q * (1 - q))) + 16
        return max(0, centre - half), min(n, centre + half + 2)

    def quantiles(self, w: np.ndarray, before: np.ndarray, total: np.ndarray) -> np.ndarray:
        """quantile_cont of the run's latencies repeated by each row's weights: `before`, the weight
        of the values below the band, and `total`, of all values (both exact integer sums)."""
        q = self.quantile
        assert q is not None
        out = np.full(len(w), np.nan)
        n = len(self.ms)
        if not n:
            return out
        lo, hi = self.band()
        rn = (total - 1) * q
        first, second = np.floor(rn).astype(np.int64), np.ceil(rn).astype(np.int64)
        before = before.astype(np.int64)
        # position p (0-based) of the expanded sample is sorted value i when running[i - 1] <= p < running[i]
        running = before[:, None] + np.cumsum(w[:, self.ms_keys[lo:hi]], axis=1, dtype=np.int64)
        at_first, at_second = self._search(running, first) + lo, self._search(running, second) + lo
        missed = (total > 0) & ((first < before) | (second >= running[:, -1]))
        for r in np.flatnonzero(missed):  # the band missed it: every value of that resample
            full = np.cumsum(w[r, self.ms_keys], dtype=np.int64)
            at_first[r] = np.searchsorted(full, first[r], side="right")
            at_second[r] = np.searchsorted(full, second[r], side="right")
        at_first, at_second = np.clip(at_first, 0, n - 1), np.clip(at_second, 0, n - 1)
        d = rn - first
        value = self.ms[at_first] * (1 - d) + self.ms[at_second] * d
        filled = total > 0
        out[filled] = value[filled]
        return out

    @staticmethod
    def _search(running: np.ndarray, target: np.ndarray) -> np.ndarray:
        """For each row, how many of its (non-decreasing) running sums are <= its target."""
        rows, width = running.shape
        top = int(max(running.max(initial=0), target.max(initial=0))) + 1
        offset = np.arange(rows, dtype=np.int64) * top
        found = np.searchsorted((running + offset[:, None]).ravel(), np.clip(target, -1, top - 1) + offset, side="right")
        return found - np.arange(rows) * width


def _index(example: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct example keys (sorted) and each row's position among them (np.unique's, faster
    for keys in a short range)."""
    if len(example) == 0:
        return example, example
    low, high = int(example.min()), int(example.max())
    if high - low >= 1 << 26:
        return np.unique(example, return_inverse=True)
    present = np.zeros(high - low + 1, dtype=bool)
    present[example - low] = True
    rank = np.cumsum(present) - 1
    return np.flatnonzero(present) + low, rank[example - low]


def _members(index: np.ndarray, size: int) -> np.ndarray:
    """The distinct values of `index` (integers in 0..size-1), sorted."""
    present = np.zeros(size, dtype=bool)
    present[index] = True
    return np.flatnonzero(present)


def compute(inputs: dict[str, np.ndarray], params: dict[str, Any]) -> dict[str, np.ndarray]:
    """The rows of compare_resamples: cfg, side, r, accuracy, latency, n, paired (NaN: undefined)."""
    resamples, seed = int(params["resamples"]), int(params["seed"])
    quantile = QUANTILES.get(str(params["latency_stat"]))
    side, cfg, grp, example, has_id = (np.asarray(inputs[k], dtype=np.int64) for k in ("side", "cfg", "grp", "example", "has_id"))
    acc, ms = (np.asarray(inputs[k], dtype=np.float64) for k in ("accuracy", "ms"))
    if len(cfg) == 0:
        return {name: np.zeros(0, dtype=np.float64 if kind == "DOUBLE" else np.int64) for name, kind in COLUMNS}
    keys, key_index = _index(example)
    run_key = cfg * 2 + side
    # each run's rows together (their order within a run changes no figure); the SQL sends them so
    order = np.arange(len(run_key)) if np.all(run_key[1:] >= run_key[:-1]) else np.argsort(run_key, kind="stable")
    cuts = np.flatnonzero(np.diff(run_key[order])) + 1
    runs: list[_Run] = []
    groups: dict[tuple[int, int], list[_Run]] = {}
    examples_of: dict[tuple[int, int], np.ndarray] = {}
    all_ids: dict[tuple[int, int], bool] = {}
    for rows in np.split(order, cuts):
        c, s = int(cfg[rows[0]]), int(side[rows[0]])
        run = _Run(c, s, key_index[rows], acc[rows], ms[rows], quantile)
        runs.append(run)
        examples_of[(c, s)] = _members(key_index[rows], len(keys))
        all_ids[(c, s)] = bool(has_id[rows].all())
        run.grp = int(grp[rows[0]])  # type: ignore[attr-defined]
    paired = {
        c: (c, 0) in examples_of
        and (c, 1) in examples_of
        and all_ids[(c, 0)]
        and all_ids[(c, 1)]
        and np.array_equal(examples_of[(c, 0)], examples_of[(c, 1)])
        for c, _ in examples_of
    }
    for run in runs:
        stream = 0 if run.side == 0 or paired[run.cfg] else 1
        groups.setdefault((stream, run.grp), []).append(run)  # type: ignore[attr-defined]
    acc_out = {id(run): np.empty(resamples) for run in runs}
    lat_out = {id(run): np.empty(resamples) for run in runs}
    states = {stream: key_states(seed + stream * UNPAIRED_STREAM, keys) for stream in {k[0] for k in groups}}
    prepared = []
    for (stream, _), members in sorted(groups.items(), key=lambda item: item[0]):
        used = _members(np.concatenate([examples_of[(run.cfg, run.side)] for run in members]), len(keys))
        columns = np.vstack([run.columns(used) for run in members])
        # each distinct column once (every run with every example has the same count columns)
        distinct: dict[bytes, int] = {}
        pick = np.array([distinct.setdefault(line.tobytes(), len(distinct)) for line in columns])
        first = {number: i for i, number in reversed(list(enumerate(pick)))}
        matrix = columns[[first[k] for k in range(len(distinct))]]
        # the runs' rows, as key indexes within `used` (for the quantiles' gather)
        for run in members:
            run.ms_keys = np.searchsorted(used, run.ms_keys)
        prepared.append((stream, used, matrix, pick.ravel(), members))
    for start in range(0, resamples, CHUNK):
        stop = min(resamples, start + CHUNK)
        drawn = {stream: weights(states[stream], start, stop) for stream in states}
        for stream, used, matrix, pick, members in prepared:
            w = drawn[stream][:, used]
            sums = (w.astype(np.float64) @ matrix.T)[:, pick]  # integers below 2^53: exact in any order
            for i, run in enumerate(members):
                acc_sum, acc_n, ms_n, ms_sum = (sums[:, 4 * i + j] for j in range(4))
                with np.errstate(invalid="ignore", divide="ignore"):
                    acc_out[id(run)][start:stop] = (acc_sum / run.acc_scale) / acc_n
                    if quantile is None:
                        lat_out[id(run)][start:stop] = (ms_sum / run.lat_scale) / ms_n
                    else:
                        lat_out[id(run)][start:stop] = run.quantiles(w, ms_sum, ms_n)
    width = resamples + 1
    return {
        "cfg": np.repeat([run.cfg for run in runs], width),
        "side": np.repeat([run.side for run in runs], width),
        "r": np.tile(np.arange(-1, resamples, dtype=np.int64), len(runs)),
        "accuracy": np.concatenate([np.r_[run.point_acc, acc_out[id(run)]] for run in runs]),
        "latency": np.concatenate([np.r_[run.point_lat, lat_out[id(run)]] for run in runs]),
        "n": np.repeat([run.n for run in runs], width),
        "paired": np.repeat([int(paired[run.cfg]) for run in runs], width),
    }
