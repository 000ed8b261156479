"""Scribbles -> superpixel seeds: which nodes of a video graph were scribbled, with what.

Every interaction's scribble is rasterised (DAVIS rules, :mod:`gnnannot.ivos.scribbles`)
and mapped onto the superpixels under its pixels. Boundary-aware seeding: a node whose
scribbled pixels (all interactions so far) carry one label is a hard seed of that label;
a node hit by strokes of several labels straddles a boundary (one superpixel, two
objects), so it gets no hard seed and becomes a *soft* seed (``soft_nodes``; methods use
the label fractions of its scribbled pixels as a prior). With ``mixed="latest"`` a later
interaction overrides earlier seeds on the nodes it touches instead (and within one
interaction the label with most pixels wins). The scribbled pixels themselves are kept
(``pixel_labels``) so methods can give them their scribbled label in the output.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gnnannot.errors import ConfigError
from gnnannot.ivos.scribbles import rasterize_scribbles
from gnnannot.model.hits import count_scribble_hits
from gnnannot.types import VideoGraph

UNLABELLED = -1
MIXED_RULES = ("soft", "latest")


class SeedState:
    """Accumulated scribble seeds of one session on one graph.

    Attributes:
        seed: ``(N,) int64`` hard label per node: -1 none, 0 background, k object k.
        hits: ``(N, K + 1) float32`` scribbled pixel counts per node and label, all
            interactions summed.
        pixel_labels: ``{frame: (H, W) int16}`` the scribbled label of every pixel
            (-1 none; a later stroke over the same pixel wins).
        annotated: frames that carry any scribble so far.
        new_frames: frames scribbled in the last interaction.
    """

    def __init__(self, graph: VideoGraph, n_objects: int, mixed: str = "soft") -> None:
        if mixed not in MIXED_RULES:
            raise ConfigError(f"seeds: mixed must be one of {MIXED_RULES}, found {mixed!r}")
        self.graph = graph
        self.n_objects = n_objects
        self.mixed = mixed
        self.seed = np.full(graph.n_nodes, UNLABELLED, dtype=np.int64)
        self.hits = np.zeros((graph.n_nodes, n_objects + 1), dtype=np.float32)
        self.pixel_labels: dict[int, np.ndarray] = {}
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
            ok = (img >= 0) & (img <= self.n_objects)
            ys, xs = np.nonzero(ok)
            nodes.append(g.labels(t)[ys, xs])
            labels.append(img[ys, xs])
            prev = self.pixel_labels.get(t)
            layer = np.full(img.shape, UNLABELLED, np.int16) if prev is None else prev.copy()
            layer[ok] = img[ok]
            self.pixel_labels[t] = layer
        new_hits = count_scribble_hits(
            np.concatenate(nodes) if nodes else np.zeros(0, np.int64),
            np.concatenate(labels) if labels else np.zeros(0, np.int64),
            g.n_nodes, self.n_objects,
        ).T.astype(np.float32)
        touched = np.nonzero(new_hits.sum(axis=1) > 0)[0]
        self.hits += new_hits
        if self.mixed == "latest":
            self.seed[touched] = new_hits[touched].argmax(axis=1)
        else:
            pure = (self.hits[touched] > 0).sum(axis=1) == 1
            self.seed[touched] = np.where(pure, self.hits[touched].argmax(axis=1), UNLABELLED)
        self.new_frames = sorted(t for t in frames if t < g.n_frames)
        self.annotated.update(self.new_frames)
        self.new_nodes = touched
        return touched

    @property
    def seeded(self) -> np.ndarray:
        """Node ids that carry a hard seed."""
        return np.nonzero(self.seed >= 0)[0]

    @property
    def soft_nodes(self) -> np.ndarray:
        """Node ids scribbled with several labels and no hard seed (``mixed="soft"``)."""
        return np.nonzero((self.seed < 0) & ((self.hits > 0).sum(axis=1) > 1))[0]

    def painter(self):  # noqa: ANN201 - returns a closure
        """A function ``(t, mask (H, W)) -> mask`` that paints frame ``t``'s scribbled
        pixels as they are now (a snapshot: later interactions do not change it)."""
        layers = dict(self.pixel_labels)  # add() replaces layers, never edits them

        def paint_frame(t: int, mask: np.ndarray) -> np.ndarray:
            layer = layers.get(t)
            if layer is not None:
                hit = layer >= 0
                mask[hit] = layer[hit].astype(mask.dtype)
            return mask

        return paint_frame

    def paint(self, masks: np.ndarray) -> np.ndarray:
        """Give every scribbled pixel its scribbled label in ``masks (T, H, W)`` (in place;
        returned)."""
        for t, layer in self.pixel_labels.items():
            hit = layer >= 0
            masks[t][hit] = layer[hit].astype(masks.dtype)
        return masks
