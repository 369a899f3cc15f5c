"""Running `budgetdb` in a new Python process, to see which modules a command imports."""

from __future__ import annotations

import subprocess
import sys

_RUN = """
import sys
module = sys.argv[1]
sys.argv = ["budgetdb"] + sys.argv[2:]
from budgetdb.cli.app import main
try:
    main()
except SystemExit as exc:
    assert not exc.code, exc.code
print("imported" if sys.modules.get(module) is not None else "not imported")
"""


def imports(module: str, *args: str) -> bool:
    """Does `budgetdb ARGS` import `module`? The command must succeed."""
    done = subprocess.run([sys.executable, "-c", _RUN, module, *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[-1] == "imported"
