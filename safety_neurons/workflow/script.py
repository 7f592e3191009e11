"""What every Snakemake script does around its stage: log to the rule's ``log:``, use the job's threads, and
turn adapter files into adapter directories. Scripts stay thin: one ``with job(snakemake)`` block each."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from safety_neurons.files import UserError
from safety_neurons.workflow import layout, warm


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


@contextmanager
def job(smk, *, torch_threads: bool = True) -> Iterator[logging.Logger]:
    """The frame of a stage script: logging to the rule's log and, for model stages, torch on the job's threads
    (table, figure and judge jobs pass ``torch_threads=False`` and never import torch). Under ``safety-neurons
    warm`` the script runs in the warm worker's fork (its imports go inside the block, so the client skips
    them). A known mistake (``UserError``) ends the job with one line naming its culprit; its traceback stays
    in the log."""
    warm.offload()
    try:
        with to_file(smk.log[0]) as log:
            if torch_threads:
                import torch

                torch.set_num_threads(smk.threads)
            yield log
            if warm.in_worker():
                log.info(warm.usage())
    except UserError as e:
        raise SystemExit(f"error: {e} (traceback: {smk.log[0]})") from None


def adapter_dirs(files) -> list[str]:
    """Adapter directories from the rule's adapter files (inputs name ``adapter_model.safetensors``)."""
    return [str(Path(f).parent) for f in files]


def paths(files) -> list[str]:
    """One input's paths as a list, whether the rule gave it one file or several."""
    return [files] if isinstance(files, str) else list(files)


def run_settings(smk, stage: str) -> dict:
    """A training job's run-only settings (logging and checkpoint intervals) for its model, read from the config
    rather than params so that changing them reruns nothing."""
    hp = layout.training(smk.config, stage, smk.wildcards.model)
    return {k: hp[k] for k in layout.RUN_ONLY}
