"""Scribbles -> superpixel seeds: which nodes of a video graph were scribbled, with what.

Every interaction's scribble is rasterised (DAVIS rules, :mod:`gnnannot.ivos.scribbles`)
and mapped onto the superpixels under its pixels. A node hit by strokes of several labels
takes the label with most pixels; a later interaction overrides earlier seeds on the nodes
it touches (the user corrected them).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gnnannot.graph import VideoGraph
from gnnannot.ivos.scribbles import rasterize_scribbles
from gnnannot.model.dynamic_features import count_scribble_hits

UNLABELLED = -1


class SeedState:
    """Accumulated scribble seeds of one session on one graph.

    Attributes:
        seed: ``(N,) int64`` label per node: -1 none, 0 background, k object k.
        hits: ``(N, K + 1) float32`` scribbled pixel counts per node and label, all
            interactions summed.
        annotated: frames that carry any scribble so far.
        new_frames: frames scribbled in the last interaction.
    """

    def __init__(self, graph: VideoGraph, n_objects: int) -> None:
        self.graph = graph
        self.n_objects = n_objects
        self.seed = np.full(graph.n_nodes, UNLABELLED, dtype=np.int64)
        self.hits = np.zeros((graph.n_nodes, n_objects + 1), dtype=np.float32)
        self.annotated: set[int] = set()
        self.new_frames: list[int] = []
        self.new_nodes = np.zeros(0, dtype=np.int64)

    def add(self, scribble: dict[str, Any]) -> np.ndarray:
        """Add one interaction's scribble; return the node ids it touched."""
        g = self.graph
        frames = rasterize_scribbles(scribble, g.height, g.width)
        nodes, labels = [], []
        for t, img in frames.items():
            if t >= g.n_frames:
                continue
            ys, xs = np.nonzero((img >= 0) & (img <= self.n_objects))
            nodes.append(g.labels(t)[ys, xs])
            labels.append(img[ys, xs])
        new_hits = count_scribble_hits(
            np.concatenate(nodes) if nodes else np.zeros(0, np.int64),
            np.concatenate(labels) if labels else np.zeros(0, np.int64),
            g.n_nodes, self.n_objects,
        ).T.astype(np.float32)
        touched = np.nonzero(new_hits.sum(axis=1) > 0)[0]
        self.seed[touched] = new_hits[touched].argmax(axis=1)
        self.hits += new_hits
        self.new_frames = sorted(t for t in frames if t < g.n_frames)
        self.annotated.update(self.new_frames)
        self.new_nodes = touched
        return touched

    @property
    def seeded(self) -> np.ndarray:
        """Node ids that carry a seed."""
        return np.nonzero(self.seed >= 0)[0]
