"""The global, thread-safe :class:`NodeProviderRegistry` of provider classes by name."""

from __future__ import annotations

import builtins
import importlib
import inspect
import logging
import re
import threading
from collections.abc import Mapping
from importlib.metadata import entry_points
from types import MappingProxyType
from typing import ClassVar

from qcos.exceptions import ProviderRegistrationError, UnknownProviderError
from qcos.providers.base import NodeProvider

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "qcos.providers"

#: Built-in providers, imported on first use so that ``import qcos`` stays cheap and a
#: missing optional dependency only affects the provider that needs it.
BUILTIN_PROVIDERS: dict[str, str] = {
    "local_cpu": "qcos.providers.local:LocalCPUProvider",
    "local_gpu": "qcos.providers.local:LocalGPUProvider",
    "local_gpu_aer": "qcos.providers.local:LocalGPUProvider",
    "local_gpu_mps": "qcos.providers.local:LocalMPSProvider",
    "mock": "qcos.providers.mock:MockProvider",
    "custom_rest": "qcos.providers.rest:CustomRESTProvider",
    "ssh_bridge": "qcos.providers.ssh_bridge:SSHBridgeProvider",
    "slurm": "qcos.providers.slurm.provider:SlurmProvider",
    "lumi_amd_gpu": "qcos.providers.lumi:LumiAMDGPUProvider",
}

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def _validate_class(name: str, cls: object) -> type[NodeProvider]:
    if not inspect.isclass(cls) or not issubclass(cls, NodeProvider):
        raise ProviderRegistrationError(
            f"provider {name!r}: expected a subclass of qcos.NodeProvider, got {cls!r}"
        )
    display = getattr(cls, "DISPLAY_NAME", "")
    if not isinstance(display, str) or not display.strip():
        raise ProviderRegistrationError(
            f"provider {name!r}: {cls.__name__} must set a non-empty DISPLAY_NAME class attribute"
        )
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
        raise ProviderRegistrationError(
            f"provider {name!r}: {cls.__name__} does not implement {missing}"
        )
    return cls


def _import_dotted(path: str) -> object:
    module_name, _, attribute = path.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute) if attribute else module


class _RegistryType(type):
    """Lets ``name in NodeProviderRegistry`` ask the registry (``in`` looks on the class's type)."""

    def __contains__(cls, name: object) -> bool:
        return isinstance(name, str) and name in NodeProviderRegistry.names()


