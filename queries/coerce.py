"""Turn parameter values (Python values, or CLI strings like `--param budgets=170,200`) into the declared type."""

from __future__ import annotations

import math
import numbers
from typing import Any

_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


def coerce_value(value: Any, type_: str) -> Any:
    """`value` as the SQL type `type_`; raises ValueError saying what was expected.

    Strings are parsed (an empty string is NULL; a list type takes `a,b,c`); Python values
    must already be of a fitting kind (an int is fine for DOUBLE, a float with a fraction
    is not an INTEGER).
    """
    if value is None:
        return None
    if type_.endswith("[]"):
        return _coerce_list(value, type_[:-2])
    if isinstance(value, str):
        return None if value == "" else _parse_scalar(value, type_)
    return _check_scalar(value, type_)


def coerce_literal(text: str, type_: str) -> Any:
    """A default or choice as written in a query header: NULL, 12.5, 'text' or [a, b]."""
    text = text.strip()
    if text.upper() == "NULL":
        return None
    if type_.endswith("[]"):
        if not (text.startswith("[") and text.endswith("]")):
            raise ValueError(f"a {type_} default is NULL or a list like [1, 2], not {text!r}")
        items = [item.strip() for item in text[1:-1].split(",") if item.strip()]
        return [coerce_literal(item, type_[:-2]) for item in items]
    if type_ == "VARCHAR":
        if not (len(text) >= 2 and text.startswith("'") and text.endswith("'")):
            raise ValueError(f"a VARCHAR default is NULL or quoted like 'text', not {text!r}")
        return text[1:-1].replace("''", "'")
    return _parse_scalar(text, type_)


def _coerce_list(value: Any, element_type: str) -> list | None:
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return None
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1]
        items = [item.strip() for item in text.split(",")]
        if any(item == "" for item in items):
            raise ValueError(f"expected a comma-separated list of {element_type}, got {value!r}")
        return [_parse_scalar(item, element_type) for item in items]
    if isinstance(value, (list, tuple, set, frozenset)) or _is_array(value):
        return [
            _check_scalar(item, element_type) if not isinstance(item, str) else _parse_scalar(item, element_type)
            for item in value
        ]
    return [_check_scalar(value, element_type)]


def _is_array(value: Any) -> bool:
    return hasattr(value, "__array__") and hasattr(value, "__iter__") and getattr(value, "ndim", 0) == 1


def _parse_scalar(text: str, type_: str) -> Any:
    if type_ == "VARCHAR":
        return text
    stripped = text.strip()
    if type_ == "DOUBLE":
        try:
            return float(stripped)
        except ValueError:
            raise ValueError(f"expected a number, got {text!r}") from None
    if type_ == "INTEGER":
        try:
            return int(stripped)
        except ValueError:
            try:
                number = float(stripped)
            except ValueError:
                number = math.nan
            if math.isfinite(number) and number == int(number):
                return int(number)
            raise ValueError(f"expected a whole number, got {text!r}") from None
    if type_ == "BOOLEAN":
        if stripped.lower() in _TRUE:
            return True
        if stripped.lower() in _FALSE:
            return False
        raise ValueError(f"expected true or false, got {text!r}")
    raise ValueError(f"unknown type {type_}")


def _check_scalar(value: Any, type_: str) -> Any:
    if value is None:
        return None
    if type_ == "VARCHAR":
        if isinstance(value, str):
            return value
        raise ValueError(f"expected text, got {value!r}")
    if type_ == "BOOLEAN":
        if isinstance(value, bool) or type(value).__name__ == "bool_":
            return bool(value)
        raise ValueError(f"expected true or false, got {value!r}")
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        raise ValueError(f"expected a number, got {value!r}")
    if type_ == "DOUBLE":
        if isinstance(value, numbers.Real):
            return float(value)
        raise ValueError(f"expected a number, got {value!r}")
    if type_ == "INTEGER":
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer():
            return int(float(value))
        raise ValueError(f"expected a whole number, got {value!r}")
    raise ValueError(f"unknown type {type_}")
