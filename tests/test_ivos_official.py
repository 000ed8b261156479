"""Conformance with the official davisinteractive 1.0.4 package (optional).

Install (test-only): ``pip install Cython absl-py scikit-learn six`` then
``pip install --no-deps --no-build-isolation davisinteractive==1.0.4``. The package
predates NumPy 2 / networkx 3 / pandas 2, so a few aliases are shimmed here.
"""

import cv2
import networkx as nx
import numpy as np
import pandas as pd
import pytest
from skimage.morphology import medial_axis

from gnnannot.ivos.metrics import batched_f_measure, batched_jaccard
from gnnannot.ivos.robot import ScribbleRobot, _LegacyPermutation, kdtree_order
from gnnannot.ivos.scribbles import rasterize_frame
from gnnannot.ivos.summary import summarize_report

pytestmark = pytest.mark.official

try:
    for _name, _alias in (("int", int), ("float", float), ("bool", bool)):
        if not hasattr(np, _name):
            setattr(np, _name, _alias)
    if not hasattr(np, "trapz"):
        np.trapz = np.trapezoid
    if not hasattr(nx, "from_scipy_sparse_matrix"):
        nx.from_scipy_sparse_matrix = nx.from_scipy_sparse_array
    import davisinteractive.robot.interactive_robot as official_robot
    from davisinteractive.dataset import Davis
    from davisinteractive.evaluation import EvaluationService
    from davisinteractive.metrics import jaccard as official_metrics
    from davisinteractive.utils.scribbles import scribbles2mask
except ImportError as exc:  # only "not installed" skips (visibly, with -rs); a shim or
    # API mismatch of an installed package is an error, never a silent skip
    pytest.skip(f"optional package davisinteractive 1.0.4 not installed ({exc}); "
                "scripts/test.sh installs it", allow_module_level=True)


