"""Graph baselines (nearest seed, random walker, oracle) against hand-made graphs and
independent brute-force references."""

from __future__ import annotations

import networkx as nx
import numpy as np

from gnnannot.ivos.session import VideoData
from gnnannot.methods.baselines import NearestSeed, RandomWalker, SuperpixelOracle
from gnnannot.preprocess.graph import EDGE_FEATURE_NAMES
from gnnannot.types import VideoGraph


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


def test_random_walker_prior_matches_dense_solution() -> None:
    rng = np.random.default_rng(7)
    g, _ = _random_graph(rng, n_side=4)
    from gnnannot.methods.baselines import colour_laplacian, random_walker_probs

    lap = colour_laplacian(g, 2.0)
    seed = np.full(g.n_nodes, -1)
    seed[0], seed[15] = 1, 0
    prior = np.zeros((g.n_nodes, 2))
    prior[np.arange(g.n_nodes), rng.integers(0, 2, g.n_nodes)] = 1.0
    lam = rng.uniform(0.0, 0.5, g.n_nodes)
    got = random_walker_probs(lap, seed, 2, eps=0.0, tol=1e-12, prior=prior, prior_weight=lam)
    # dense reference: (L_UU + diag(lam_U)) X_U = -L_US M_S + diag(lam_U) P_U
    dense = lap.toarray()
    u = [i for i in range(g.n_nodes) if seed[i] < 0]
    m_s = np.array([[0.0, 1.0], [1.0, 0.0]])  # rows: node 0 (label 1), node 15 (label 0)
    a = dense[np.ix_(u, u)] + np.diag(lam[u])
    b = -dense[np.ix_(u, [0, 15])] @ m_s + lam[u, None] * prior[u]
    np.testing.assert_allclose(got[u], np.linalg.solve(a, b), atol=1e-8)
    np.testing.assert_array_equal(got[[0, 15]], m_s)


def test_flow_edges_scaled_by_flow_scale_and_overlap() -> None:
    g = _two_frame_toy()
    g.edge_weight = np.array([1, 1, 1, 1, 0.5, 0.25, 0.5, 1.0], np.float32)
    from gnnannot.methods.baselines import colour_laplacian

    d = g.edge_features[:, 0].astype(np.float64)
    w = np.exp(-1.0 * (d / d.mean()) ** 2)  # hand-computed colour weights
    lap = colour_laplacian(g, 1.0, flow_scale=10.0, flow_overlap=True).toarray()
    # symmetrised: W[0, 2] = (w(0->2) * 0.5 + w(2->0) * 0.5) * 10 / 2
    assert np.isclose(-lap[0, 2], 10 * (w[4] * 0.5 + w[6] * 0.5) / 2)
    assert np.isclose(-lap[1, 3], 10 * (w[5] * 0.25 + w[7] * 1.0) / 2)
    assert np.isclose(-lap[0, 1], w[0])  # spatial edges unchanged
    np.testing.assert_allclose(lap.sum(axis=1), 0.0, atol=1e-12)


def test_frame_normalised_labels_by_hand() -> None:
    from gnnannot.methods.baselines import frame_normalised_labels

    # frame 0: object 1 peaks at 0.8; frame 1: every object prob is small (far frame)
    p = np.array([[0.2, 0.8, 0.0], [0.7, 0.3, 0.0], [0.98, 0.01, 0.01],
                  [0.97, 0.02, 0.001], [0.999, 0.0005, 0.0005]])
    frame = np.array([0, 0, 1, 1, 1])
    got = frame_normalised_labels(p, frame, 2, threshold=0.5)
    # ratios frame 0: obj1 [1, .375]; frame 1: obj1 [.5, 1, .025], obj2 [1, .1, .05]
    assert got.tolist() == [1, 0, 2, 1, 0]
    assert frame_normalised_labels(p, frame, 2, threshold=0.0).tolist() == [1, 0, 0, 0, 0]


