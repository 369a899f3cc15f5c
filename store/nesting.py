"""The shape of a JSON text read off its brackets, without parsing it.

DuckDB's JSON functions recurse and crash the process on very deep documents, so ingest
measures the depth first and refuses deep files by name. The same pass counts the keys of
the top-level object, which lets ingest read a result file's top-level keys from the few
kilobytes before `per_sample_results` instead of parsing the whole file twice.
`comma_before_close` finds commas right before a closing bracket: DuckDB's reader takes
`[1, 2,]` without a word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

_STRUCTURAL = b'"[]{}:'
_OTHER_BYTES = bytes(b for b in range(256) if b not in _STRUCTURAL)
_ESCAPED = re.compile(rb'\\[\\"]')
_STEP = np.zeros(256, dtype=np.int8)
_STEP[list(b"[{")] = 1
_STEP[list(b"]}")] = -1
_WALK = 32  # bytes of whitespace walked back over before a closing bracket, at most


@dataclass(frozen=True)
class Skeleton:
    """The structural characters of a JSON text, with the nesting depth after each one."""

    chars: np.ndarray
    depth: np.ndarray

    @property
    def max_depth(self) -> int:
        return int(self.depth.max()) if len(self.depth) else 0

    @property
    def end_depth(self) -> int:
        return int(self.depth[-1]) if len(self.depth) else 0

    def keys_at(self, level: int) -> int:
        """Keys of the objects open at `level` (colons outside strings separate key and value)."""
        return int(np.count_nonzero((self.chars == ord(":")) & (self.depth == level)))

    def count_below(self, level: int) -> int:
        return int(np.count_nonzero(self.depth < level))

    def objects_opened_at(self, level: int) -> int:
        return int(np.count_nonzero((self.chars == ord("{")) & (self.depth == level)))


def _escapes_quote_or_backslash(data: bytes) -> bool:
    """Is some backslash followed by a quote or a backslash? (Most escapes are \\uXXXX; numpy,
    unlike a regex, lets another thread run meanwhile.)"""
    if b"\\" not in data:
        return False
    raw = np.frombuffer(data, dtype=np.uint8)
    follows = raw[np.flatnonzero(raw[:-1] == ord("\\")) + 1]
    return bool(np.any((follows == ord('"')) | (follows == ord("\\"))))


def skeleton(data: bytes) -> Skeleton:
    """Escaped backslashes and quotes are dropped first, so every remaining quote opens or
    closes a string; then only quotes, brackets and colons are kept, and what lies inside a
    string is cut out before counting."""
    if _escapes_quote_or_backslash(data):
        data = _ESCAPED.sub(b"", data)
    return _from_structural(data.translate(None, _OTHER_BYTES))


def split_skeleton(data: bytes, at: int) -> tuple[Skeleton, Skeleton]:
    """`skeleton(data[:at])` and `skeleton(data[at:])`, without copying the bytes after `at`
    where no escape needs dropping (a structural character is one byte wherever it is)."""
    if _escapes_quote_or_backslash(data):
        return skeleton(data[:at]), skeleton(data[at:])
    kept = data.translate(None, _OTHER_BYTES)
    split = len(data[:at].translate(None, _OTHER_BYTES))
    return _from_structural(kept[:split]), _from_structural(kept[split:])


def _from_structural(kept: bytes) -> Skeleton:
    raw = np.frombuffer(kept, dtype=np.uint8)
    quote = (raw == ord('"')).view(np.uint8)
    # every quote left opens or closes a string: after an odd number of them, a string goes on
    inside = np.bitwise_xor.accumulate(quote)
    chars = raw[(inside | quote) == 0]
    return Skeleton(chars, np.cumsum(_STEP[chars], dtype=np.int32))


def comma_before_close(data: bytes) -> bool:
    """A comma, then only whitespace, then "]" or "}" (outside strings or in one)? Walks back
    from every closing bracket over the whitespace before it, all brackets at once (numpy, so
    that another thread runs meanwhile); a run longer than _WALK bytes sends the whole file to
    the plain scan, which costs twice as much on the usual file."""
    raw = np.frombuffer(data, dtype=np.uint8)
    at = np.flatnonzero((raw | 0x20) == ord("}"))  # "]" | 0x20 is "}", and no other byte becomes "}"
    for _ in range(_WALK):
        at = at[at > 0] - 1
        if not at.size:
            return False
        before = raw[at]
        if np.any(before == ord(",")):
            return True
        at = at[before <= ord(" ")]
    return bool(at.size) and _comma_before_close_scan(raw)


def _comma_before_close_scan(raw: np.ndarray) -> bool:
    dense = raw[raw > ord(" ")]  # JSON's whitespace is space, tab, newline, return
    return bool(np.any((dense[:-1] == ord(",")) & ((dense[1:] == ord("]")) | (dense[1:] == ord("}")))))