def _random_masks(rng, h, w, n_obj):
    out = []
    for _ in range(2):
        m = np.zeros((h, w), np.int32)
        for k in range(1, n_obj + 1):
            for _ in range(int(rng.integers(1, 4))):
                if rng.random() < 0.5:
                    centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
                    axes = (int(rng.integers(3, w // 3)), int(rng.integers(3, h // 3)))
                    cv2.ellipse(m, centre, axes, float(rng.uniform(0, 180)), 0, 360, k, -1)
                else:
                    pts = rng.integers(0, [w, h], size=(int(rng.integers(3, 7)), 2))
                    cv2.fillPoly(m, [pts.astype(np.int32)], k)
        out.append(m)
    return out


def test_metrics_match_official():
    rng = np.random.default_rng(0)
    for case in range(6):
        h, w = int(rng.integers(20, 120)), int(rng.integers(20, 160))
        n_obj = int(rng.integers(1, 4))
        pairs = [_random_masks(rng, h, w, n_obj) for _ in range(3)]
        gt = np.stack([p[0] for p in pairs])
        pred = np.stack([p[1] for p in pairs])
        if case == 0:
            pred[1] = 0  # empty predictions
        ref_j = official_metrics.batched_jaccard(gt, pred, False, n_obj)
        ref_f = official_metrics.batched_f_measure(gt, pred, False, n_obj)
        np.testing.assert_allclose(batched_jaccard(gt, pred, n_obj), ref_j.T, atol=1e-12)
        np.testing.assert_allclose(batched_f_measure(gt, pred, n_obj), ref_f.T, atol=1e-12)


def test_kdtree_order_matches_sklearn():
    sk = pytest.importorskip("sklearn.neighbors")
    rng = np.random.default_rng(1)
    for n in (12, 31, 61, 200, 1500):
        pts = rng.integers(0, 40, size=(n, 2))
        ref = sk.KDTree(pts.astype(float), leaf_size=30).get_arrays()[1]
        np.testing.assert_array_equal(kdtree_order(pts), ref)


def test_rasterisation_matches_scribbles2mask():
    rng = np.random.default_rng(2)
    h, w = 37, 53
    strokes = [
        {"path": rng.random((int(rng.integers(1, 40)), 2)).tolist(), "object_id": int(k % 3)}
        for k in range(6)
    ]
    ref = scribbles2mask({"scribbles": [strokes], "sequence": "x"}, (h, w))[0]
    np.testing.assert_array_equal(rasterize_frame(strokes, h, w), ref)


def _legacy_medial_axis(image, *args, **kwargs):
    return medial_axis(image, rng=_LegacyPermutation(0))


def test_robot_matches_official(monkeypatch):
    # skimage >= 0.19 breaks medial-axis ties with a fresh random permutation on every
    # call; pin the official robot to skimage's historical RandomState(0) tie-break
    monkeypatch.setattr(official_robot, "medial_axis", _legacy_medial_axis)
    ref_robot = official_robot.InteractiveScribblesRobot(
        kernel_size=0.2, max_kernel_radius=16, min_nb_nodes=4, nb_points=1000
    )
    robot = ScribbleRobot()
    rng = np.random.default_rng(3)
    n_cases, same = 25, 0
    for _ in range(n_cases):
        h, w = int(rng.integers(40, 110)), int(rng.integers(40, 150))
        n_obj = int(rng.integers(1, 4))
        gt, pred = _random_masks(rng, h, w, n_obj)
        ref = ref_robot.interact("s", pred[None], gt[None], nb_objects=n_obj, frame=0)
        got = robot.interact("s", pred[None], gt[None], n_objects=n_obj, frame=0)
        ref_lab = scribbles2mask(ref, (h, w))[0]
        same += np.array_equal(rasterize_frame(got["scribbles"][0], h, w), ref_lab)
    assert same / n_cases >= 0.95, f"{same}/{n_cases} identical rasterised scribbles"


def test_robot_matches_official_generator_tie_break(monkeypatch):
    monkeypatch.setattr(official_robot, "medial_axis", lambda im, *a, **k: medial_axis(im, rng=0))
    ref_robot = official_robot.InteractiveScribblesRobot(kernel_size=0.2)
    robot = ScribbleRobot(tie_break="generator")
    rng = np.random.default_rng(5)
    same = 0
    for _ in range(8):
        h, w = int(rng.integers(40, 110)), int(rng.integers(40, 150))
        gt, pred = _random_masks(rng, h, w, 2)
        ref = scribbles2mask(ref_robot.interact("s", pred[None], gt[None], 2, frame=0), (h, w))
        got = robot.interact("s", pred[None], gt[None], 2, frame=0)
        same += np.array_equal(rasterize_frame(got["scribbles"][0], h, w), ref[0])
    assert same >= 7


def test_summary_matches_official(monkeypatch):
    # pandas >= 3 (copy-on-write) hands out read-only ``.values``; the old code writes
    # into them
    monkeypatch.setattr(pd.DataFrame, "values", property(lambda df: df.to_numpy(copy=True)))
    rng = np.random.default_rng(4)
    seqs = ["bike-packing", "blackswan", "dogs-jump"]
    rows = []
    for seq in seqs:
        info = Davis.dataset[seq]
        for idx in range(1, info["num_scribbles"] + 1):
            n_int = int(rng.integers(1, 5))  # fewer than max_i: reconstruction kicks in
            for it in range(1, n_int + 1):
                timing = float(rng.uniform(1, 40))
                for f in range(3):
                    for k in range(1, info["num_objects"] + 1):
                        j, c = rng.random(2)
                        rows.append(["sid", seq, idx, it, k, f, j, c, 0.5 * j + 0.5 * c, timing])
    cols = ["session_id", "sequence", "scribble_idx", "interaction", "object_id", "frame",
            "jaccard", "contour", "j_and_f", "timing"]
    report = pd.DataFrame(rows, columns=cols)
    samples = [(s, i, Davis.dataset[s]["num_objects"]) for s in seqs
               for i in range(1, Davis.dataset[s]["num_scribbles"] + 1)]
    for metric in ("J", "J_AND_F"):
        service = EvaluationService.__new__(EvaluationService)
        service.sequences = seqs
        service.max_i, service.max_t = 5, 240
        service.metric_to_optimize = metric
        service.time_threshold = 60
        service.avg_nb_objects = np.mean([Davis.dataset[s]["num_objects"] for s in seqs])
        # the old summariser averages every column; pandas >= 2 refuses strings
        ref = service.summarize_report(report.drop(columns="session_id"))
        got = summarize_report(report, metric=metric, max_time=240, max_interactions=5,
                               samples=samples)
        assert got["auc"] == pytest.approx(ref["auc"], abs=1e-9)
        assert got["metric_at_threshold"][metric] == pytest.approx(
            ref["metric_at_threshold"][metric], abs=1e-9)
        np.testing.assert_allclose(got["curve"]["time"], ref["curve"]["time"], atol=1e-9)
        np.testing.assert_allclose(got["curve"][metric], ref["curve"][metric], atol=1e-9)
