"""The interactive methods by name: one registry of factories, each with its own help text
(the benchmark stage, the CLI and the annotator build methods from it).

Add a method by writing its class (``gnnannot.methods.<name>``, an
:class:`gnnannot.ivos.session.InteractiveMethod`) and one :func:`register_method` call
below: its name, help text and factory are then known to ``params.yaml``
(``benchmark.methods``), the CLI's ``--method`` and the annotator; its ``role`` places it
in the benchmark's headline comparison and ``options_of`` names the class whose keyword
options ``benchmark.options.<name>`` may set.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gnnannot.data import davis
from gnnannot.errors import ConfigError
from gnnannot.methods import baselines
from gnnannot.store.graphs import open_graph

__all__ = ["METHODS", "ROLES", "MethodContext", "MethodSpec", "make_method", "method_help",
           "method_options", "method_roles", "register_method"]


#: What a method is to the headline comparison (see :class:`MethodSpec`).
ROLES = ("baseline", "candidate", "bound")


@dataclass(frozen=True)
class MethodContext:
    """What a factory may use: ``loader(seq)`` gives a video's graph; the dataset root (for
    ground truth), the GNN checkpoint and the torch device."""

    loader: Callable[[str], Any]
    dataset_root: str | os.PathLike[str]
    checkpoint: str | os.PathLike[str] | None
    device: str


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: ``factory(context, **options)`` builds a fresh instance;
    ``needs_ground_truth``: it reads the dataset's masks (it cannot segment a new video).

    ``role`` says what the benchmark's headline comparison
    (:func:`gnnannot.ivos.compare.comparison`) does with it: ``baseline`` (the best of
    them is the bar), ``candidate`` (measured against the best baseline and the bounds),
    ``bound`` (an upper bound, e.g. the ground-truth oracle). ``options_of``: the class
    whose keyword arguments (after ``bound``, the ones the factory fills from the
    :class:`MethodContext`) are the method's options, with its library defaults
    (:func:`method_options`), or its ``"module:Class"`` name, imported only when the
    options are asked for (the GNN's class needs torch); None: the method takes no
    options."""

    name: str
    help: str
    factory: Callable[..., Any]
    needs_ground_truth: bool = False
    role: str = "baseline"
    options_of: type | str | None = None
    bound: tuple[str, ...] = ("graph_loader",)

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ConfigError(f"method {self.name!r}: role {self.role!r}, expected one of "
                              f"{ROLES}")


_REGISTRY: dict[str, MethodSpec] = {}


def register_method(spec: MethodSpec) -> None:
    """Make ``spec`` available by its name."""
    _REGISTRY[spec.name] = spec


def method_roles(names: Iterable[str] | None = None) -> dict[str, str]:
    """``{name: role}`` of the methods ``names`` (default: every registered one)."""
    return {n: _spec(n).role for n in (_REGISTRY if names is None else names)}


def method_options(name: str) -> dict[str, Any]:
    """The options of method ``name`` with their library defaults (the keyword parameters
    of its class, less those its factory fills), e.g. ``{"hop_cost": 1.0, ...}``."""
    spec = _spec(name)
    if spec.options_of is None:
        return {}
    cls = spec.options_of
    if isinstance(cls, str):
        module, _, attr = cls.partition(":")
        cls = getattr(importlib.import_module(module), attr)
    out = {}
    for p in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if p.name in spec.bound or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.default is p.empty:
            raise ConfigError(f"method {name!r}: option {p.name!r} of "
                              f"{cls.__name__} has no default")
        out[p.name] = p.default
    return out


def _spec(name: str) -> MethodSpec:
    if name not in _REGISTRY:
        raise ConfigError(f"unknown method {name!r}; expected one of {tuple(_REGISTRY)}")
    return _REGISTRY[name]


def method_help() -> str:
    """One line per method: ``name: help``."""
    return "; ".join(f"{s.name}: {s.help}" for s in _REGISTRY.values())


def make_method(
    name: str,
    *,
    graph_store: str | os.PathLike[str],
    dataset_root: str | os.PathLike[str],
    checkpoint: str | os.PathLike[str] | None = None,
    options: dict[str, Any] | None = None,
    device: str = "cpu",
) -> Any:
    """A fresh :class:`gnnannot.ivos.session.InteractiveMethod` called ``name``.

    ``graph_store`` is the graphs zarr store (its superpixels/features siblings are found
    from it); ``options`` are the method's keyword arguments (e.g. ``hop_cost``,
    ``beta``); ``checkpoint`` is required for ``gnn``.
    """
    spec = _spec(name)
    opts = dict(options or {})

    def loader(seq: str) -> Any:
        return open_graph(graph_store, seq)

    ctx = MethodContext(loader, dataset_root, checkpoint, device)
    try:
        return spec.factory(ctx, **opts)
    except TypeError as exc:
        raise ConfigError(f"method {name!r}: bad options {opts} ({exc})") from exc


def _gnn(ctx: MethodContext, **opts: Any) -> Any:
    if ctx.checkpoint is None:
        raise ConfigError("method 'gnn' needs a model checkpoint")
    from gnnannot.methods.gnn import GNNMethod  # torch only when the GNN runs

    return GNNMethod(ctx.loader, Path(ctx.checkpoint), device=ctx.device, **opts)


register_method(MethodSpec(
    "nearest_seed", "each superpixel takes the label of the nearest scribbled one",
    lambda ctx, **o: baselines.NearestSeed(ctx.loader, **o),
    options_of=baselines.NearestSeed))
register_method(MethodSpec(
    "random_walker", "random walker on the superpixel graph (colour and flow edges)",
    lambda ctx, **o: baselines.RandomWalker(ctx.loader, **o),
    options_of=baselines.RandomWalker))
register_method(MethodSpec(
    "oracle", "every superpixel labelled with its ground-truth majority (an upper bound)",
    lambda ctx, **o: baselines.SuperpixelOracle(
        ctx.loader, lambda seq: davis.read_annotations(ctx.dataset_root, seq), **o),
    needs_ground_truth=True, role="bound"))
register_method(MethodSpec(
    "gnn", "the trained GNN (needs a checkpoint), a residual on the random walker", _gnn,
    role="candidate", options_of="gnnannot.methods.gnn:GNNMethod",
    bound=("graph_loader", "checkpoint", "device")))

#: The registered method names, in registration order.
METHODS: tuple[str, ...] = tuple(_REGISTRY)
