"""The import contracts of pyproject.toml ([tool.importlinter]) hold: layers, no circles.

Runs the same check as `make lint` (import-linter's `lint-imports`), so `make test` catches an
import of a higher layer from a lower one, or an import circle, too.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip(
    "importlinter", reason="import-linter is not installed (it comes with the `test` extra: pip install -e '.[test]')"
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def lint_imports_command() -> list[str]:
    """The venv's `lint-imports` (next to this Python), else the one on PATH."""
    beside = Path(sys.executable).parent / "lint-imports"
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("lint-imports")
    if found is None:
        pytest.skip("import-linter is installed but its `lint-imports` command is not found")
    return [found]


def test_import_contracts_are_kept() -> None:
    result = subprocess.run(
        [*lint_imports_command(), "--no-cache", "--no-logo"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"lint-imports found broken import contracts:\n{result.stdout}\n{result.stderr}"
