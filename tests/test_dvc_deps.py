"""Every project file a DVC stage imports is one of that stage's deps.

DVC reruns a stage only when a declared dep changes. If a stage imports a project module
that is not covered by its ``deps`` (the file itself or a folder above it), a code change
there leaves the stage's outputs stale while ``dvc repro`` calls it up to date.
``scripts/dvc_deps.py --write`` brings dvc.yaml up to date.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("dvc_deps", ROOT / "scripts" / "dvc_deps.py")
dvc_deps = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dvc_deps)


def test_closure_follows_relative_and_function_level_imports(tmp_path):
    """The import walker on a hand-built package whose closure is known."""
    pkg = tmp_path / "gnnannot"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from . import a\n")
    (pkg / "sub" / "a.py").write_text("def f():\n    from ..b import g\n    return g\n")
    (pkg / "b.py").write_text("import os\nfrom gnnannot import c\n")
    (pkg / "c.py").write_text("")
    (pkg / "unused.py").write_text("")
    got = {p.relative_to(tmp_path).as_posix()
           for p in dvc_deps.import_closure("gnnannot.sub", tmp_path)}
    assert got == {"gnnannot/__init__.py", "gnnannot/sub/__init__.py", "gnnannot/sub/a.py",
                   "gnnannot/b.py", "gnnannot/c.py"}
    assert dvc_deps.missing_deps("gnnannot.sub", ["gnnannot/sub", "gnnannot/b.py"],
                                 tmp_path) == ["gnnannot/__init__.py", "gnnannot/c.py"]
    assert dvc_deps.missing_deps("gnnannot.sub", ["gnnannot"], tmp_path) == []


def test_closure_follows_plugins_loaded_by_name(tmp_path):
    """``importlib.import_module("gnnannot.x")`` with a literal name counts as an import
    (the executor loads the dask plug-in so); a computed name cannot be followed."""
    pkg = tmp_path / "gnnannot"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("import importlib\nfrom importlib import import_module\n"
                              "def f(n):\n    importlib.import_module('gnnannot.plug')\n"
                              "    import_module('gnnannot.other')\n"
                              "    return importlib.import_module(n)\n")
    (pkg / "plug.py").write_text("")
    (pkg / "other.py").write_text("")
    got = {p.relative_to(tmp_path).as_posix()
           for p in dvc_deps.import_closure("gnnannot.a", tmp_path)}
    assert got == {"gnnannot/__init__.py", "gnnannot/a.py", "gnnannot/plug.py",
                   "gnnannot/other.py"}


@pytest.mark.parametrize("stage,module,deps", dvc_deps.stage_entries(), ids=lambda v: str(v)[:20])
def test_stage_deps_cover_its_imports(stage, module, deps):
    missing = dvc_deps.missing_deps(module, deps)
    assert not missing, (
        f"dvc.yaml: stage {stage!r} imports project files not in its deps: {missing}; "
        "run `python scripts/dvc_deps.py --write`"
    )