def test_labels_do_not_die_out_along_a_long_video() -> None:
    # 30 frames of 5 one-row superpixels: node 0 is the object, 1-4 background; the
    # object/background edge has Lab distance 3, the others 1 (moderate contrast); flow
    # links each superpixel to itself in the next frame. Scribbles only on frame 0.
    t_n = 30
    local = np.tile(np.array([0, 1, 2, 3, 4], np.int32).repeat(2)[None, None], (t_n, 1, 1))
    edges = []
    for t in range(t_n):
        o = 5 * t
        for k in range(4):
            d = 3.0 if k == 0 else 1.0
            edges += [(o + k, o + k + 1, 0, d), (o + k + 1, o + k, 0, d)]
        if t + 1 < t_n:
            for k in range(5):
                edges += [(o + k, o + 5 + k, 1, 1.0), (o + 5 + k, o + k, 2, 1.0)]
    g = _graph(local, edges)
    sc = {"scribbles": [[] for _ in range(t_n)], "sequence": "toy"}
    sc["scribbles"][0] = [{"path": [[0.0, 0.0]], "object_id": 1},
                          {"path": [[0.25, 0.0], [1.0, 0.0]], "object_id": 0}]  # nodes 1-4
    expected = np.zeros((t_n, 1, 10), np.uint8)
    expected[:, :, :2] = 1
    plain = RandomWalker(lambda s: g, beta=1.0, flow_scale=1.0, flow_overlap=False,
                         frame_threshold=0.0, tol=1e-10)
    fixed = RandomWalker(lambda s: g, beta=1.0, tol=1e-10, frame_threshold=0.5)
    for m in (plain, fixed):
        m.start(VideoData("toy", np.zeros((t_n, 1, 10, 3), np.uint8), 1))
    far_plain = plain.interact(sc)[20:]
    assert far_plain.max() == 0  # the plain walker loses the object far away
    np.testing.assert_array_equal(fixed.interact(sc), expected)


def test_background_prior_fades_a_lone_label_like_the_dense_solution() -> None:
    # a chain of 6 nodes in one frame, one foreground seed at node 0 and no background
    # stroke: the plain walker labels every node foreground; with the implicit background
    # prior the foreground probability solves (L_UU + lam I) x = -L_US 1 (hand-built).
    from gnnannot.interaction.seeds import SeedState
    from gnnannot.methods.baselines import colour_laplacian, seeded_walker_probs

    local = np.arange(6, dtype=np.int32).reshape(1, 1, 6).repeat(2, axis=1)
    edges = [(i, i + 1, 0, 1.0) for i in range(5)] + [(i + 1, i, 0, 1.0) for i in range(5)]
    g = _graph(local, edges)
    lap = colour_laplacian(g, 1.0)
    seeds = SeedState(g, 1)
    seeds.seed[0] = 1
    plain = seeded_walker_probs(lap, seeds, 2, eps=0.0, tol=1e-12)
    assert plain is not None and (plain.argmax(axis=1) == 1).all()
    lam = 0.5
    got = seeded_walker_probs(lap, seeds, 2, eps=0.0, tol=1e-12, background_weight=lam)
    dense = lap.toarray()
    u = list(range(1, 6))
    fg = np.linalg.solve(dense[np.ix_(u, u)] + lam * np.eye(5), -dense[np.ix_(u, [0])][:, 0])
    np.testing.assert_allclose(got[u, 1], fg, atol=1e-8)
    np.testing.assert_allclose(got[u, 0], 1.0 - fg, atol=1e-8)
    assert got[1, 1] > got[5, 1] and got[5].argmax() == 0  # fades with distance


def test_appearance_label_probs_combine_object_models_as_independent_votes() -> None:
    from gnnannot.methods.baselines import appearance_label_probs
    from gnnannot.model.label_model import fit_object_models, predict_object_probs

    rng = np.random.default_rng(3)
    desc = rng.normal(size=(30, 3)).astype(np.float32)
    hits = np.zeros((30, 3), np.float32)  # (N, K + 1)
    hits[:5, 0], hits[5:10, 1], hits[10:15, 2] = 4, 3, 5
    got = appearance_label_probs(desc, hits)
    p = np.clip(predict_object_probs(fit_object_models(desc, hits.T), desc).T.astype(
        np.float64), 1e-4, 1 - 1e-4)
    want = np.stack([(1 - p[:, 0]) * (1 - p[:, 1]), p[:, 0] * (1 - p[:, 1]),
                     p[:, 1] * (1 - p[:, 0])], axis=1)
    np.testing.assert_allclose(got, want / want.sum(axis=1, keepdims=True), rtol=1e-10)
    assert appearance_label_probs(desc, np.zeros((30, 3), np.float32)) is None


