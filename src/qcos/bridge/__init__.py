"""The qcos REST bridge: the spec's HTTP contract served by warm Aer worker processes.

Run it with ``qcos bridge serve``; the heavy parts (FastAPI, uvicorn, Aer) are imported
only by the modules that need them, so importing this package is cheap.
"""

from __future__ import annotations

from qcos.bridge.settings import API_KEY_ENV, BridgeSettings, load_api_key

__all__ = ["API_KEY_ENV", "BridgeSettings", "load_api_key"]
