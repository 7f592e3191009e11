"""Send a stage's logging, warnings and prints to its Snakemake ``log:`` file."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def to_file(path: str | Path) -> Iterator[logging.Logger]:
    """Within the block, stdout, stderr and the root logger (INFO) write to ``path``, a failure's traceback too."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", buffering=1) as f:
        old = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = f
        handler = logging.StreamHandler(f)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            yield logging.getLogger("safety_neurons")
        except BaseException:
            logging.getLogger("safety_neurons").exception("stage failed")  # the traceback lands in the log
            raise
        finally:
            root.removeHandler(handler)
            sys.stdout, sys.stderr = old
