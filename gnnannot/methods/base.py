"""Common frame of methods that label superpixels of a cached video graph."""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np

from gnnannot.errors import DataError
from gnnannot.interaction.seeds import SeedState
from gnnannot.types import VideoGraph

GraphLoader = Callable[[str], VideoGraph]


class GraphMethod(ABC):
    """A session method on the superpixel graph: ``start`` loads the video's graph,
    ``interact`` adds the scribble to the seeds, labels every node and rasterises the
    node labels to ``(T, H, W) uint8`` masks through the superpixel volume; scribbled
    pixels then keep their scribbled label (``paint_scribbles``; off for the oracle)."""

    name = "graph"
    paint_scribbles = True  # scribbled pixels keep their scribbled label in the output
    #: attributes that change with the interactions (everything else is fixed by
    #: ``start``): :meth:`snapshot` copies them, :meth:`restore` puts them back
    session_state: tuple[str, ...] = ("seeds",)

    def __init__(
        self, graph_loader: GraphLoader, mixed_seeds: str = "soft",
        paint_scribbles: bool | None = None,
    ) -> None:  # fmt: skip
        self.graph_loader = graph_loader
        self.mixed_seeds = mixed_seeds  # SeedState rule for nodes hit by several labels
        if paint_scribbles is not None:
            self.paint_scribbles = paint_scribbles
        self.graph: VideoGraph | None = None
        self.seeds: SeedState | None = None
        self._labels_all: np.ndarray | None = None

    def start(self, video: Any) -> None:
        """Begin a session on ``video`` (a :class:`gnnannot.ivos.session.VideoData`)."""
        self.graph = self.graph_loader(video.sequence)
        frames = getattr(video, "n_frames", None)
        if frames is not None and frames != self.graph.n_frames:
            raise DataError(
                f"{video.sequence}: graph cache has {self.graph.n_frames} frames, "
                f"video has {frames}"
            )
        self.n_objects = int(video.n_objects)
        self.seeds = SeedState(self.graph, self.n_objects, self.mixed_seeds)
        self._labels_all = self.graph.labels_all()
        self.on_start(video)

    def on_start(self, video: Any) -> None:  # noqa: B027 - optional hook
        """Per-session set-up after the graph is loaded (subclasses may override)."""

    def interact(self, scribble: dict[str, Any]) -> np.ndarray:
        """Add ``scribble``; return ``(T, H, W) uint8`` masks of all frames."""
        if self.graph is None or self.seeds is None or self._labels_all is None:
            raise RuntimeError(f"{type(self).__name__}.interact called before start")
        self.seeds.add(scribble)
        node_labels = self.predict_nodes()
        masks = node_labels.astype(np.uint8)[self._labels_all]
        return self.seeds.paint(masks) if self.paint_scribbles else masks

    def snapshot(self) -> dict[str, Any]:
        """A copy of the session's state (:attr:`session_state`: seeds, previous solution,
        ...) that later interactions leave alone; :meth:`restore` returns the method to
        it exactly (undo without replaying the interactions). What ``start`` fixed (the
        graph, Laplacian, model) is shared, not copied, also where the state refers to
        it."""
        names = self._state_names()
        memo = {id(v): v for k, v in vars(self).items() if k not in names}
        return copy.deepcopy({k: getattr(self, k) for k in names}, memo)

    def restore(self, snap: dict[str, Any]) -> None:
        """Return to the state of :meth:`snapshot` ``snap`` (``snap`` stays usable)."""
        names = self._state_names()
        if set(snap) != set(names):
            raise ValueError(f"{type(self).__name__}.restore: snapshot holds {sorted(snap)}, "
                             f"expected {sorted(names)}")
        memo = {id(v): v for k, v in vars(self).items() if k not in names}
        for k, v in copy.deepcopy(snap, memo).items():
            setattr(self, k, v)

    def _state_names(self) -> tuple[str, ...]:
        if self.graph is None:
            raise RuntimeError(f"{type(self).__name__}: snapshot/restore before start")
        names = tuple(dict.fromkeys(n for c in type(self).__mro__
                                    for n in getattr(c, "session_state", ())))
        return tuple(n for n in names if n in vars(self))

    @abstractmethod
    def predict_nodes(self) -> np.ndarray:
        """``(N,)`` integer label per node (0 background, k object k)."""