class NodeProviderRegistry(metaclass=_RegistryType):
    """Provider classes by name; every method is a classmethod and safe from any thread.

    ``"name" in NodeProviderRegistry`` says whether a name is registered (nothing is imported).

    Values are classes or lazy ``"module:Class"`` paths (built-ins and entry points),
    resolved and validated on first use.
    """

    _providers: ClassVar[dict[str, type[NodeProvider] | str]] = dict(BUILTIN_PROVIDERS)
    _lock: ClassVar[threading.RLock] = threading.RLock()
    _entry_points_loaded: ClassVar[bool] = False

    #: A read-only live view of the registered names (values may be lazy paths).
    providers: ClassVar[Mapping[str, type[NodeProvider] | str]] = MappingProxyType(_providers)

    @classmethod
    def register(
        cls, name: str, provider_cls: type[NodeProvider] | str, *, clobber: bool = False
    ) -> None:
        """Register ``provider_cls`` (a class or ``"module:Class"``) under ``name``.

        Re-registering a name with the same class, or with a redefinition of it (same
        module and qualified name, as when a notebook cell runs again), replaces it
        quietly; a different class needs ``clobber=True``.
        """
        if not isinstance(name, str) or not _NAME.match(name):
            raise ProviderRegistrationError(
                f"invalid provider name {name!r}: use letters, digits, '_', '-' or '.'"
            )
        if not isinstance(provider_cls, str):
            _validate_class(name, provider_cls)
        with cls._lock:
            cls._load_entry_points()
            current = cls._providers.get(name)
            if current is not None and not clobber and not _same_provider(current, provider_cls):
                raise ProviderRegistrationError(
                    f"provider name {name!r} is already registered to {_describe(current)}; "
                    f"pass clobber=True to replace it or choose another name"
                )
            cls._providers[name] = provider_cls
        logger.debug("registered provider %r -> %s", name, _describe(provider_cls))

    @classmethod
    def unregister(cls, name: str) -> None:
        """Remove ``name``; unknown names raise :class:`UnknownProviderError`."""
        with cls._lock:
            cls._load_entry_points()
            if name not in cls._providers:
                raise cls._unknown(name)
            del cls._providers[name]

    @classmethod
    def get(cls, name: str) -> type[NodeProvider]:
        """Return the provider class for ``name`` (importing it on first use)."""
        with cls._lock:
            cls._load_entry_points()
            try:
                entry = cls._providers[name]
            except (KeyError, TypeError):
                raise cls._unknown(name) from None
        if isinstance(entry, str):
            try:
                resolved = _import_dotted(entry)
            except ImportError as error:
                raise UnknownProviderError(
                    f"provider {name!r} ({entry}) cannot be imported: {error}. "
                    f"Install what it needs, e.g. `pip install qcos` with its dependencies"
                ) from error
            provider_cls = _validate_class(name, resolved)
            with cls._lock:
                if cls._providers.get(name) == entry:
                    cls._providers[name] = provider_cls
            return provider_cls
        return entry

    @classmethod
    def list(cls) -> dict[str, str]:
        """``{name: DISPLAY_NAME}`` of every registered provider, sorted by name."""
        with cls._lock:
            cls._load_entry_points()
            names = sorted(cls._providers)
        listing: dict[str, str] = {}
        for name in names:
            try:
                listing[name] = cls.get(name).DISPLAY_NAME
            except UnknownProviderError as error:
                listing[name] = f"(unavailable: {error})"
            except Exception as error:  # a broken third-party provider must not hide the rest
                listing[name] = f"(unavailable: {type(error).__name__}: {error})"
        return listing

    @classmethod
    def names(cls) -> builtins.list[str]:  # `list` here is the classmethod above
        """Registered names, sorted, without importing anything."""
        with cls._lock:
            cls._load_entry_points()
            return sorted(cls._providers)

    @classmethod
    def _unknown(cls, name: object) -> UnknownProviderError:
        known = ", ".join(sorted(cls._providers))
        return UnknownProviderError(
            f"unknown provider {name!r}; registered providers: {known}. "
            f"Register yours with NodeProviderRegistry.register({name!r}, YourProvider) "
            f"or through the {ENTRY_POINT_GROUP!r} entry-point group"
        )

    @classmethod
    def _load_entry_points(cls) -> None:
        """Add providers that installed packages declare (once, lazily)."""
        if cls._entry_points_loaded:
            return
        cls._entry_points_loaded = True
        for entry_point in entry_points(group=ENTRY_POINT_GROUP):
            if entry_point.name in cls._providers:
                logger.warning(
                    "entry point %s=%s ignored: provider %r is already registered",
                    entry_point.name, entry_point.value, entry_point.name,
                )
                continue
            cls._providers[entry_point.name] = entry_point.value

    @classmethod
    def _snapshot(cls) -> dict[str, type[NodeProvider] | str]:
        """Copy of the current state (for tests that must restore it)."""
        with cls._lock:
            cls._load_entry_points()
            return dict(cls._providers)

    @classmethod
    def _restore(cls, snapshot: Mapping[str, type[NodeProvider] | str]) -> None:
        with cls._lock:
            cls._providers.clear()
            cls._providers.update(snapshot)


def _same_provider(current: type[NodeProvider] | str, new: type[NodeProvider] | str) -> bool:
    if current is new or current == new:
        return True
    if isinstance(current, str) or isinstance(new, str):
        return False
    return (current.__module__, current.__qualname__) == (new.__module__, new.__qualname__)


def _describe(provider: type[NodeProvider] | str) -> str:
    if isinstance(provider, str):
        return provider
    return f"{provider.__module__}.{provider.__qualname__}"
