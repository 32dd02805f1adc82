"""``ClusterBuilder`` (lazy plan of provider requests) and the ``QPURegistry`` it builds."""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qcos.exceptions import ClusterBuildError, ConfigError, QcosError
from qcos.providers.base import NodeProvider
from qcos.providers.registry import NodeProviderRegistry
from qcos.providers.spec import QPUNodeSpec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class NodeHandle:
    """A node and the provider instance that runs it."""

    spec: QPUNodeSpec
    provider: NodeProvider
    provider_name: str


@dataclass(frozen=True)
class ProviderRequest:
    """One ``ClusterBuilder.add`` call, recorded until ``build()``."""

    name: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)


class QPURegistry:
    """The built cluster: node id -> (spec, provider). Close it to release providers."""

    def __init__(self, handles: Iterable[NodeHandle]) -> None:
        self._handles: dict[str, NodeHandle] = {}
        for handle in handles:
            self._handles[handle.spec.node_id] = handle
        self._lock = threading.Lock()

    # -- lookups -------------------------------------------------------------
    @property
    def nodes(self) -> list[QPUNodeSpec]:
        return [handle.spec for handle in self._handles.values()]

    @property
    def handles(self) -> list[NodeHandle]:
        return list(self._handles.values())

    @property
    def providers(self) -> list[NodeProvider]:
        unique: dict[int, NodeProvider] = {}
        for handle in self._handles.values():
            unique.setdefault(id(handle.provider), handle.provider)
        return list(unique.values())

    def __len__(self) -> int:
        return len(self._handles)

    def __iter__(self) -> Iterator[QPUNodeSpec]:
        return iter(self.nodes)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._handles

    def __getitem__(self, node_id: str) -> QPUNodeSpec:
        return self.handle(node_id).spec

    def handle(self, node_id: str) -> NodeHandle:
        try:
            return self._handles[node_id]
        except KeyError:
            raise KeyError(f"no node {node_id!r} in this cluster; nodes: {', '.join(self._handles)}") from None

    def provider_for(self, node_id: str) -> NodeProvider:
        return self.handle(node_id).provider

    def online_nodes(self) -> list[QPUNodeSpec]:
        return [spec for spec in self.nodes if spec.online]

    # -- health and reports -------------------------------------------------
    def refresh_health(self) -> dict[str, bool]:
        """Re-run every provider's health check; nodes of failing providers go offline."""
        results: dict[str, bool] = {}
        for provider in self.providers:
            healthy, reason = check_health(provider)
            for handle in self._handles.values():
                if handle.provider is provider:
                    if healthy and handle.spec.offline_reason and handle.spec.offline_reason.startswith("health check"):
                        handle.spec.online, handle.spec.offline_reason = True, None
                    elif not healthy:
                        handle.spec.mark_offline(reason)
                    results[handle.spec.node_id] = handle.spec.online
        return results

    def status_report(self) -> dict[str, Any]:
        """Counts and per-node state, without credentials (safe to log or store)."""
        nodes = [handle.spec.public_dict() | {"provider": handle.provider_name} for handle in self._handles.values()]
        online = [n for n in nodes if n["online"]]
        by_provider: dict[str, dict[str, Any]] = {}
        for node in nodes:
            entry = by_provider.setdefault(node["provider"], {"nodes": 0, "online": 0})
            entry["nodes"] += 1
            entry["online"] += int(node["online"])
        for handle in self._handles.values():
            entry = by_provider[handle.provider_name]
            if "status" not in entry:
                try:
                    state = handle.provider.status()
                except Exception as error:  # a report must not fail because a backend is down
                    state = {"error": f"{type(error).__name__}: {error}"}
                if state is not None:
                    entry["status"] = state
        return {
            "total_nodes": len(nodes),
            "online_nodes": len(online),
            "offline_nodes": len(nodes) - len(online),
            "total_physical_qubits": sum(n["max_qubits"] for n in online),
            "max_qubits": max((n["max_qubits"] for n in online), default=0),
            "providers": by_provider,
            "nodes": nodes,
        }

    # -- lifetime -----------------------------------------------------------
    def close(self) -> None:
        """Close every provider once (HTTP pools, tunnels, executors)."""
        for provider in self.providers:
            try:
                provider.close()
            except Exception:  # closing must not mask the run's own outcome
                logger.warning("closing provider %r failed", provider, exc_info=True)

    def __enter__(self) -> QPURegistry:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        online = sum(1 for spec in self.nodes if spec.online)
        return f"<QPURegistry {len(self)} nodes ({online} online)>"


