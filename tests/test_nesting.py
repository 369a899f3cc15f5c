"""The bracket skeleton ingest reads a file's depth and top-level keys from (store/nesting.py)."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from budgetdb.store.nesting import skeleton, split_skeleton

_text = st.text(alphabet='ab"\\[]{}:,é\n', max_size=6)
_values = st.recursive(st.one_of(st.none(), st.integers(), _text),
                       lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_text, inner, max_size=3)),
                       max_leaves=12)


def _depth_by_hand(text: str) -> int:
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            escaped, in_string = (False, True) if escaped else (ch == "\\", ch != '"')
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


@settings(max_examples=300, deadline=None)
@given(value=_values, indent=st.sampled_from([None, 2]), ascii_only=st.booleans())
def test_depth_is_the_nesting_of_brackets_outside_strings(value, indent, ascii_only):
    text = json.dumps({"per_sample_results": [value]}, indent=indent, ensure_ascii=ascii_only)
    assert skeleton(text.encode()).max_depth == _depth_by_hand(text)


@settings(max_examples=300, deadline=None)
@given(value=_values, indent=st.sampled_from([None, 2]), cut=st.integers(min_value=0))
def test_a_split_skeleton_is_the_skeletons_of_the_two_parts(value, indent, cut):
    data = json.dumps({"head": value, "per_sample_results": [value]}, indent=indent, ensure_ascii=False).encode()
    at = cut % (len(data) + 1)
    for got, expected in zip(split_skeleton(data, at), (skeleton(data[:at]), skeleton(data[at:]))):
        assert np.array_equal(got.chars, expected.chars) and np.array_equal(got.depth, expected.depth)
