"""Files on disk: outputs that appear whole or not at all (write into a temporary sibling, then rename into
place), and JSONL records written and read back."""

from __future__ import annotations

import glob
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO


class UserError(ValueError):
    """A mistake in what the user gave (config, data, an artifact on disk): a stage ends with this one line,
    which names the key, file or line; the traceback goes to the rule's log only."""


class DataError(UserError):
    """Input data that cannot be normalized; the message names file (or hub id), row and key."""


class ArtifactError(UserError):
    """A model, adapter, score or neuron-set file that is missing, truncated or does not fit; names the path."""


class MissingArtifact(ArtifactError, FileNotFoundError):
    """An artifact that is not on disk."""


def load_tensors(path: str | Path) -> dict:
    """A safetensors file's tensors; a missing or truncated file is an ``ArtifactError`` naming the path."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not Path(path).is_file():
        raise MissingArtifact(f"{path}: no such file")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise ArtifactError(f"{path}: not a readable safetensors file ({e}); delete it and rerun its stage") from None


@contextmanager
def staged_dir(final_dir: str | Path) -> Iterator[Path]:
    """A temporary directory next to ``final_dir``; on success it becomes ``final_dir`` with one rename, so a
    kill leaves either nothing or the whole directory. Into a directory that already holds other files (an
    adapter's directory beside its checkpoints) the files are moved one by one."""
    final = Path(final_dir)
    final.parent.mkdir(parents=True, exist_ok=True)
    _drop_stale(final)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        yield tmp
        tmp.chmod(0o777 & ~_umask())
        if final.is_dir() and not any(final.iterdir()):
            final.rmdir()
        if not final.exists():
            os.rename(tmp, final)
            return
        for f in sorted(tmp.iterdir()):
            os.replace(f, final / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _drop_stale(path: Path) -> None:
    """Remove the temporary siblings a killed writer of ``path`` left behind (one writer per output at a time)."""
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*"):
        shutil.rmtree(stale) if stale.is_dir() else stale.unlink(missing_ok=True)


def _umask() -> int:
    """The process umask (reading it means setting it; set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path``, renamed onto it when the block succeeds and removed when it fails."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _drop_stale(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_text(path: str | Path) -> Iterator[TextIO]:
    """A text file that appears at ``path`` complete (flushed and fsynced) or not at all."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        yield f
        f.flush()
        os.fsync(f.fileno())


def write_json(obj: object, path: str | Path) -> None:
    """Write JSON atomically."""
    with atomic_text(path) as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def write_jsonl(records: Iterable[dict], path: str | os.PathLike) -> None:
    """Write one JSON object per line atomically (temp file, fsync, os.replace): never a partial file."""
    with atomic_text(path) as f:
        for record in records:
            f.write(json.dumps(record) + "\n")


def read_bytes(path: str | os.PathLike) -> bytes:
    """File bytes; a missing or unreadable file is a DataError naming it."""
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read file ({e.strerror or e})") from e


def jsonl_objects(text: str, origin: str) -> list[tuple[int, Any]]:
    """(line number, parsed value) per non-blank line; splits on '\\n' only, as U+2028 may occur in text."""
    out = []
    for n, line in enumerate(text.split("\n"), 1):
        if line.strip():
            try:
                out.append((n, json.loads(line)))
            except json.JSONDecodeError as e:
                raise DataError(f"{origin}: line {n}: malformed JSON ({e.msg})") from e
    return out


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Objects of a JSONL file; a malformed line or a non-object is a DataError naming file and line."""
    try:
        text = read_bytes(path).decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 ({e})") from e
    records = []
    for n, obj in jsonl_objects(text, str(path)):
        if not isinstance(obj, dict):
            raise DataError(f"{path}: line {n}: expected a JSON object, got {type(obj).__name__}")
        records.append(obj)
    return records
