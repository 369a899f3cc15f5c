"""The bracket skeleton ingest reads a file's depth and top-level keys from (store/nesting.py)."""

from __future__ import annotations

import json
import re

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from budgetdb.store.nesting import comma_before_close, skeleton, split_skeleton

_text = st.text(alphabet='ab"\\[]{}:,é\n', max_size=6)
_values = st.recursive(
    st.one_of(st.none(), st.integers(), _text),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_text, inner, max_size=3)),
    max_leaves=12,
)


def _outside_strings(text: str):
    """(index, character) of every character outside strings, read one by one."""
    in_string = escaped = False
    for i, ch in enumerate(text):
        if in_string:
            escaped, in_string = (False, True) if escaped else (ch == "\\", ch != '"')
        elif ch == '"':
            in_string = True
        else:
            yield i, ch


def _depth_by_hand(text: str) -> int:
    depth = deepest = 0
    for _, ch in _outside_strings(text):
        if ch in "[{":
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
    for got, expected in zip(split_skeleton(data, at), (skeleton(data[:at]), skeleton(data[at:])), strict=True):
        assert np.array_equal(got.chars, expected.chars) and np.array_equal(got.depth, expected.depth)


_comma_free = st.text(alphabet='ab"\\[]{}:é\n', max_size=6)
_comma_free_values = st.recursive(
    st.one_of(st.none(), st.integers(), _comma_free),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_comma_free, inner, max_size=3)),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(value=_comma_free_values, indent=st.sampled_from([None, 2]), where=st.integers(min_value=0))
def test_a_comma_before_a_closing_bracket_is_found_and_json_has_none(value, indent, where):
    """json.dumps never writes one (its strings here hold no comma); one added before any
    closing bracket outside a string is always found."""
    text = json.dumps({"per_sample_results": [value, 1]}, indent=indent, ensure_ascii=False)
    assert not comma_before_close(text.encode())
    closers = [i for i, ch in _outside_strings(text) if ch in "]}"]
    at = closers[where % len(closers)]
    assert comma_before_close((text[:at] + "," + text[at:]).encode())


_TRAILING_COMMA = re.compile(rb",[\x00- ]*[\]}]")


@settings(max_examples=500, deadline=None)
@given(
    pieces=st.lists(
        st.one_of(
            st.sampled_from([b",", b"]", b"}", b"[", b"a", b"\\", b'"', b"\xc3\xa9"]),
            st.integers(min_value=1, max_value=80).map(lambda n: b" \n\t\r"[n % 4 : n % 4 + 1] * n),
        ),
        max_size=40,
    )
)
def test_the_comma_check_agrees_with_a_regular_expression_over_any_bytes(pieces):
    """Whitespace runs longer than the walk back from each bracket included (they take the plain scan)."""
    data = b"".join(pieces)
    assert comma_before_close(data) == bool(_TRAILING_COMMA.search(data))
