"""Progress lines for long stages (training, generation sweeps): how far, how fast, how long still."""

from __future__ import annotations


def progress(done: int, total: int, seconds: float, what: str) -> str:
    """``what; 3/10 (30%) in 12 s, 4.0 s each, ETA 28 s`` after ``done`` of ``total`` units took ``seconds``."""
    each, eta = seconds / done, seconds / done * (total - done)
    return f"{what}; {done}/{total} ({done / total:.0%}) in {seconds:.0f} s, {each:.1f} s each, ETA {eta:.0f} s"
