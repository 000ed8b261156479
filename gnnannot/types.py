"""The data types every layer shares; this module imports nothing of the project.

* :class:`FlowPair`: the optical flow of one frame pair (conventions in
  :mod:`gnnannot.preprocess.flow.estimate`).
* :class:`VideoGraph`: a video's superpixel graph (edge conventions in
  :mod:`gnnannot.preprocess.graph`), with the edge types ``SPATIAL``, ``FORWARD``,
  ``BACKWARD`` (names :data:`EDGE_TYPE_NAMES`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SPATIAL, FORWARD, BACKWARD = 0, 1, 2
EDGE_TYPE_NAMES = ("spatial", "forward", "backward")


@dataclass
class FlowPair:
    """Flow between frames ``t`` and ``t+1`` (see module docstring for the conventions).

    forward, backward: (H, W, 2) float32 (y, x); occ_forward, occ_backward: (H, W) bool.
    """

    t: int
    forward: np.ndarray
    backward: np.ndarray
    occ_forward: np.ndarray
    occ_backward: np.ndarray


@dataclass
class VideoGraph:
    """One video's superpixel graph (edge conventions: :mod:`gnnannot.preprocess.graph`).

    ``labels(t)`` gives the (H, W) int32 global node ids of frame t, ``labels_all()`` the
    (T, H, W) int32 volume; ``local_source(t)`` returns per-frame local ids.
    """

    seq: str
    height: int
    width: int
    frame_offsets: np.ndarray  # (T+1,) int64
    node_features: np.ndarray  # (N, F) float32
    node_feature_names: tuple[str, ...]
    descriptors: np.ndarray  # (N, D) float32
    descriptor_names: tuple[str, ...]
    node_pixel_count: np.ndarray  # (N,) int64
    edge_index: np.ndarray  # (2, E) int64
    edge_type: np.ndarray  # (E,) int8
    edge_weight: np.ndarray  # (E,) float32
    edge_features: np.ndarray  # (E, Fe) float32
    edge_feature_names: tuple[str, ...]
    local_source: Callable[[int], np.ndarray] = field(repr=False)
    local_all_source: Callable[[], np.ndarray] | None = field(default=None, repr=False)
    attrs: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.frame_offsets = np.asarray(self.frame_offsets, dtype=np.int64)

    @property
    def n_frames(self) -> int:
        return len(self.frame_offsets) - 1

    @property
    def n_nodes(self) -> int:
        return int(self.frame_offsets[-1])

    @property
    def n_edges(self) -> int:
        return int(self.edge_index.shape[1])

    @property
    def node_frame(self) -> np.ndarray:
        """(N,) int32 frame index of every node."""
        return np.repeat(
            np.arange(self.n_frames, dtype=np.int32), np.diff(self.frame_offsets)
        ).astype(np.int32)

    @property
    def frame_counts(self) -> np.ndarray:
        """(T,) int64 superpixels per frame."""
        return np.diff(self.frame_offsets)

    @property
    def flow_edge_weight(self) -> np.ndarray:
        """(E,) float32 weights with spatial edges set to 0 (only flow overlaps)."""
        return np.where(self.edge_type == SPATIAL, 0.0, self.edge_weight).astype(np.float32)

    def labels(self, t: int) -> np.ndarray:
        """(H, W) int32 global node ids of frame t."""
        if not 0 <= t < self.n_frames:
            raise IndexError(f"{self.seq}: frame {t} out of range 0..{self.n_frames - 1}")
        return self.local_source(t).astype(np.int32) + np.int32(self.frame_offsets[t])

    def labels_all(self) -> np.ndarray:
        """(T, H, W) int32 global node ids of all frames."""
        if self.local_all_source is not None:
            loc = self.local_all_source()
        else:
            loc = np.stack([self.local_source(t) for t in range(self.n_frames)])
        out = loc.astype(np.int32)
        out += self.frame_offsets[:-1].astype(np.int32)[:, None, None]
        return out

    def nodes_at(self, t: int, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """Global node ids under integer pixel coordinates (ys, xs) of frame t."""
        lab = self.labels(t)
        ys = np.clip(np.asarray(ys, dtype=np.int64), 0, self.height - 1)
        xs = np.clip(np.asarray(xs, dtype=np.int64), 0, self.width - 1)
        return lab[ys, xs]

    def rasterise(self, node_values: np.ndarray, frames: Iterable[int] | None = None) -> np.ndarray:
        """Per-pixel maps ``node_values[labels]``: (T, H, W) (or the listed frames)."""
        vals = np.asarray(node_values)
        if vals.shape[0] != self.n_nodes:
            raise ValueError(f"node_values has {vals.shape[0]} rows, graph has {self.n_nodes}")
        if frames is None:
            return vals[self.labels_all()]
        return np.stack([vals[self.labels(t)] for t in frames])
