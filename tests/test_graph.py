"""Edge construction, edge features and oracle labels against hand-made cases and loops."""

from __future__ import annotations

import numpy as np
import pytest

from gnnannot.errors import DataError
from gnnannot.preprocess.features import NODE_FEATURE_NAMES
from gnnannot.preprocess.graph import (
    EDGE_FEATURE_NAMES,
    build_video_graph,
    edge_features,
    flow_edges,
    oracle_j,
    oracle_labels,
    spatial_edges,
    video_edges,
)
from gnnannot.types import BACKWARD, FORWARD, SPATIAL, VideoGraph


def _blocks() -> np.ndarray:
    """4 x 6 image: 2 x 3 blocks of ids 0..5 (2 x 2 px each), row-major."""
    return np.kron(np.arange(6).reshape(2, 3), np.ones((2, 2), dtype=np.int32))


def test_spatial_edges_known_adjacency() -> None:
    lab = _blocks()
    src, dst, contact = spatial_edges(lab, 6)
    got = {(int(s), int(d)): int(c) for s, d, c in zip(src, dst, contact, strict=True)}
    undirected = {(0, 1), (1, 2), (3, 4), (4, 5), (0, 3), (1, 4), (2, 5)}  # no diagonals
    want = {}
    for a, b in undirected:
        want[(a, b)] = want[(b, a)] = 2  # blocks share 2 pixel pairs
    assert got == want
    assert list(zip(src, dst, strict=True)) == sorted(zip(src, dst, strict=True))


def test_spatial_edges_brute_force() -> None:
    rng = np.random.default_rng(0)
    lab = rng.integers(0, 7, size=(9, 11)).astype(np.int32)
    src, dst, contact = spatial_edges(lab, 7)
    want: dict[tuple[int, int], int] = {}
    h, w = lab.shape
    for y in range(h):
        for x in range(w):
            for dy, dx in ((0, 1), (1, 0)):
                yy, xx = y + dy, x + dx
                if yy < h and xx < w and lab[y, x] != lab[yy, xx]:
                    a, b = int(lab[y, x]), int(lab[yy, xx])
                    want[(a, b)] = want.get((a, b), 0) + 1
                    want[(b, a)] = want.get((b, a), 0) + 1
    got = {(int(s), int(d)): int(c) for s, d, c in zip(src, dst, contact, strict=True)}
    assert got == want


