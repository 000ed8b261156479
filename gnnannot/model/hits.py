"""Per-node scribble pixel counts (numpy only: the random walker's seeds use them without
importing torch; :mod:`gnnannot.model.dynamic_features` re-exports the function)."""

from __future__ import annotations

import numpy as np

from gnnannot.errors import DataError

__all__ = ["count_scribble_hits"]


def count_scribble_hits(
    node_ids: np.ndarray, labels: np.ndarray, n_nodes: int, n_objects: int
) -> np.ndarray:
    """Per-node scribble pixel counts.

    Args:
        node_ids: ``(P,)`` int superpixel (node) id under each rasterised scribble pixel.
        labels: ``(P,)`` int label of that pixel's scribble (0 background, 1..K objects).
        n_nodes: N.
        n_objects: K.

    Returns:
        ``(K+1, N)`` int32 counts (row 0 background). Add the results of several
        interactions to accumulate.
    """
    node_ids = np.asarray(node_ids, dtype=np.int64).reshape(-1)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if node_ids.shape != labels.shape:
        raise DataError(f"scribble hits: node_ids {node_ids.shape} and labels {labels.shape} "
                        "must have the same length")
    if node_ids.size and (node_ids.min() < 0 or node_ids.max() >= n_nodes):
        raise DataError(f"scribble hits: node ids must be in [0, {n_nodes}), found "
                        f"[{node_ids.min()}, {node_ids.max()}]")
    if labels.size and (labels.min() < 0 or labels.max() > n_objects):
        raise DataError(f"scribble hits: labels must be in [0, {n_objects}], found "
                        f"[{labels.min()}, {labels.max()}]")
    flat = np.bincount(labels * n_nodes + node_ids, minlength=(n_objects + 1) * n_nodes)
    return flat.reshape(n_objects + 1, n_nodes).astype(np.int32)
