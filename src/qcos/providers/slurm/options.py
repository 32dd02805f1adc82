"""The arguments of the Slurm-based providers, listed once as dataclasses (LUMI's derive from these).

A provider's ``build_nodes(**kwargs)`` takes exactly its options class's fields: the class
is the one list of names, types and defaults; :func:`takes_options` gives ``build_nodes``
the matching signature, so ``help()``, the cluster builder and the workflow's config check
see every argument and its default.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, fields
from typing import Any, TypeVar

from qcos.checks import require_int
from qcos.exceptions import SlurmConfigError
from qcos.providers.slurm.settings import JobFields, SlurmResources, SlurmSettings

logger = logging.getLogger(__name__)

_O = TypeVar("_O", bound="JobOptions")
_F = TypeVar("_F", bound=Callable[..., Any])


@dataclass(kw_only=True)
class JobOptions(JobFields):
    """What every Slurm-based provider takes: the shared job fields, its tasks' environment, its nodes."""

    max_qubits: int = 30
    setup: Sequence[str] | None = None
    slurm_extra: Mapping[str, Any] | None = None
    aer_options: Mapping[str, Any] | None = None
    tags: Sequence[str] | None = None
    validate: bool = True

    def __post_init__(self) -> None:
        require_int("max_qubits", self.max_qubits, error=SlurmConfigError)

    @classmethod
    def parse(cls: type[_O], kwargs: Mapping[str, Any]) -> _O:
        """The options of ``kwargs``; unknown names are refused with the list of valid ones."""
        valid = {f.name: f for f in fields(cls)}
        unknown = sorted(set(kwargs) - set(valid))
        if unknown:
            listing = "\n".join(f"  - {name} (default: {field.default!r})" for name, field in valid.items())
            raise SlurmConfigError(f"unknown argument(s) {unknown}. Valid arguments are:\n{listing}")
        return cls(**kwargs)

    def settings_fields(self) -> dict[str, Any]:
        """These options' values that are :class:`SlurmSettings` fields, taken as they are."""
        names = {f.name for f in fields(SlurmSettings)}
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name in names}
        values["setup"] = list(self.setup or [])
        values["slurm_extra"] = dict(self.slurm_extra or {})
        values["aer_options"] = dict(self.aer_options or {})
        return values


@dataclass(kw_only=True)
class SlurmOptions(JobOptions, SlurmResources):
    """The ``slurm`` provider's arguments: ``n_nodes`` task slots of any Slurm cluster."""

    n_nodes: int = 1
    #: array tasks running at once (default: ``n_nodes``)
    array_parallelism: int | None = None
    #: the QVM scheduler's weight of each node (default: ``2 * n_nodes``: large pulls)
    weight: float | None = None
    id_prefix: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        require_int("n_nodes", self.n_nodes, error=SlurmConfigError)

    def settings(self, gpu_vendor: str | None = None) -> SlurmSettings:
        """The dispatcher's settings (raises SlurmConfigError when a value is invalid)."""
        values = self.settings_fields()
        if self.array_parallelism is None:
            values["array_parallelism"] = self.n_nodes
        return SlurmSettings(**values, gpu_vendor=gpu_vendor)


def options_signature(options: type[JobOptions]) -> inspect.Signature:
    """``(self, *, name=default, ...)`` of ``options``: the class's own fields first, then inherited ones."""
    own = list(getattr(options, "__annotations__", {}))
    ordered = sorted(fields(options), key=lambda f: own.index(f.name) if f.name in own else len(own))
    parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    for field in ordered:
        default = field.default if field.default is not MISSING else inspect.Parameter.empty
        parameters.append(inspect.Parameter(field.name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                            annotation=field.type))
    return inspect.Signature(parameters)


def takes_options(options: type[JobOptions]) -> Callable[[_F], _F]:
    """Give a ``build_nodes(self, **kwargs)`` the signature of ``options`` (for help() and config checks)."""

    def decorate(function: _F) -> _F:
        function.__dict__["__signature__"] = options_signature(options)
        return function

    return decorate