class ClusterBuilder:
    """Collect provider requests with ``add()``; ``build()`` turns them into a cluster."""

    def __init__(self) -> None:
        self._requests: list[ProviderRequest] = []

    def add(self, name: str, **kwargs: Any) -> ClusterBuilder:
        """Record a request for provider ``name`` with its ``build_nodes`` kwargs."""
        if not isinstance(name, str) or not name:
            raise ClusterBuildError(f"ClusterBuilder.add: provider name must be a non-empty string, got {name!r}")
        self._requests.append(ProviderRequest(name, dict(kwargs)))
        return self

    @property
    def requests(self) -> list[ProviderRequest]:
        return list(self._requests)

    def describe(self) -> list[dict[str, Any]]:
        """The plan, without building anything; secrets are masked."""
        plan = []
        for request in self._requests:
            try:
                display = NodeProviderRegistry.get(request.name).DISPLAY_NAME
            except QcosError as error:
                display = f"(unavailable: {error})"
            plan.append({"provider": request.name, "display_name": display, "kwargs": mask_secrets(request.kwargs)})
        return plan

    def build(self, *, fallback_local: bool = False) -> QPURegistry:
        """Instantiate providers, build their nodes and run their health checks.

        A provider whose health check fails keeps its nodes, marked offline with the
        reason. ``fallback_local=True`` adds one ``local_cpu`` node when no node at all
        is online (the original system always did this; qcos makes it explicit).
        """
        if not self._requests:
            raise ClusterBuildError("ClusterBuilder.build(): nothing added; call .add('local_cpu') or another provider first")
        handles: list[NodeHandle] = []
        seen: dict[str, str] = {}
        try:
            for request in self._requests:
                for handle in _build_request(request):
                    owner = seen.get(handle.spec.node_id)
                    if owner is not None:
                        raise ClusterBuildError(
                            f"duplicate node id {handle.spec.node_id!r} from provider {request.name!r} "
                            f"(already built by {owner!r}); give each add() distinct node ids, e.g. an id prefix"
                        )
                    seen[handle.spec.node_id] = request.name
                    handles.append(handle)
        except BaseException:
            QPURegistry(handles).close()
            raise
        registry = QPURegistry(handles)
        if fallback_local and not registry.online_nodes():
            logger.warning("no node is online; falling back to one local_cpu node")
            fallback = [h for h in _build_request(ProviderRequest("local_cpu", {})) if h.spec.node_id not in seen]
            registry = QPURegistry(handles + fallback)
        report = registry.status_report()
        logger.info(
            "cluster built: %d nodes (%d online) from %s",
            report["total_nodes"], report["online_nodes"], ", ".join(r.name for r in self._requests),
        )
        return registry

    @classmethod
    def from_config(cls, entries: Sequence[Mapping[str, Any]], *, where: str = "cluster") -> ClusterBuilder:
        """Map ``[{provider: NAME, **kwargs}, ...]`` (cluster YAML, workflow config) onto ``add()``."""
        return load_cluster_config(entries, where=where)


def _build_request(request: ProviderRequest) -> list[NodeHandle]:
    provider_cls = NodeProviderRegistry.get(request.name)
    _check_kwargs(request.name, provider_cls, request.kwargs)
    try:
        provider = provider_cls()
    except Exception as error:
        raise ClusterBuildError(f"provider {request.name!r}: cannot instantiate {provider_cls.__name__}: {error}") from error
    try:
        nodes = provider.build_nodes(**request.kwargs)
    except (ValueError, TypeError, KeyError) as error:
        provider.close()
        raise ClusterBuildError(f"provider {request.name!r}: invalid arguments: {error}") from error
    except QcosError:
        provider.close()
        raise
    if not isinstance(nodes, (list, tuple)) or not nodes:
        provider.close()
        raise ClusterBuildError(
            f"provider {request.name!r}: build_nodes() returned {nodes!r}; it must return at least one QPUNodeSpec"
        )
    for node in nodes:
        if not isinstance(node, QPUNodeSpec):
            provider.close()
            raise ClusterBuildError(f"provider {request.name!r}: build_nodes() returned {type(node).__name__}, not QPUNodeSpec")
    healthy, reason = check_health(provider)
    if not healthy:
        logger.warning("provider %r is unhealthy, its %d node(s) are offline: %s", request.name, len(nodes), reason)
        for node in nodes:
            node.mark_offline(reason)
    return [NodeHandle(node, provider, request.name) for node in nodes]


