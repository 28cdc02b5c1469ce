"""Style enforced by tools: ruff (lint and import order) and mypy (check_untyped_defs) pass over kstep/, no module
is over 400 lines, and every module opens with a docstring. Configuration: pyproject.toml."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "kstep"
MAX_LINES = 400


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=240)


def test_ruff():
    """ruff check (pyflakes, pycodestyle, import order) reports nothing in kstep/."""
    done = _run("ruff", "check", "--no-cache", "kstep")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy():
    """mypy with check_untyped_defs reports nothing in kstep/."""
    done = _run("mypy", "--no-incremental", "--cache-dir", "/dev/null")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_size_and_docstring(path: Path):
    """Every module is at most 400 lines and says what it provides in an opening docstring."""
    text = path.read_text(encoding="utf-8")
    assert text.count("\n") <= MAX_LINES, f"{path.name}: {text.count(chr(10))} lines"
    if text.strip():
        assert ast.get_docstring(ast.parse(text)), f"{path.name} has no opening docstring"
