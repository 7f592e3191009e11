"""Code versions for Snakemake's params trigger: a stage reruns when the code it runs changes.

Snakemake tracks a ``script:``'s mtime only, not the package modules it imports. The version of a stage is
a sha256 over the syntax trees of its script and of every ``safety_neurons`` module reachable from it by
imports, so comments, docstring-free reformatting and checkouts that only touch mtimes change nothing.

Every Snakemake start (each cluster job's too) versions every stage. Parsing the ~90 modules took 0.7 s of
each start, so a module's imports and tree are kept in ``<root>/.snakemake/code_versions.json``, keyed by
its name and the sha256 of its source: a start that finds every module there reads files and hashes them.
"""

from __future__ import annotations

import ast
import atexit
import hashlib
import json
from pathlib import Path

from safety_neurons.files import write_json

PACKAGE = "safety_neurons"
CACHE = Path(".snakemake") / "code_versions.json"


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


class _Parsed:
    """The modules parsed so far, per root, read from and written back to ``root / CACHE`` (the entries this
    process used, so the file follows the sources; unreadable or unwritable: parsed every time)."""

    def __init__(self) -> None:
        self.roots: dict[Path, tuple[dict, dict, set]] = {}  # root -> (read or parsed, used, keys read)
        atexit.register(self.save)

    def get(self, root: Path, path: Path, name: str, is_package: bool) -> tuple[list[str], str]:
        """A module's package imports and normalized tree."""
        if root not in self.roots:
            try:
                known = json.loads((root / CACHE).read_text())
            except (OSError, ValueError):
                known = {}
            self.roots[root] = (known, {}, set(known))
        known, used, _ = self.roots[root]
        source = path.read_text()
        key = f"{name}:{int(is_package)}:{hashlib.sha256(source.encode()).hexdigest()}"
        if key not in known:
            tree = ast.parse(source)
            known[key] = [sorted(_imports(tree, name, is_package)), _normalized(tree)]
        used[key] = known[key]
        return used[key]

    def save(self) -> None:
        """Write each root's used entries if they differ from what was read (atomically: processes race)."""
        for root, (_, used, read) in self.roots.items():
            if used.keys() == read:
                continue
            try:
                write_json(used, root / CACHE)
            except OSError:  # a read-only checkout, or a racing writer removed our temporary file
                pass
        self.roots.clear()


_PARSED = _Parsed()


def code_version(script: str | Path, root: str | Path) -> str:
    """A short hash of a stage's script and every package module it reaches; ``root`` holds the package."""
    root = Path(root)
    seen: dict[str, str] = {}
    todo = [("__script__", Path(script), False)]
    while todo:
        name, path, is_pkg = todo.pop()
        if name in seen:
            continue
        imports, seen[name] = _PARSED.get(root, path, name, is_pkg)
        for dotted in imports:
            f = _module_file(root, dotted)
            if f is not None and dotted not in seen:
                todo.append((dotted, f, f.name == "__init__.py"))
    h = hashlib.sha256()
    for name in sorted(seen):
        h.update(name.encode() + b"\0" + seen[name].encode() + b"\0")
    return h.hexdigest()[:16]