def check_health(provider: NodeProvider) -> tuple[bool, str]:
    """Run a health check; exceptions count as unhealthy, with the exception as reason."""
    try:
        healthy = bool(provider.health_check())
    except Exception as error:
        return False, f"health check raised {type(error).__name__}: {error}"
    if healthy:
        return True, ""
    return False, f"health check failed: {provider.health_reason or 'provider reported unhealthy'}"


def accepted_arguments(provider_cls: type[NodeProvider]) -> dict[str, inspect.Parameter] | None:
    """The keyword arguments ``build_nodes`` takes, or None when it takes ``**kwargs``."""
    try:
        parameters = inspect.signature(provider_cls.build_nodes).parameters
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return None
    return {n: p for n, p in parameters.items() if n != "self" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


def argument_problem(name: str, provider_cls: type[NodeProvider], kwargs: Mapping[str, Any]) -> str | None:
    """Why ``kwargs`` do not fit provider ``name``'s ``build_nodes`` (listing the valid ones), or None."""
    valid = accepted_arguments(provider_cls)
    if valid is None:
        return None
    unknown = [key for key in kwargs if key not in valid]
    if not unknown:
        return None
    listed = ", ".join(n + ("" if p.default is p.empty else f" (default: {p.default!r})") for n, p in valid.items())
    return f"unknown argument(s) {unknown} for provider {name!r}; valid arguments: {listed}"


def _check_kwargs(name: str, provider_cls: type[NodeProvider], kwargs: Mapping[str, Any]) -> None:
    """Reject kwargs ``build_nodes`` does not take, listing the ones it does."""
    problem = argument_problem(name, provider_cls, kwargs)
    if problem is not None:
        raise ClusterBuildError(problem)


def mask_secrets(values: Mapping[str, Any]) -> dict[str, Any]:
    """Copy of kwargs with every secret masked, nested ones and URL user-info too (:func:`qcos.redact.mask`)."""
    from qcos.redact import mask

    return dict(mask(dict(values)))


def load_cluster_config(entries: Any, *, where: str = "cluster") -> ClusterBuilder:
    """Turn a list of ``{provider: NAME, ...kwargs}`` mappings into a ClusterBuilder.

    Every entry is checked without building anything: a known provider that imports, and
    arguments its ``build_nodes`` takes; ConfigError names the entry (``where[1].provider``).
    """
    if not isinstance(entries, (list, tuple)) or not entries:
        raise ConfigError(f"{where}: expected a non-empty list of {{provider: NAME, ...}} entries, got {entries!r}")
    builder = ClusterBuilder()
    known = NodeProviderRegistry.names()
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or "provider" not in entry:
            raise ConfigError(f"{where}[{index}]: expected a mapping with a 'provider' key, got {entry!r}")
        kwargs = dict(entry)
        name = kwargs.pop("provider")
        if not isinstance(name, str) or name not in known:
            raise ConfigError(f"{where}[{index}].provider: unknown provider {name!r}; registered: {', '.join(known)}")
        try:
            provider_cls = NodeProviderRegistry.get(name)
        except QcosError as error:
            raise ConfigError(f"{where}[{index}].provider: {error}") from error
        problem = argument_problem(name, provider_cls, kwargs)
        if problem is not None:
            raise ConfigError(f"{where}[{index}]: {problem}")
        builder.add(name, **kwargs)
    return builder


def read_cluster_file(path: str | Path) -> list[dict[str, Any]]:
    """The entries of a cluster YAML file (a list, or a mapping with a ``cluster:`` list)."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read cluster file {path}: {error.strerror or error}") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: invalid YAML: {error}") from error
    if isinstance(data, Mapping) and "cluster" in data:
        data = data["cluster"]
    if not isinstance(data, list) or not data or not all(isinstance(e, Mapping) and "provider" in e for e in data):
        raise ConfigError(f"{path}: expected a non-empty list of {{provider: NAME, ...}} entries")
    return [dict(entry) for entry in data]


def load_cluster_file(path: str | Path) -> ClusterBuilder:
    """Read a cluster YAML file into a ClusterBuilder; errors name the file and entry."""
    return load_cluster_config(read_cluster_file(path), where=str(path))
