"""Code versions for Snakemake's params trigger: a stage reruns when the code it runs changes.

Snakemake tracks a ``script:``'s mtime only, not the package modules it imports. The version of a stage is
a sha256 over the syntax trees of its script and of every ``safety_neurons`` module reachable from it by
imports, so comments, docstring-free reformatting and checkouts that only touch mtimes change nothing.
"""

from __future__ import annotations

import ast
import hashlib
from functools import cache
from pathlib import Path

PACKAGE = "safety_neurons"


def _module_file(root: Path, dotted: str) -> Path | None:
    """The file of a package module (``a.b`` -> a/b.py or a/b/__init__.py), if it exists."""
    base = root.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Dotted names of the package modules a module imports (absolute or relative, at any depth)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == PACKAGE}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = module.split(".")
                anchor = parts if is_package else parts[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base.split(".")[0] == PACKAGE:
                out.add(base)
                out |= {f"{base}.{a.name}" for a in node.names}
    return out


def _normalized(tree: ast.AST) -> str:
    """The syntax tree without docstrings: what the code does, not how it is written or described."""
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(getattr(body[0], "value", None), ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, include_attributes=False)


@cache
def _module(path: Path, mtime_ns: int, name: str, is_package: bool) -> tuple[frozenset[str], str]:
    """A module's package imports and normalized tree, parsed once per version of the file: every rule's
    ``code()`` walks the same modules, and a Snakemake start (each SLURM job's too) evaluates all of them."""
    tree = ast.parse(path.read_text())
    return frozenset(_imports(tree, name, is_package)), _normalized(tree)


def code_version(script: str | Path, root: str | Path) -> str:
    """A short hash of a stage's script and every package module it reaches; ``root`` holds the package."""
    root = Path(root)
    seen: dict[str, str] = {}
    todo = [("__script__", Path(script), False)]
    while todo:
        name, path, is_pkg = todo.pop()
        if name in seen:
            continue
        imports, seen[name] = _module(path, path.stat().st_mtime_ns, name, is_pkg)
        for dotted in imports:
            f = _module_file(root, dotted)
            if f is not None and dotted not in seen:
                todo.append((dotted, f, f.name == "__init__.py"))
    h = hashlib.sha256()
    for name in sorted(seen):
        h.update(name.encode() + b"\0" + seen[name].encode() + b"\0")
    return h.hexdigest()[:16]
