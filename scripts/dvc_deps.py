"""Keep each DVC stage's code deps equal to the project files it imports.

    python scripts/dvc_deps.py          # check: list missing deps, exit 1 if any
    python scripts/dvc_deps.py --write  # rewrite the code deps of every stage in dvc.yaml

A stage's code deps are the project files (packages ``gnnannot`` and ``stages``) reached
by following every ``import`` statically from its ``python -m`` module, also imports inside
functions and ``importlib.import_module("literal")`` calls (plug-ins loaded by name).
Data deps (anything outside those packages) are kept as they are.
tests/test_dvc_deps.py fails when dvc.yaml falls behind the code.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gnnannot", "stages")


def module_file(name: str, root: Path = ROOT) -> Path | None:
    """The file of project module ``name`` (``a.b`` -> a/b.py or a/b/__init__.py)."""
    if name.split(".")[0] not in PACKAGES:
        return None
    base = root.joinpath(*name.split("."))
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def imported_modules(path: Path, modname: str) -> set[str]:
    """Dotted names of the modules ``path`` (module ``modname``) imports, parents included."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_pkg = path.name == "__init__.py"
    package = modname if is_pkg else modname.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base_parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            # `from pkg import sub` may import a submodule
            found.update(f"{base}.{alias.name}" for alias in node.names)
        elif _is_import_module_call(node):
            found.add(node.args[0].value)  # a plug-in loaded by name, e.g. the dask executor
    with_parents: set[str] = set()
    for name in found:
        parts = name.split(".")
        with_parents.update(".".join(parts[: i + 1]) for i in range(len(parts)))
    return with_parents


def _is_import_module_call(node: ast.AST) -> bool:
    """``importlib.import_module("literal")`` or ``import_module("literal")``."""
    if not isinstance(node, ast.Call) or not node.args:
        return False
    f = node.func
    name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
    arg = node.args[0]
    return (name == "import_module" and isinstance(arg, ast.Constant)
            and isinstance(arg.value, str))


def import_closure(start: str, root: Path = ROOT) -> set[Path]:
    """Project files reached by importing module ``start`` (itself included)."""
    seen: set[Path] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        path = module_file(name, root)
        if path is None or path in seen:
            continue
        seen.add(path)
        todo.extend(imported_modules(path, name))
    return seen


def stage_entries(dvc_yaml: Path = ROOT / "dvc.yaml") -> list[tuple[str, str, list[str]]]:
    """(stage, ``python -m`` module, deps) of every stage in ``dvc_yaml``."""
    spec = yaml.safe_load(dvc_yaml.read_text())
    entries = []
    for stage, body in spec["stages"].items():
        cmd = body["cmd"]
        words = cmd.split()
        if "-m" not in words:
            raise ValueError(f"{dvc_yaml}: stage {stage!r} cmd {cmd!r} is not `python -m ...`")
        module = words[words.index("-m") + 1]
        deps = [d if isinstance(d, str) else next(iter(d)) for d in body.get("deps", [])]
        entries.append((stage, module, deps))
    return entries


def covered(path: Path, deps: list[str], root: Path = ROOT) -> bool:
    """Whether ``path`` is one of ``deps`` or lies in a folder that is."""
    rel = path.relative_to(root)
    for dep in deps:
        dep_path = Path(dep.rstrip("/"))
        if rel == dep_path or dep_path in rel.parents:
            return True
    return False




def missing_deps(module: str, deps: list[str], root: Path = ROOT) -> list[str]:
    """Project files imported by ``module`` that ``deps`` does not cover (sorted)."""
    return sorted(
        p.relative_to(root).as_posix() for p in import_closure(module, root)
        if not covered(p, deps, root)
    )


def write_deps(path: Path) -> None:
    """Rewrite each stage's code deps in dvc.yaml to its import closure."""
    text = path.read_text()
    spec = yaml.safe_load(text)
    for stage, module, deps in stage_entries(path):
        data_deps = [d for d in deps if d.split("/")[0] not in PACKAGES]
        code = sorted(p.relative_to(ROOT).as_posix() for p in import_closure(module))
        spec["stages"][stage]["deps"] = code + data_deps
    tmp = path.with_name(f".{path.name}.tmp")
    header = ("# Code deps of every stage = the project files it imports: keep them with\n"
              "# `python scripts/dvc_deps.py --write` (tests/test_dvc_deps.py checks them).\n")
    tmp.write_text(header + yaml.safe_dump(spec, sort_keys=False, width=100))
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="rewrite dvc.yaml's code deps")
    args = ap.parse_args(argv)
    dvc_yaml = ROOT / "dvc.yaml"
    if args.write:
        write_deps(dvc_yaml)
    bad = 0
    for stage, module, deps in stage_entries(dvc_yaml):
        for f in missing_deps(module, deps):
            print(f"dvc.yaml: stage {stage!r} imports {f} but does not depend on it")
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
