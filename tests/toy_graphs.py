"""Small hand-built graphs shared by the tests: a grid video graph of square superpixels
(:func:`grid_graph`) and a stand-in with the 4 quadrants of an 8x8 frame as nodes
(:class:`QuadrantGrid`)."""

from __future__ import annotations

import numpy as np

from gnnannot.preprocess.graph import EDGE_FEATURE_NAMES
from gnnannot.types import VideoGraph

H, W, T = 8, 8, 2  # QuadrantGrid's frame size and frame count


def grid_graph(frames: int, h: int, w: int, cell: int) -> VideoGraph:
    """Square superpixels of ``cell`` px, spatial edges between 4-neighbour cells and
    temporal edges between the same cell of adjacent frames, all with Lab distance 1."""
    ny, nx = h // cell, w // cell
    local = np.kron(np.arange(ny * nx).reshape(ny, nx), np.ones((cell, cell), np.int64))
    local = np.ascontiguousarray(np.broadcast_to(local, (frames, h, w)).astype(np.int32))
    per = ny * nx
    edges = []
    for t in range(frames):
        for i in range(per):
            y, x = divmod(i, nx)
            for j, ok in ((i + 1, x + 1 < nx), (i + nx, y + 1 < ny)):
                if ok:
                    edges += [(t * per + i, t * per + j, 0), (t * per + j, t * per + i, 0)]
            if t + 1 < frames:
                edges += [(t * per + i, (t + 1) * per + i, 1),
                          ((t + 1) * per + i, t * per + i, 2)]  # fmt: skip
    n = frames * per
    feats = np.zeros((len(edges), len(EDGE_FEATURE_NAMES)), np.float32)
    feats[:, EDGE_FEATURE_NAMES.index("lab_dist")] = 1.0
    return VideoGraph(
        seq="toy", height=h, width=w,
        frame_offsets=np.arange(frames + 1, dtype=np.int64) * per,
        node_features=np.zeros((n, 1), np.float32), node_feature_names=("x",),
        descriptors=np.zeros((n, 1), np.float32), descriptor_names=("d",),
        node_pixel_count=np.full(n, cell * cell, np.int64),
        edge_index=np.array([[e[0] for e in edges], [e[1] for e in edges]], np.int64),
        edge_type=np.array([e[2] for e in edges], np.int8),
        edge_weight=np.ones(len(edges), np.float32), edge_features=feats,
        edge_feature_names=EDGE_FEATURE_NAMES, local_source=lambda i: local[i],
    )  # fmt: skip


class QuadrantGrid:
    """Stand-in graph: 4 nodes per frame, the 4 quadrants of an 8x8 frame."""

    height, width, n_frames = H, W, T
    n_nodes = 4 * T

    def labels(self, t: int) -> np.ndarray:
        q = (np.arange(H)[:, None] >= H // 2) * 2 + (np.arange(W)[None, :] >= W // 2)
        return (q + 4 * t).astype(np.int64)
