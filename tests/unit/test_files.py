"""Outputs appear whole or not at all; a failing stage leaves its traceback in its log."""

from __future__ import annotations

import json

import pytest

from safety_neurons.files import staged_dir, write_json
from safety_neurons.workflow.script import to_file


def test_staged_dir_moves_files_only_on_success(tmp_path):
    final = tmp_path / "adapter"
    with pytest.raises(RuntimeError):
        with staged_dir(final) as tmp:
            (tmp / "adapter_model.safetensors").write_text("half")
            raise RuntimeError("killed")
    assert not final.exists() and list(tmp_path.iterdir()) == []
    with staged_dir(final) as tmp:
        (tmp / "a.json").write_text("{}")
    assert [p.name for p in final.iterdir()] == ["a.json"] and len(list(tmp_path.iterdir())) == 1


def test_write_json_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    write_json({"a": 1}, path)
    monkeypatch.setattr(json, "dump", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        write_json({"a": 2}, path)
    assert json.loads(path.read_text()) == {"a": 1} and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_failure_traceback_lands_in_the_log(tmp_path):
    log = tmp_path / "logs" / "stage.log"
    with pytest.raises(KeyError):
        with to_file(log) as logger:
            logger.info("starting")
            print("a print")
            {}["threshold"]
    text = log.read_text()
    assert "starting" in text and "a print" in text and "KeyError: 'threshold'" in text


def test_atomic_files_get_umask_permissions(tmp_path):
    """Outputs are readable like any other file (mkstemp's 0600 would hide results from group members)."""
    import os

    from safety_neurons.files import atomic_text

    old = os.umask(0o022)
    try:
        with atomic_text(tmp_path / "x.csv") as f:
            f.write("a\n")
    finally:
        os.umask(old)
    assert (tmp_path / "x.csv").stat().st_mode & 0o777 == 0o644
