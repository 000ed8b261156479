"""The random walker's priors (previous labels, soft seeds, implicit background, global
appearance model) against a dense NumPy solution of Grady's random walker with priors,
and the appearance model's vote combination against its formula evaluated node by node."""

from __future__ import annotations

import numpy as np
import pytest

from gnnannot.interaction.seeds import SeedState
from gnnannot.ivos.session import VideoData
from gnnannot.methods.baselines import (
    AppearanceModel,
    NearestSeed,
    RandomWalker,
    appearance_label_probs,
    colour_laplacian,
    seeded_walker_probs,
)
from gnnannot.model.label_model import fit_object_models, predict_object_probs
from gnnannot.preprocess.graph import EDGE_FEATURE_NAMES
from gnnannot.types import VideoGraph

N, W = 6, 12  # a 1 x 12 frame, node i = pixels 2i and 2i + 1, chained 0 - 1 - ... - 5


def _chain() -> VideoGraph:
    local = (np.arange(W) // 2).astype(np.int32).reshape(1, 1, W)
    src = list(range(N - 1)) + list(range(1, N))
    dst = list(range(1, N)) + list(range(N - 1))
    d = np.array([1.0, 2.0, 0.5, 3.0, 1.5] * 2)
    feats = np.zeros((len(src), len(EDGE_FEATURE_NAMES)), np.float32)
    feats[:, EDGE_FEATURE_NAMES.index("lab_dist")] = d
    return VideoGraph(
        seq="c", height=1, width=W, frame_offsets=np.array([0, N], np.int64),
        node_features=np.zeros((N, 1), np.float32), node_feature_names=("x",),
        descriptors=np.zeros((N, 1), np.float32), descriptor_names=("d",),
        node_pixel_count=np.full(N, 2, np.int64), edge_index=np.array([src, dst], np.int64),
        edge_type=np.zeros(len(src), np.int8), edge_weight=np.ones(len(src), np.float32),
        edge_features=feats, edge_feature_names=EDGE_FEATURE_NAMES,
        local_source=lambda i: local[i],
    )


def _stroke(pixel: int, label: int) -> dict:
    return {"path": [[(pixel + 0.5) / (W - 1), 0.0]], "object_id": label}


def _dense(lap: np.ndarray, seed: np.ndarray, lam: np.ndarray, prior: np.ndarray
           ) -> np.ndarray:
    """(L_UU + diag lam_U) X_U = -L_US M_S + diag(lam_U) P_U, seeds one-hot."""
    k = prior.shape[1]
    s = np.nonzero(seed >= 0)[0]
    u = np.nonzero(seed < 0)[0]
    m_s = np.eye(k)[seed[s]]
    out = np.zeros((len(seed), k))
    out[s] = m_s
    a = lap[np.ix_(u, u)] + np.diag(lam[u])
    b = -lap[np.ix_(u, s)] @ m_s + lam[u, None] * prior[u]
    out[u] = np.linalg.solve(a, b)
    return out


def test_seeded_walker_priors_match_the_dense_solution() -> None:
    g = _chain()
    lap = colour_laplacian(g, 1.0)
    seeds = SeedState(g, 2)
    # node 0: object 1; node 5: background; node 3: one pixel of object 2, one of
    # background (a soft seed with fractions 1/2, 1/2)
    seeds.add({"scribbles": [[_stroke(0, 1), _stroke(10, 0), _stroke(6, 2), _stroke(7, 0)]],
               "sequence": "c"})  # fmt: skip
    assert seeds.seed.tolist() == [1, -1, -1, -1, -1, 0]
    assert seeds.soft_nodes.tolist() == [3]
    rng = np.random.default_rng(0)
    prev = rng.integers(0, 3, N)
    appearance = rng.dirichlet(np.ones(3), N)
    got = seeded_walker_probs(lap, seeds, 3, prev_labels=prev, prior_weight=0.2,
                              soft_seed_weight=0.7, eps=0.0, tol=1e-12,
                              appearance=appearance, appearance_weight=0.3,
                              background_weight=0.05)  # fmt: skip
    # the priors by hand: weights add up, each prior enters with its weight
    lam = np.full(N, 0.2 + 0.3 + 0.05)
    num = 0.3 * appearance
    num[:, 0] += 0.05
    num[np.arange(N), prev] += 0.2
    lam[3] += 0.7
    num[3] += 0.7 * np.array([0.5, 0.0, 0.5])
    want = _dense(lap.toarray(), seeds.seed, lam, num / lam[:, None])
    np.testing.assert_allclose(got, want, atol=1e-9)
    # each prior alone (the others 0) agrees too
    for kw, lam1, num1 in [
        ({"prev_labels": prev, "prior_weight": 0.2}, np.full(N, 0.2),
         0.2 * np.eye(3)[prev]),
        ({"background_weight": 0.05}, np.full(N, 0.05), np.c_[np.full(N, 0.05),
                                                              np.zeros((N, 2))]),
    ]:  # fmt: skip
        got = seeded_walker_probs(lap, seeds, 3, eps=0.0, tol=1e-12, **kw)
        lam1, num1 = lam1.copy(), num1.copy()
        want = _dense(lap.toarray(), seeds.seed, lam1, num1 / lam1[:, None])
        np.testing.assert_allclose(got, want, atol=1e-9)
    got = seeded_walker_probs(lap, seeds, 3, soft_seed_weight=0.7, eps=0.0, tol=1e-12)
    lam2 = np.zeros(N)
    lam2[3] = 0.7
    p2 = np.zeros((N, 3))
    p2[3] = [0.5, 0.0, 0.5]
    np.testing.assert_allclose(got, _dense(lap.toarray(), seeds.seed, lam2, p2), atol=1e-9)


def test_no_seed_and_no_prior_gives_none() -> None:
    g = _chain()
    lap = colour_laplacian(g, 1.0)
    assert seeded_walker_probs(lap, SeedState(g, 1), 2) is None
    only_prior = seeded_walker_probs(lap, SeedState(g, 1), 2, background_weight=0.1,
                                     eps=0.0, tol=1e-12)  # fmt: skip
    np.testing.assert_allclose(only_prior, np.c_[np.ones(N), np.zeros(N)], atol=1e-9)


def _votes(p: np.ndarray) -> np.ndarray:
    """q_k ∝ p_k prod_{j != k}(1 - p_j), q_0 ∝ prod_j (1 - p_j), node by node."""
    n, k = p.shape
    q = np.zeros((n, k + 1))
    for i in range(n):
        q[i, 0] = np.prod([1 - p[i, j] for j in range(k)])
        for a in range(k):
            q[i, a + 1] = p[i, a] * np.prod([1 - p[i, j] for j in range(k) if j != a])
        q[i] /= q[i].sum()
    return q


@pytest.mark.parametrize("l2", [0.05, 3.0])
def test_appearance_votes_follow_the_formula(l2: float) -> None:
    rng = np.random.default_rng(1)
    desc = np.r_[rng.normal(0, 1, (20, 3)), rng.normal(4, 1, (20, 3)),
                 rng.normal(-4, 1, (20, 3))]  # fmt: skip
    hits = np.zeros((60, 3))
    hits[:5, 0] = 3  # background scribbles on cluster 0
    hits[20:25, 1] = 2  # object 1 on cluster 1
    hits[40:45, 2] = 4  # object 2 on cluster 2
    mean, scale = desc.mean(axis=0), desc.std(axis=0)
    got = appearance_label_probs(desc, hits, l2=l2, mean=mean, scale=scale)
    models = fit_object_models(desc, hits.T, l2=l2, mean=mean, scale=scale)
    p = np.clip(predict_object_probs(models, desc).T.astype(np.float64), 1e-4, 1 - 1e-4)
    np.testing.assert_allclose(got, _votes(p), rtol=1e-9)
    assert np.isfinite(got).all() and np.allclose(got.sum(axis=1), 1.0)
    assert (got[20:40].argmax(axis=1) == 1).mean() > 0.9  # clusters follow their scribbles
    # the appearance model object: its statistics, the same distribution
    model = AppearanceModel(desc, l2=l2)
    d32 = desc.astype(np.float32).astype(np.float64)  # the model keeps float32 descriptors
    np.testing.assert_allclose(model.mean, d32.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(model.scale, d32.std(axis=0), rtol=1e-12)
    np.testing.assert_allclose(model(hits), appearance_label_probs(
        desc.astype(np.float32), hits, l2, model.mean, model.scale), rtol=1e-9)  # fmt: skip
    assert appearance_label_probs(desc, np.c_[hits[:, :1], np.zeros((60, 2))]) is None


def test_appearance_votes_of_certain_models_stay_finite() -> None:
    """Far-apart clusters give probabilities of 1 in float32: clipped to 1 - 1e-4, the
    votes stay finite."""
    desc = np.r_[np.zeros((10, 1)), np.full((10, 1), 1e4)]
    hits = np.zeros((20, 2))
    hits[:3, 0] = 1
    hits[10:13, 1] = 1
    q = appearance_label_probs(desc, hits, l2=1e-6)
    assert np.isfinite(q).all()
    np.testing.assert_allclose(q[15], [1e-4, 1 - 1e-4], rtol=1e-3)


def _video() -> VideoData:
    return VideoData("c", np.zeros((1, 1, W, 3), np.uint8), 1)


def test_random_walker_uses_its_previous_labels_and_background_prior() -> None:
    """Second interaction of the method: its probabilities are the dense solution with
    the first interaction's labels as prior (weight prior_weight) plus the background
    prior; flow_scale/overlap do not matter on this spatial-only chain."""
    g = _chain()
    m = RandomWalker(lambda s: g, beta=1.0, prior_weight=0.3, background_weight=0.02,
                     soft_seed_weight=0.0, eps=0.0, tol=1e-12)  # fmt: skip
    m.start(_video())
    m.seeds.add({"scribbles": [[_stroke(0, 1), _stroke(10, 0)]], "sequence": "c"})
    first = m.predict_nodes()
    lap = colour_laplacian(g, 1.0).toarray()
    lam = np.full(N, 0.02)
    p = np.c_[np.ones(N), np.zeros(N)]
    np.testing.assert_allclose(m._probs, _dense(lap, m.seeds.seed, lam, p), atol=1e-9)
    m.seeds.add({"scribbles": [[_stroke(4, 1)]], "sequence": "c"})  # node 2: object
    m.predict_nodes()
    num = np.c_[np.full(N, 0.02), np.zeros(N)]
    num[np.arange(N), first] += 0.3
    lam = np.full(N, 0.32)
    np.testing.assert_allclose(m._probs, _dense(lap, m.seeds.seed, lam, num / lam[:, None]),
                               atol=1e-9)  # fmt: skip


def test_nearest_seed_with_an_isolated_node_and_unpainted_scribbles() -> None:
    """The last node has no edge (never reached: background); with paint_scribbles
    False a scribbled pixel keeps its node's label."""
    g = _chain()
    keep = g.edge_index.max(axis=0) < N - 1  # drop node 5's edges
    g.edge_index = g.edge_index[:, keep]
    g.edge_type, g.edge_weight = g.edge_type[keep], g.edge_weight[keep]
    g.edge_features = g.edge_features[keep]
    m = NearestSeed(lambda s: g, mixed_seeds="latest", paint_scribbles=False)
    m.start(_video())
    masks = m.interact({"scribbles": [[_stroke(0, 1)]], "sequence": "c"})
    assert m.predict_nodes().tolist() == [1, 1, 1, 1, 1, 0]
    # node 0's other pixel now scribbled background: "latest" gives node 0 background,
    # and pixel 0 (object 1 before) is not painted back
    masks = m.interact({"scribbles": [[_stroke(1, 0)]], "sequence": "c"})
    assert masks[0, 0, :2].tolist() == [0, 0]
    painted = NearestSeed(lambda s: g, mixed_seeds="latest")
    painted.start(_video())
    painted.interact({"scribbles": [[_stroke(0, 1)]], "sequence": "c"})
    masks = painted.interact({"scribbles": [[_stroke(1, 0)]], "sequence": "c"})
    assert masks[0, 0, :2].tolist() == [1, 0]  # painted: the scribbled pixels' labels