def test_flow_edges_known_translation() -> None:
    h, w, shift = 6, 12, 2
    lab0 = np.repeat(np.arange(w)[None, :] // 3, h, axis=0).astype(np.int32)  # 4 stripes
    lab1 = np.zeros_like(lab0)
    lab1[:, shift:] = lab0[:, :-shift] + 1  # content moves right by 2; new stripe 0 at left
    flow = np.zeros((h, w, 2), np.float32)
    flow[..., 1] = shift
    src, dst, overlap, weight = flow_edges(lab0, lab1, 4, 5, flow, min_weight=0.0)
    got = {(int(s), int(d)): (int(o), float(wt)) for s, d, o, wt in
           zip(src, dst, overlap, weight, strict=True)}  # fmt: skip
    # stripes 0..2 land fully on their shifted copy; stripe 3 has 1 of 3 columns in frame
    assert got == {(0, 1): (18, 1.0), (1, 2): (18, 1.0), (2, 3): (18, 1.0), (3, 4): (6, 1 / 3)}


def test_flow_edges_half_overlap_and_pruning() -> None:
    lab0 = np.zeros((4, 8), np.int32)
    lab1 = np.repeat((np.arange(8) >= 3)[None].astype(np.int32), 4, axis=0)
    lab1[:, 7] = 2  # a sliver: 1/8 of the source lands there
    flow = np.zeros((4, 8, 2), np.float32)
    _, dst, _, weight = flow_edges(lab0, lab1, 1, 3, flow, min_weight=0.0)
    assert dst.tolist() == [0, 1, 2]
    np.testing.assert_allclose(weight, [3 / 8, 4 / 8, 1 / 8])
    _, dst, _, weight = flow_edges(lab0, lab1, 1, 3, flow, min_weight=0.2)
    assert dst.tolist() == [0, 1]
    _, dst, _, _ = flow_edges(lab0, lab1, 1, 3, flow, min_weight=0.9)
    assert dst.tolist() == [1]  # the strongest edge of a source is always kept


def test_video_edges_layout() -> None:
    lab = _blocks()
    labels = [lab, lab, lab]
    offsets = np.array([0, 6, 12, 18])
    zero = np.zeros(lab.shape + (2,), np.float32)
    es = video_edges(lambda t: labels[t], offsets, lambda t: zero, lambda t: zero)
    assert (np.diff(es.edge_type) >= 0).all()
    n_sp = 14 * 3
    assert (es.edge_type == SPATIAL).sum() == n_sp
    fwd = es.edge_index[:, es.edge_type == FORWARD]
    bwd = es.edge_index[:, es.edge_type == BACKWARD]
    # zero flow: node k of frame t <-> node k of frame t+1, weight 1
    np.testing.assert_array_equal(fwd[1] - fwd[0], 6)
    np.testing.assert_array_equal(bwd[0] - bwd[1], 6)
    assert fwd.shape[1] == bwd.shape[1] == 12
    np.testing.assert_allclose(es.weight[es.edge_type != SPATIAL], 1.0)
    # spatial weights: shares of the source's outline sum to 1
    sp = es.edge_type == SPATIAL
    sums = np.bincount(es.edge_index[0, sp], weights=es.weight[sp], minlength=18)
    np.testing.assert_allclose(sums, 1.0, rtol=1e-6)


def test_edge_features_brute_force() -> None:
    rng = np.random.default_rng(1)
    n, f = 5, len(NODE_FEATURE_NAMES)
    nf = rng.normal(size=(n, f)).astype(np.float32)
    ei = np.array([[0, 1, 2, 3], [1, 0, 4, 2]])
    et = np.array([SPATIAL, SPATIAL, FORWARD, BACKWARD], np.int8)
    wt = np.array([0.5, 0.25, 0.8, 0.1], np.float32)
    contact = np.array([3, 3, 40, 7])
    h, w = 20, 30
    got = edge_features(nf, ei, et, wt, contact, (h, w))
    c = {k: i for i, k in enumerate(NODE_FEATURE_NAMES)}
    for e in range(ei.shape[1]):
        s, t = ei[:, e]
        row = dict(zip(EDGE_FEATURE_NAMES, got[e], strict=True))
        lab_s = nf[s, [c["L_mean"], c["a_mean"], c["b_mean"]]]
        lab_t = nf[t, [c["L_mean"], c["a_mean"], c["b_mean"]]]
        assert row["lab_dist"] == pytest.approx(float(np.linalg.norm(lab_s - lab_t)), rel=1e-5)
        for key in ("fwd", "bwd"):
            a = nf[s, [c[f"{key}_dy"], c[f"{key}_dx"]]].astype(float)
            b = nf[t, [c[f"{key}_dy"], c[f"{key}_dx"]]].astype(float)
            cos = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
            assert row[f"{key}_angle"] == pytest.approx(np.arccos(np.clip(cos, -1, 1)), abs=1e-4)
            assert row[f"{key}_min_mag"] == pytest.approx(
                min(np.linalg.norm(a), np.linalg.norm(b)), rel=1e-5
            )
            rel = np.linalg.norm(a - b) / (max(np.linalg.norm(a), np.linalg.norm(b)) + 1)
            assert row[f"{key}_rel_mag"] == pytest.approx(rel, rel=1e-5)
        assert row["weight"] == pytest.approx(wt[e])
        assert row["log_contact"] == pytest.approx(np.log1p(contact[e]), rel=1e-6)
        ps = np.array([nf[s, c["cy"]] * h, nf[s, c["cx"]] * w], float)
        pt = np.array([nf[t, c["cy"]] * h, nf[t, c["cx"]] * w], float)
        if et[e] == FORWARD:
            ps += nf[s, [c["fwd_dy"], c["fwd_dx"]]]
        if et[e] == BACKWARD:
            ps += nf[s, [c["bwd_dy"], c["bwd_dx"]]]
        assert row["centroid_dist"] == pytest.approx(np.linalg.norm(ps - pt) / np.hypot(h, w),
                                                     rel=1e-4)  # fmt: skip
        flags = [row["is_spatial"], row["is_forward"], row["is_backward"]]
        assert flags == [float(et[e] == k) for k in (SPATIAL, FORWARD, BACKWARD)]


def _graph_from_labels(local: np.ndarray) -> VideoGraph:
    t_n, h, w = local.shape
    counts = local.reshape(t_n, -1).max(1) + 1
    offsets = np.concatenate([[0], np.cumsum(counts)])
    n = int(offsets[-1])
    z = np.zeros((n, 1), np.float32)
    e = np.zeros((2, 0), np.int64)
    return VideoGraph("v", h, w, offsets, z, ("x",), z, ("x",), np.ones(n, np.int64), e,
                      np.zeros(0, np.int8), np.zeros(0, np.float32), np.zeros((0, 1), np.float32),
                      ("x",), local_source=lambda t: local[t])  # fmt: skip


def test_oracle_labels_brute_force() -> None:
    rng = np.random.default_rng(2)
    local = rng.integers(0, 6, size=(3, 10, 12)).astype(np.uint16)
    gt = rng.integers(0, 3, size=(3, 10, 12)).astype(np.uint8)
    g = _graph_from_labels(local)
    got = oracle_labels(g, gt)
    glob = g.labels_all()
    for node in range(g.n_nodes):
        votes = np.bincount(gt[glob == node], minlength=3)
        assert got[node] == votes.argmax()
    assert g.rasterise(got).shape == gt.shape
    with pytest.raises(DataError, match="shape"):
        oracle_labels(g, gt[:2])


def test_oracle_j_perfect_when_superpixels_follow_objects() -> None:
    gt = np.zeros((2, 8, 8), np.uint8)
    gt[:, 2:5, 2:6] = 1
    gt[:, 6:, :] = 2
    local = gt.astype(np.uint16)  # one superpixel per object
    assert oracle_j(_graph_from_labels(local), gt) == 1.0


def _tiny_video(t_n: int = 3, h: int = 48, w: int = 64) -> tuple[np.ndarray, dict]:
    rng = np.random.default_rng(3)
    base = rng.integers(0, 255, size=(h // 8, w // 8, 3), dtype=np.uint8)
    img = np.kron(base, np.ones((8, 8, 1), np.uint8))
    frames = np.stack([np.roll(img, t, axis=1) for t in range(t_n)])
    fwd = np.zeros((t_n - 1, h, w, 2), np.float32)
    fwd[..., 1] = 1.0
    bwd = -fwd
    occ = np.zeros((t_n - 1, h, w), bool)
    return frames, {"forward": fwd, "backward": bwd, "occ_forward": occ, "occ_backward": occ}


def test_build_video_graph_deterministic() -> None:
    from gnnannot.preprocess.superpixels import SuperpixelParams

    frames, flows = _tiny_video()
    p = SuperpixelParams(n_segments=40)
    g1 = build_video_graph(frames, flows, p)
    g2 = build_video_graph(frames, flows, p)
    np.testing.assert_array_equal(g1.labels_all(), g2.labels_all())
    np.testing.assert_array_equal(g1.edge_index, g2.edge_index)
    np.testing.assert_array_equal(g1.node_features, g2.node_features)
    np.testing.assert_array_equal(g1.edge_features, g2.edge_features)
    assert g1.node_features.shape == (g1.n_nodes, len(NODE_FEATURE_NAMES))
    assert g1.edge_features.shape == (g1.n_edges, len(EDGE_FEATURE_NAMES))
    assert g1.node_frame.tolist() == np.repeat(np.arange(3), g1.frame_counts).tolist()
    # every node of frames 0..1 has a forward edge, of frames 1..2 a backward edge, unless
    # its flow leaves the frame (flow moves 1 px right / left: last / first column)
    nf = g1.node_frame
    lab = g1.labels_all()
    fsrc = set(g1.edge_index[0, g1.edge_type == FORWARD].tolist())
    bsrc = set(g1.edge_index[0, g1.edge_type == BACKWARD].tolist())
    inner_f = set(np.unique(lab[:2, :, :-1]).tolist())
    inner_b = set(np.unique(lab[1:, :, 1:]).tolist())
    assert fsrc == inner_f and bsrc == inner_b
    assert fsrc <= set(np.flatnonzero(nf < 2).tolist())
    # scribble lookup: pixel -> node of the right frame
    node = g1.nodes_at(1, np.array([0, 47]), np.array([0, 63]))
    assert (nf[node] == 1).all()


def test_flow_edges_brute_force_rounding_and_border() -> None:
    from gnnannot.preprocess.graph import _flow_targets

    rng = np.random.default_rng(5)
    h, w = 14, 19
    lab0 = rng.integers(0, 6, size=(h, w)).astype(np.uint16)
    lab1 = rng.integers(0, 5, size=(h, w)).astype(np.uint16)
    flow = (rng.integers(-16, 17, size=(h, w, 2)) / 4).astype(np.float32)  # many .5 cases
    src, dst, overlap, weight = flow_edges(lab0, lab1, 6, 5, flow, min_weight=0.0)
    want: dict[tuple[int, int], int] = {}
    for y in range(h):
        for x in range(w):
            ty, tx = int(np.rint(y + flow[y, x, 0])), int(np.rint(x + flow[y, x, 1]))
            if 0 <= ty < h and 0 <= tx < w:
                key = (int(lab0[y, x]), int(lab1[ty, tx]))
                want[key] = want.get(key, 0) + 1
    got = {(int(s), int(d)): int(c) for s, d, c in zip(src, dst, overlap, strict=True)}
    assert got == want
    sizes = np.bincount(lab0.ravel(), minlength=6)
    np.testing.assert_allclose(weight, overlap / sizes[src])
    # the cv2.remap path and the numpy fallback (ids beyond uint16) agree
    np.testing.assert_array_equal(_flow_targets(lab1, flow, 5), _flow_targets(lab1, flow, 70000)
                                  .clip(max=5))  # fmt: skip
