"""Code versions: what a stage runs (its script and the package modules it reaches), not how it is written."""

from __future__ import annotations

import os
import subprocess
import sys
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
    """Rewrite a file with a new mtime (as an editor does; the version follows the source, not the mtime)."""
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


# In a fresh interpreter: the script's version and how many modules it parsed.
VERSION_IN_A_NEW_PROCESS = """
import ast, sys
from safety_neurons.workflow import provenance
parse, parsed = ast.parse, []
ast.parse = lambda source: parsed.append(source) or parse(source)
print(provenance.code_version(sys.argv[1], sys.argv[2]), len(parsed))
"""


def test_a_new_process_reads_unchanged_modules_from_the_cache_and_parses_changed_ones(tmp_path):
    """Each Snakemake start versions every stage: modules parsed once are read back from
    .snakemake/code_versions.json (keyed by source), and a changed module is parsed again."""
    script = _tree(tmp_path)

    def run() -> tuple[str, int]:
        args = [sys.executable, "-c", VERSION_IN_A_NEW_PROCESS, str(script), str(tmp_path)]
        version, parsed = subprocess.run(args, capture_output=True, text=True, check=True).stdout.split()
        return version, int(parsed)

    first = run()
    assert first == (code_version(script, tmp_path), 3)  # script, a, b; the same version as in this process
    assert (tmp_path / ".snakemake" / "code_versions.json").is_file()
    assert run() == (first[0], 0)
    _edit(tmp_path / "safety_neurons" / "b.py", "def g():\n    return 2\n")
    changed = run()
    assert changed[0] != first[0] and changed[1] == 1
    assert run() == (changed[0], 0)
