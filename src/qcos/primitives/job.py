"""``QcosJob``: the JobV1 that ``QcosBackend.run`` returns, running in a background thread.

Why a thread: the cluster work happens in DistributedQVM's node threads and worker
processes; the job only has to hand back control at once, as Qiskit backends do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from qiskit.providers import JobStatus, JobV1
from qiskit.providers.exceptions import JobTimeoutError
from qiskit.result import Result

logger = logging.getLogger(__name__)


class QcosJob(JobV1):
    """A submitted ``QcosBackend.run``: ``result()`` waits for it and returns a Qiskit ``Result``."""

    def __init__(self, backend: Any, job_id: str, work: Callable[[], Result]) -> None:
        super().__init__(backend, job_id)
        self._work = work
        self._future: Future[Result] | None = None

    def submit(self) -> None:
        if self._future is not None:
            raise RuntimeError(f"job {self.job_id()} was submitted already")
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"qcos-job-{self.job_id()[:8]}")
        self._future = executor.submit(self._work)
        executor.shutdown(wait=False)

    def result(self, timeout: float | None = None) -> Result:
        """The job's Result; raises what the run raised (e.g. ``DispatchError``)."""
        try:
            return self._submitted().result(timeout)
        except FutureTimeout as error:
            raise JobTimeoutError(f"job {self.job_id()} did not finish within {timeout}s") from error

    def status(self) -> JobStatus:
        future = self._submitted()
        if future.cancelled():
            return JobStatus.CANCELLED
        if future.running():
            return JobStatus.RUNNING
        if not future.done():
            return JobStatus.QUEUED
        return JobStatus.ERROR if future.exception() is not None else JobStatus.DONE

    def cancel(self) -> bool:
        """Cancel a job that has not started; a running job runs to its end."""
        return self._submitted().cancel()

    def _submitted(self) -> Future[Result]:
        if self._future is None:
            raise RuntimeError(f"job {self.job_id()} has not been submitted; call submit()")
        return self._future
