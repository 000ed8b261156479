"""Graph baselines (nearest seed, random walker, oracle) against hand-made graphs and
independent brute-force references."""

from __future__ import annotations

import networkx as nx
import numpy as np

from gnnannot.graph import EDGE_FEATURE_NAMES, VideoGraph
from gnnannot.ivos.session import VideoData
from gnnannot.methods.baselines import NearestSeed, RandomWalker, SuperpixelOracle


def _graph(local: np.ndarray, edges: list[tuple[int, int, int, float]]) -> VideoGraph:
    """A VideoGraph over a (T, H, W) local-id volume and (src, dst, type, lab_dist) edges."""
    t = local.shape[0]
    counts = [int(local[i].max()) + 1 for i in range(t)]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    n = int(offsets[-1])
    ei = np.array([[e[0] for e in edges], [e[1] for e in edges]], dtype=np.int64)
    feats = np.zeros((len(edges), len(EDGE_FEATURE_NAMES)), np.float32)
    feats[:, EDGE_FEATURE_NAMES.index("lab_dist")] = [e[3] for e in edges]
    return VideoGraph(
        seq="toy", height=local.shape[1], width=local.shape[2], frame_offsets=offsets,
        node_features=np.zeros((n, 1), np.float32), node_feature_names=("x",),
        descriptors=np.zeros((n, 1), np.float32), descriptor_names=("d",),
        node_pixel_count=np.ones(n, np.int64), edge_index=ei,
        edge_type=np.array([e[2] for e in edges], np.int8),
        edge_weight=np.ones(len(edges), np.float32), edge_features=feats,
        edge_feature_names=EDGE_FEATURE_NAMES, local_source=lambda i: local[i],
    )


def _two_frame_toy() -> VideoGraph:
    # Each 4x8 frame has superpixel 0 (left half) and 1 (right half).
    local = np.zeros((2, 4, 8), np.int32)
    local[:, :, 4:] = 1
    # nodes: 0,1 in frame 0; 2,3 in frame 1. Left nodes look alike, right nodes alike.
    edges = [(0, 1, 0, 50.0), (1, 0, 0, 50.0), (2, 3, 0, 50.0), (3, 2, 0, 50.0),
             (0, 2, 1, 1.0), (1, 3, 1, 1.0), (2, 0, 2, 1.0), (3, 1, 2, 1.0)]
    return _graph(local, edges)


def _scribble(frame: int, strokes: list[tuple[list[list[float]], int]], n: int = 2) -> dict:
    s = {"scribbles": [[] for _ in range(n)], "sequence": "toy"}
    s["scribbles"][frame] = [{"path": p, "object_id": o} for p, o in strokes]
    return s


def _video(g: VideoGraph) -> VideoData:
    return VideoData("toy", np.zeros((g.n_frames, g.height, g.width, 3), np.uint8), 1)


def test_baselines_propagate_scribbles_through_flow() -> None:
    g = _two_frame_toy()
    # fg stroke on the left half of frame 0, bg stroke on the right half.
    sc = _scribble(0, [([[0.1, 0.5], [0.3, 0.5]], 1), ([[0.7, 0.5], [0.9, 0.5]], 0)])
    expected = np.zeros((2, 4, 8), np.uint8)
    expected[:, :, :4] = 1
    for method in (NearestSeed(lambda s: g), RandomWalker(lambda s: g)):
        method.start(_video(g))
        masks = method.interact(sc)
        np.testing.assert_array_equal(masks, expected)


def test_later_scribble_overrides_seed_with_latest_rule() -> None:
    g = _two_frame_toy()
    m = NearestSeed(lambda s: g, mixed_seeds="latest", paint_scribbles=False)
    m.start(_video(g))
    m.interact(_scribble(0, [([[0.1, 0.5]], 1)]))
    assert m.seeds.seed[0] == 1
    masks = m.interact(_scribble(0, [([[0.1, 0.5]], 0)]))
    assert m.seeds.seed[0] == 0
    assert masks.max() == 0


