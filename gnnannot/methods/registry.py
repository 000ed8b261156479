"""Build a session method by name (the benchmark stage and the CLI use this)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gnnannot.data import davis
from gnnannot.errors import ConfigError
from gnnannot.io.graph_store import open_graph

METHODS = ("nearest_seed", "random_walker", "oracle", "gnn")


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
    opts = dict(options or {})

    def loader(seq: str) -> Any:
        return open_graph(graph_store, seq)

    from gnnannot.methods import baselines

    try:
        if name == "nearest_seed":
            return baselines.NearestSeed(loader, **opts)
        if name == "random_walker":
            return baselines.RandomWalker(loader, **opts)
        if name == "oracle":
            return baselines.SuperpixelOracle(
                loader, lambda seq: davis.read_annotations(dataset_root, seq)
            )
        if name == "gnn":
            from gnnannot.methods.gnn import GNNMethod

            if checkpoint is None:
                raise ConfigError("method 'gnn' needs a model checkpoint")
            return GNNMethod(loader, Path(checkpoint), device=device, **opts)
    except TypeError as exc:
        raise ConfigError(f"method {name!r}: bad options {opts} ({exc})") from exc
    raise ConfigError(f"unknown method {name!r}; expected one of {METHODS}")
