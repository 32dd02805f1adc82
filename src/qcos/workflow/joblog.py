"""Logging for a Snakemake job: stderr and the ``qcos`` loggers go to the rule's log file."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

from qcos.redact import RedactingFilter

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def job_log(path: str | Path, level: int = logging.INFO) -> Iterator[None]:
    """Send stderr and log records to ``path`` for the duration of a job (tracebacks included)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        handler = logging.StreamHandler(handle)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(RedactingFilter())  # no key or password reaches a job log
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.WARNING)  # Qiskit logs every transpiler pass at INFO
        logging.getLogger("qcos").setLevel(level)
        old_stderr = sys.stderr
        sys.stderr = handle
        try:
            yield
        except BaseException:
            logging.getLogger("qcos.workflow").exception("job failed")
            raise
        finally:
            sys.stderr = old_stderr
            root.removeHandler(handler)
