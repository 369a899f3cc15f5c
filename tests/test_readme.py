"""README's two commands stay true: CI runs the test command verbatim, and the main job's
budgetdb steps, run here in-process, print the excerpt the README shows."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from budgetdb.cli.app import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text("utf-8")


def _bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", README, flags=re.S)


def test_ci_runs_the_readme_test_command_verbatim():
    test_command = _bash_blocks()[1].strip()
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text("utf-8").splitlines()]
    assert test_command in ci_lines
    assert "pytest" in test_command


def test_main_job_prints_the_readme_excerpt(tmp_path, monkeypatch):
    main_job = _bash_blocks()[0].strip()
    steps = [shlex.split(step) for step in main_job.split("&&")]
    budgetdb_steps = [step for step in steps if step[0].endswith("budgetdb")]
    assert [step[1] for step in budgetdb_steps] == ["demo", "ingest", "report"]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BUDGETDB_DB", raising=False)
    runner = CliRunner()
    for step in budgetdb_steps:
        args = step[1:]
        out_file = None
        if ">" in args:
            out_file = args[args.index(">") + 1]
            args = args[: args.index(">")]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        if out_file:
            Path(out_file).write_text(result.stdout, "utf-8")
    report = Path("budget.md").read_text("utf-8")
    excerpt = re.search(r"```markdown\n(.*?)```", README, flags=re.S).group(1)
    for line in excerpt.splitlines():
        if line.strip() and line.strip() != "...":
            assert line in report, line
