"""What the Slurm site allows (``MaxArraySize``), read once from ``scontrol show config``."""

from __future__ import annotations

import functools
import logging
import re
import subprocess

logger = logging.getLogger(__name__)

_MAX_ARRAY = re.compile(r"^\s*MaxArraySize\s*=\s*(\d+)", re.MULTILINE)


def parse_max_array_size(text: str) -> int | None:
    """``MaxArraySize`` from ``scontrol show config`` output (tasks per array = that value), or None."""
    match = _MAX_ARRAY.search(text)
    return int(match.group(1)) if match and int(match.group(1)) > 0 else None


@functools.lru_cache(maxsize=1)
def site_max_array_size() -> int | None:
    """This site's ``MaxArraySize`` (array indices run 0..MaxArraySize-1), None if unknown."""
    try:
        proc = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError) as error:
        logger.debug("scontrol show config failed: %s", error)
        return None
    value = parse_max_array_size(proc.stdout) if proc.returncode == 0 else None
    logger.debug("site MaxArraySize: %s", value)
    return value
