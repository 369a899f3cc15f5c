"""How deeply a JSON text nests, measured without parsing it.

DuckDB's JSON functions recurse and crash the process on very deep documents, so ingest
measures the depth first, at several hundred MB/s, and refuses deep files by name.
"""

from __future__ import annotations

import re

import numpy as np

_STRUCTURAL = b'"[]{}'
_OTHER_BYTES = bytes(b for b in range(256) if b not in _STRUCTURAL)
_STRING = re.compile(rb'"[^"]*"')
_STEP = np.zeros(256, dtype=np.int8)
_STEP[list(b"[{")] = 1
_STEP[list(b"]}")] = -1


def max_depth(data: bytes) -> int:
    """The deepest nesting of arrays/objects in `data` (brackets inside strings do not count).

    Escaped backslashes and quotes are dropped first, so every remaining quote opens or
    closes a string; then only quotes and brackets are kept, empty-of-brackets strings
    (adjacent quote pairs) vanish, and what strings remain are cut out before counting.
    """
    for escaped in (b"\\\\", b'\\"'):
        if escaped in data:
            data = data.replace(escaped, b"")
    skeleton = data.translate(None, _OTHER_BYTES).replace(b'""', b"")
    if b'"' in skeleton:
        skeleton = _STRING.sub(b"", skeleton)
    if not skeleton:
        return 0
    return int(np.cumsum(_STEP[np.frombuffer(skeleton, dtype=np.uint8)], dtype=np.int64).max())
