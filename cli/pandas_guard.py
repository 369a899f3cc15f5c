"""Commands that bind SQL parameters without needing pandas, kept from importing it.

DuckDB's Python client compares every bound value but None with pandas.NaT and pandas.NA
before looking at its type, and imports pandas to do so: 0.2-0.3 s of a report that never
uses it. While pandas is not loaded, an import of it that fails makes DuckDB skip that check.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager


@contextmanager
def pandas_unloaded():
    """Within the block, `import pandas` fails unless pandas was loaded before; afterwards it works."""
    if "pandas" in sys.modules:
        yield
        return
    sys.modules["pandas"] = None  # type: ignore[assignment]  # the import system's way to refuse a module
    try:
        yield
    finally:
        if sys.modules.get("pandas", False) is None:
            del sys.modules["pandas"]
