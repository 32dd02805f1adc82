"""Notice a peer that stops answering in seconds, not after a whole batch's read timeout.

A ``/run-batch`` request may legitimately take ``timeout_s`` × its chunk count, so its read
timeout cannot tell a busy bridge from a frozen one (SIGSTOPped, swapped out, its host
gone without a FIN). :func:`watched_send` runs the request in a helper thread and, while it
is outstanding, asks the peer a cheap question (``GET /health`` with a short timeout) every
few seconds. Any answer, even a 503, proves the peer alive; ``liveness_s`` seconds without
one abort the request (the caller's ``cut`` shuts its connections down, so the helper thread
ends too) and raise :class:`~qcos.exceptions.PeerSilentError`, so the caller re-queues the
chunks elsewhere.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from qcos.exceptions import PeerSilentError

logger = logging.getLogger(__name__)

#: default seconds of silence after which a peer counts as hung
DEFAULT_LIVENESS_S = 10.0

T = TypeVar("T")


def probe_period(liveness_s: float) -> float:
    """Seconds between probes (and each probe's timeout): four tries fit in one liveness window."""
    return max(0.2, liveness_s / 4)


def watched_send(
    send: Callable[[], T],
    alive: Callable[[float], bool],
    *,
    liveness_s: float,
    what: str,
    cut: Callable[[], None],
) -> T:
    """``send()`` in a helper thread while ``alive(timeout)`` probes the peer; its result.

    Exceptions of ``send`` propagate. Silence for ``liveness_s`` calls ``cut()``, which must
    make ``send`` return (shut its connections down), and raises PeerSilentError.
    """
    box: dict[str, T] = {}
    failure: list[BaseException] = []
    done = threading.Event()

    def run() -> None:
        try:
            box["value"] = send()
        except BaseException as error:  # handed to the caller
            failure.append(error)
        finally:
            done.set()

    threading.Thread(target=run, daemon=True, name="qcos-watched-request").start()
    period = probe_period(liveness_s)
    last_answer = time.monotonic()
    while not done.wait(period):
        if alive(period):
            last_answer = time.monotonic()
            continue
        silent = time.monotonic() - last_answer
        if silent >= liveness_s and not done.is_set():
            cut()
            done.wait(period)
            logger.warning("%s: no answer for %.0fs (liveness_s=%g); giving its work to other nodes",
                           what, silent, liveness_s)
            raise PeerSilentError(f"{what} stopped answering: neither the request nor /health answered for "
                                  f"{silent:.0f}s (liveness_s={liveness_s:g}); its chunks run elsewhere")
    if failure:
        raise failure[0]
    return box["value"]