def test_mixed_node_becomes_soft_seed_and_scribbled_pixels_keep_their_label() -> None:
    g = _two_frame_toy()
    m = NearestSeed(lambda s: g)  # default: mixed nodes are soft, scribbles painted
    m.start(_video(g))
    m.interact(_scribble(0, [([[0.1, 0.5]], 1), ([[0.9, 0.5]], 0)]))
    assert m.seeds.seed.tolist() == [1, 0, -1, -1]
    # a background stroke on the fg node: it now holds both labels -> no hard seed
    masks = m.interact(_scribble(0, [([[0.3, 0.25]], 0)]))
    assert m.seeds.seed.tolist() == [-1, 0, -1, -1]
    assert m.seeds.soft_nodes.tolist() == [0]
    # the strokes rasterise to (row, col) (1, 0) fg, (1, 6) bg and (0, 2) bg
    px = m.seeds.pixel_labels[0]
    assert px[1, 0] == 1 and px[1, 6] == 0 and px[0, 2] == 0
    assert (px >= 0).sum() == 3
    assert masks[0, 1, 0] == 1 and masks[0, 0, 2] == 0
def _random_graph(rng: np.random.Generator, n_side: int = 6):
    # one frame of n_side x n_side one-pixel superpixels, 4-connected, random colours
    local = np.arange(n_side * n_side, dtype=np.int32).reshape(1, n_side, n_side)
    edges = []
    for y in range(n_side):
        for x in range(n_side):
            for dy, dx in ((0, 1), (1, 0)):
                yy, xx = y + dy, x + dx
                if yy < n_side and xx < n_side:
                    a, b = y * n_side + x, yy * n_side + xx
                    d = float(rng.uniform(0, 10))
                    edges += [(a, b, 0, d), (b, a, 0, d)]
    return _graph(local, edges), local


def test_nearest_seed_matches_brute_force_shortest_paths() -> None:
    rng = np.random.default_rng(3)
    g, _ = _random_graph(rng)
    m = NearestSeed(lambda s: g, hop_cost=0.5)
    m.start(_video(g))
    sc = _scribble(0, [([[0.0, 0.0]], 1), ([[1.0, 1.0]], 0), ([[1.0, 0.0]], 1)], n=1)
    m.seeds.add(sc)
    pred = m.predict_nodes()
    # independent reference: networkx Dijkstra from every seed
    nxg = nx.Graph()
    for (a, b), d in zip(g.edge_index.T, g.edge_features[:, 0], strict=True):
        nxg.add_edge(int(a), int(b), w=float(d) + 0.5)
    seeds = {0: 1, 35: 0, 5: 1}
    dist = {s: nx.single_source_dijkstra_path_length(nxg, s, weight="w") for s in seeds}
    for v in range(g.n_nodes):
        best = min(seeds, key=lambda s: dist[s][v])
        assert pred[v] == seeds[best]


def test_random_walker_matches_dense_dirichlet_solution() -> None:
    rng = np.random.default_rng(5)
    g, _ = _random_graph(rng)
    m = RandomWalker(lambda s: g, beta=2.0, eps=0.0, tol=1e-12, frame_threshold=0.0)
    m.start(_video(g))
    m.seeds.add(_scribble(0, [([[0.0, 0.0]], 1), ([[1.0, 1.0]], 0)], n=1))
    pred = m.predict_nodes()
    # dense reference: harmonic function with boundary values 1 at fg seed, 0 at bg seed
    n = g.n_nodes
    d = g.edge_features[:, 0].astype(np.float64)
    w = np.exp(-2.0 * (d / d.mean()) ** 2)
    a = np.zeros((n, n))
    a[g.edge_index[0], g.edge_index[1]] = w
    a = (a + a.T) / 2
    lap = np.diag(a.sum(1)) - a
    s, u = [0, 35], [i for i in range(n) if i not in (0, 35)]
    x = np.linalg.solve(lap[np.ix_(u, u)], -lap[np.ix_(u, s)] @ np.array([1.0, 0.0]))
    expected = np.zeros(n, int)
    expected[0] = 1
    expected[u] = (x > 0.5).astype(int)
    np.testing.assert_array_equal(pred, expected)


def test_oracle_gives_majority_labels() -> None:
    g = _two_frame_toy()
    gt = np.zeros((2, 4, 8), np.uint8)
    gt[:, :, :3] = 1  # 3 of 4 columns of the left superpixel are object 1
    m = SuperpixelOracle(lambda s: g, lambda s: gt)
    m.start(_video(g))
    masks = m.interact(_scribble(0, []))
    expected = np.zeros_like(gt)
    expected[:, :, :4] = 1
    np.testing.assert_array_equal(masks, expected)
