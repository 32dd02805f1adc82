"""Bearer-token checks for the bridge, in constant time and without ever logging the key."""

from __future__ import annotations

import hmac
import logging

logger = logging.getLogger(__name__)


class BearerAuth:
    """Compare ``Authorization: Bearer <token>`` against the configured key (if any)."""

    def __init__(self, key: str | None) -> None:
        self._key = key.encode("utf-8") if key else None

    @property
    def enabled(self) -> bool:
        return self._key is not None

    def allows(self, authorization: str | None) -> bool:
        """True when no key is set, or the header carries exactly the key as a Bearer token."""
        if self._key is None:
            return True
        if not authorization:
            return False
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(token.strip().encode("utf-8", "surrogateescape"), self._key)

    def __repr__(self) -> str:  # never show the key
        return f"<BearerAuth {'on' if self.enabled else 'off'}>"
