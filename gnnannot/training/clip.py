"""Cut a temporal clip (a range of frames) out of a video graph."""

from __future__ import annotations

import numpy as np

from gnnannot.types import VideoGraph


def clip_graph(graph: VideoGraph, start: int, stop: int) -> VideoGraph:
    """The subgraph of frames ``start <= t < stop``: their nodes (renumbered from 0, in the
    same order), the edges between them, and a label volume of those frames only.
    The clip's ``seq`` is ``"<seq>@<start>-<stop>"``."""
    if not 0 <= start < stop <= graph.n_frames:
        raise ValueError(f"{graph.seq}: clip {start}..{stop} outside 0..{graph.n_frames}")
    off = graph.frame_offsets
    lo, hi = int(off[start]), int(off[stop])
    src, dst = graph.edge_index
    keep = (src >= lo) & (src < hi) & (dst >= lo) & (dst < hi)
    parent = graph.local_source
    return VideoGraph(
        seq=f"{graph.seq}@{start}-{stop}",
        height=graph.height,
        width=graph.width,
        frame_offsets=(off[start : stop + 1] - lo).astype(np.int64),
        node_features=graph.node_features[lo:hi],
        node_feature_names=graph.node_feature_names,
        descriptors=graph.descriptors[lo:hi],
        descriptor_names=graph.descriptor_names,
        node_pixel_count=graph.node_pixel_count[lo:hi],
        edge_index=graph.edge_index[:, keep] - lo,
        edge_type=graph.edge_type[keep],
        edge_weight=graph.edge_weight[keep],
        edge_features=graph.edge_features[keep],
        edge_feature_names=graph.edge_feature_names,
        local_source=lambda t: parent(t + start),
        attrs=dict(graph.attrs),
    )
