"""Code versions: what a stage runs (its script and the package modules it reaches), not how it is written."""

from __future__ import annotations

import os
from pathlib import Path

from safety_neurons.workflow.provenance import code_version


def _tree(root: Path) -> Path:
    """A script importing safety_neurons.a, which imports .b (relative); safety_neurons.c is not reached."""
    pkg = root / "safety_neurons"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text('"""A."""\nfrom .b import g\n\ndef f():\n    return g()\n')
    (pkg / "b.py").write_text("def g():\n    return 1\n")
    (pkg / "c.py").write_text("def h():\n    return 2\n")
    script = root / "script.py"
    script.write_text("from safety_neurons.a import f\nf()\n")
    return script


def _edit(path: Path, text: str) -> None:
    """Rewrite a file with a new mtime (the version cache keys on it)."""
    stat = path.stat()
    path.write_text(text)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


def test_code_version_follows_imports_and_ignores_comments_and_docstrings(tmp_path):
    script = _tree(tmp_path)
    before = code_version(script, tmp_path)
    assert code_version(script, tmp_path) == before
    _edit(
        tmp_path / "safety_neurons" / "a.py",
        '"""Another docstring."""\nfrom .b import g  # note\n\ndef f():\n    return g()\n',
    )
    _edit(tmp_path / "safety_neurons" / "c.py", "def h():\n    return 3\n")  # not imported by the script
    assert code_version(script, tmp_path) == before
    _edit(tmp_path / "safety_neurons" / "b.py", "def g():\n    return 2\n")  # reached through a relative import
    assert code_version(script, tmp_path) != before
