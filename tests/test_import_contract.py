"""The architecture contracts of pyproject.toml (``[tool.importlinter]``): imports point
down the layers and no package's modules import each other in a circle. The check is
import-linter's (``lint-imports``); a second test shows that it does catch an upward
import and a cycle, on a copy of the code with one bad import added."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the checkout at ``root`` (its pyproject.toml), no cache."""
    code = ("import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True))")
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([sys.executable, "-c", code], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_import_contracts_are_kept() -> None:
    res = _lint(ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "2 kept, 0 broken" in res.stdout


@pytest.mark.parametrize(("module", "bad_import", "contract"), [
    ("gnnannot/types.py", "import gnnannot.cli", "Layers"),  # the bottom imports the top
    ("gnnannot/store/base.py", "import gnnannot.store.graphs", "No import cycles"),
])  # fmt: skip
def test_a_bad_import_breaks_a_contract(tmp_path: Path, module: str, bad_import: str,
                                        contract: str) -> None:  # fmt: skip
    for name in ("gnnannot", "stages"):
        shutil.copytree(ROOT / name, tmp_path / name,
                        ignore=shutil.ignore_patterns("__pycache__", "static"))  # fmt: skip
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    path = tmp_path / module
    path.write_text(path.read_text() + f"\n\ndef _upward() -> None:\n    {bad_import}\n")
    res = _lint(tmp_path)
    assert res.returncode != 0
    broken = res.stdout[res.stdout.index("Broken contracts"):]
    assert contract in broken