def test_appearance_prior_labels_a_look_alike_node_the_graph_cannot_reach() -> None:
    # frame 0: nodes 0 (scribbled fg), 1 (scribbled bg); frame 1: node 2 looks like 0,
    # node 3 like 1, but the flow edges cross (0 -> 3, 1 -> 2), so the walk alone swaps
    # them; a strong appearance prior gives node 2 the object and node 3 background.
    local = np.zeros((2, 4, 8), np.int32)
    local[:, :, 4:] = 1
    edges = [(0, 1, 0, 1.0), (1, 0, 0, 1.0), (2, 3, 0, 1.0), (3, 2, 0, 1.0),
             (0, 3, 1, 1.0), (3, 0, 2, 1.0), (1, 2, 1, 1.0), (2, 1, 2, 1.0)]
    g = _graph(local, edges)
    g.descriptors = np.array([[1.0], [-1.0], [1.0], [-1.0]], np.float32)
    s = _scribble(0, [([[0.1, 0.5], [0.3, 0.5]], 1), ([[0.6, 0.5], [0.9, 0.5]], 0)])
    labels = {}
    for w in (0.0, 10.0):
        rw = RandomWalker(lambda _seq, g=g: g, beta=1.0, flow_scale=1.0, flow_overlap=False,
                          prior_weight=0.0, appearance_weight=w)
        rw.start(_video(g))
        rw.interact(s)
        labels[w] = rw.predict_nodes()
    assert labels[0.0].tolist() == [1, 0, 0, 1]
    assert labels[10.0].tolist() == [1, 0, 1, 0]


def test_random_walker_reports_non_convergence_and_iterations() -> None:
    import warnings

    import pytest

    from gnnannot.methods import baselines
    from gnnannot.methods.baselines import (
        SolveReport,
        SolverWarning,
        colour_laplacian,
        random_walker_probs,
    )

    rng = np.random.default_rng(11)
    g, _ = _random_graph(rng, n_side=8)
    lap = colour_laplacian(g, 2.0)
    seed = np.full(g.n_nodes, -1)
    seed[0], seed[g.n_nodes - 1] = 1, 0
    # capped at 2 iterations: a SolverWarning naming the label, the report says so
    rep = SolveReport()
    with pytest.warns(SolverWarning, match="did not converge in 2 CG iterations"):
        capped = random_walker_probs(lap, seed, 2, tol=1e-10, maxiter=2, report=rep)
    assert rep.unknowns == g.n_nodes - 2 and not rep.ok
    assert rep.iterations == [2, 2] and all(r > 1e-10 for r in rep.residuals)
    # converged: no warning, residuals below tol, the dense solution
    rep = SolveReport()
    with warnings.catch_warnings():
        warnings.simplefilter("error", SolverWarning)
        got = random_walker_probs(lap, seed, 2, eps=0.0, tol=1e-10, report=rep)
    assert rep.ok and all(r <= 1e-10 for r in rep.residuals) and max(rep.iterations) > 2
    dense = lap.toarray()
    u = np.nonzero(seed < 0)[0]
    x = np.linalg.solve(dense[np.ix_(u, u)], -dense[np.ix_(u, [0, g.n_nodes - 1])]
                        @ np.array([[0.0, 1.0], [1.0, 0.0]]))
    np.testing.assert_allclose(got[u], x, atol=1e-7)
    assert np.abs(capped[u] - x).max() > 1e-3  # the capped answer really was incomplete
    # BLAS threads do not change the iterates (the benchmark's before/after)
    old = baselines.SOLVER_BLAS_THREADS
    try:
        baselines.SOLVER_BLAS_THREADS = None
        np.testing.assert_allclose(random_walker_probs(lap, seed, 2, eps=0.0, tol=1e-10), got,
                                   rtol=0, atol=1e-12)
    finally:
        baselines.SOLVER_BLAS_THREADS = old


def test_random_walker_keeps_its_last_solve_report() -> None:
    rng = np.random.default_rng(5)
    g, _ = _random_graph(rng)
    m = RandomWalker(lambda s: g, beta=2.0)
    m.start(_video(g))
    m.seeds.add(_scribble(0, [([[0.0, 0.0]], 1), ([[1.0, 1.0]], 0)], n=1))
    m.predict_nodes()
    assert m.last_solve is not None and m.last_solve.ok
    assert m.last_solve.labels == [0, 1] and m.last_solve.unknowns == g.n_nodes - 2
