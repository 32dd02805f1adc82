"""When a ``custom_rest`` request is sent again: exponential backoff with jitter, typed decisions."""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qcos.exceptions import RetryDecision
from qcos.providers.rest.wire import response_decision

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger(__name__)

#: The longest pause a server's ``Retry-After`` may ask for.
MAX_RETRY_AFTER_S = 10.0


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` more attempts after the first, the n-th after ``backoff_s`` × 2^(n-1) × [0.5, 1.5).

    A connection that fails (refused, reset, DNS, connect timeout) and a 429/500/502/503 answer
    are retried (:func:`qcos.exceptions.retry_decision`); a read or write timeout, a 504, a 4xx
    and an error the bridge labels as caused by the circuit are not.
    """

    retries: int = 2
    backoff_s: float = 0.25

    @property
    def attempts(self) -> int:
        return self.retries + 1

    def transport_decision(self, error: httpx.TransportError) -> RetryDecision:
        """A timed-out read or write (the server is slow, not gone) is not retried; other failures are."""
        import httpx

        if isinstance(error, (httpx.ReadTimeout, httpx.WriteTimeout)):
            return RetryDecision.ELSEWHERE
        return RetryDecision.RETRY

    def retries_answer(self, response: httpx.Response, attempt: int) -> bool:
        """Whether attempt ``attempt`` (0-based) got an error answer that is worth another attempt."""
        if response.status_code == 200 or attempt >= self.retries:
            return False
        return response_decision(response) is RetryDecision.RETRY

    def delay(self, attempt: int, response: httpx.Response | None) -> float:
        """Seconds to wait before attempt ``attempt`` (1-based retry), honouring ``Retry-After`` up to 10 s."""
        delay = self.backoff_s * 2.0 ** (attempt - 1) * (0.5 + random.random())
        if response is not None:
            retry_after: str = response.headers.get("retry-after", "")
            if retry_after.isdigit():
                delay = max(delay, min(float(retry_after), MAX_RETRY_AFTER_S))
        return delay

    def pause(self, attempt: int, response: httpx.Response | None) -> None:
        time.sleep(self.delay(attempt, response))
