"""Per-superpixel features against brute-force loops; the CNN descriptor's weight loading."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from gnnannot.errors import ConfigError, DataError
from gnnannot.preprocess.descriptors import CnnDescriptor, Descriptor
from gnnannot.preprocess.features import (
    COLOUR_DESCRIPTOR_NAMES,
    NODE_FEATURE_NAMES,
    colour_descriptor,
    gradient_magnitude,
    node_features,
    scale_free_edge_features,
    scale_free_node_features,
    to_lab,
)


def _scene(h: int = 24, w: int = 32, n: int = 7, seed: int = 0):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    labels = rng.integers(0, n, size=(h, w)).astype(np.int32)
    labels[:3, :3] = 0  # id 0 touches the border for sure
    labels[10:14, 10:14] = n - 1  # id n-1 mostly inside
    labels[0, :] = np.arange(w) % (n - 1)  # keep every other id on the border too
    fwd = rng.normal(size=(h, w, 2)).astype(np.float32) * 3
    bwd = rng.normal(size=(h, w, 2)).astype(np.float32) * 3
    occ_n = rng.random((h, w)) < 0.2
    occ_p = rng.random((h, w)) < 0.1
    return image, labels, n, fwd, bwd, occ_n, occ_p


def test_node_features_brute_force() -> None:
    image, labels, n, fwd, bwd, occ_n, occ_p = _scene()
    h, w = labels.shape
    got, count = node_features(image, labels, n, fwd, bwd, occ_n, occ_p)
    assert got.shape == (n, len(NODE_FEATURE_NAMES)) and got.dtype == np.float32
    lab = to_lab(image).astype(np.float64)
    yy, xx = np.mgrid[0:h, 0:w]
    border = np.zeros((h, w), bool)
    border[0, :] = border[-1, :] = border[:, 0] = border[:, -1] = True
    for k in range(n):
        m = labels == k
        row = dict(zip(NODE_FEATURE_NAMES, got[k], strict=True))
        assert count[k] == m.sum()
        for c, name in enumerate("Lab"):
            assert row[f"{name}_mean"] == pytest.approx(lab[..., c][m].mean(), abs=1e-3)
            assert row[f"{name}_std"] == pytest.approx(lab[..., c][m].std(), abs=2e-3)
        assert row["log_size"] == pytest.approx(np.log(m.sum()), rel=1e-6)
        assert row["border"] == float((m & border).any())
        assert row["occ_next"] == pytest.approx(occ_n[m].mean(), abs=1e-6)
        assert row["occ_prev"] == pytest.approx(occ_p[m].mean(), abs=1e-6)
        assert row["cy"] == pytest.approx(yy[m].mean() / h, abs=1e-5)
        assert row["cx"] == pytest.approx(xx[m].mean() / w, abs=1e-5)
        assert row["sy"] == pytest.approx(yy[m].std() / h, abs=1e-4)
        assert row["sx"] == pytest.approx(xx[m].std() / w, abs=1e-4)
        for key, f in (("fwd", fwd), ("bwd", bwd)):
            v = f[m].astype(np.float64)
            assert row[f"{key}_dy"] == pytest.approx(v[:, 0].mean(), abs=1e-4)
            assert row[f"{key}_dx"] == pytest.approx(v[:, 1].mean(), abs=1e-4)
            assert row[f"{key}_std"] == pytest.approx(np.sqrt(v.var(axis=0).sum()), abs=1e-3)
        assert row["has_fwd"] == row["has_bwd"] == 1.0


def test_node_features_missing_flow_gives_zeros_and_flags() -> None:
    image, labels, n, *_ = _scene()
    got, _ = node_features(image, labels, n)
    col = {k: i for i, k in enumerate(NODE_FEATURE_NAMES)}
    for name in ("fwd_dy", "fwd_std", "bwd_dx", "occ_next", "occ_prev", "has_fwd", "has_bwd"):
        assert (got[:, col[name]] == 0).all()


def test_node_features_rejects_gaps_in_ids() -> None:
    image, labels, n, *_ = _scene()
    with pytest.raises(DataError, match="contiguous"):
        node_features(image, labels, n + 2)


def test_colour_descriptor_brute_force() -> None:
    image, labels, n, *_ = _scene(seed=4)
    got = colour_descriptor(image, labels, n)
    assert got.shape == (n, len(COLOUR_DESCRIPTOR_NAMES))
    lab = to_lab(image)
    l_edges = np.linspace(0, 100, 9)[1:-1]
    ab_edges = np.array([-40, -20, -10, -3, 3, 10, 20])
    for k in range(n):
        m = labels == k
        for c, edges in ((0, l_edges), (1, ab_edges), (2, ab_edges)):
            bins = np.digitize(lab[..., c][m], edges)
            hist = np.bincount(bins, minlength=8) / m.sum()
            np.testing.assert_allclose(got[k, c * 8 : c * 8 + 8], hist, atol=1e-6)
    # histograms sum to 1 per channel
    np.testing.assert_allclose(got[:, :24].reshape(n, 3, 8).sum(-1), 1.0, atol=1e-5)


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory: pytest.TempPathFactory):
    torch = pytest.importorskip("torch")
    from gnnannot.preprocess.descriptors import build_mobilenet_v2

    torch.manual_seed(0)
    model = build_mobilenet_v2(n_layers=18, width_mult=0.25)  # small, random
    path = tmp_path_factory.mktemp("w") / "mbv2_tiny.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, path)
    return path, model


def test_cnn_descriptor_loads_local_weights(weights_file) -> None:
    torch = pytest.importorskip("torch")
    path, model = weights_file
    desc = CnnDescriptor(path, layer=7)
    assert desc.width_mult == 0.25
    image, labels, n, *_ = _scene(h=64, w=96, seed=5)
    out = desc(image, labels, n)
    assert out.shape == (n, desc.dim) and np.isfinite(out).all()
    # the loaded weights are the saved ones: same activations as the source model
    model.eval()
    x = (image.astype(np.float32) / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    t = torch.from_numpy(x.transpose(2, 0, 1).astype(np.float32))[None]
    with torch.no_grad():
        ref = model.features[:7](t)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(desc.activations(image), ref, rtol=1e-4, atol=1e-5)
    d2 = Descriptor("cnn", path, 7)
    np.testing.assert_allclose(d2(image, labels, n), out)


def test_cnn_descriptor_errors(tmp_path, weights_file) -> None:
    torch = pytest.importorskip("torch")
    with pytest.raises(DataError, match="not found"):
        CnnDescriptor(tmp_path / "missing.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(DataError, match="cannot load"):
        CnnDescriptor(bad)
    partial = tmp_path / "partial.pth"
    path, model = weights_file
    sd = {k: v for k, v in model.state_dict().items() if not k.startswith("features.3.")}
    torch.save(sd, partial)
    with pytest.raises(DataError, match="lack"):
        CnnDescriptor(partial, layer=7)
    with pytest.raises(ConfigError):
        Descriptor("cnn", None)
    with pytest.raises(ConfigError):
        Descriptor("sift")


def test_texture_columns_brute_force() -> None:
    import cv2

    image, labels, n, *_ = _scene(seed=6)
    got = colour_descriptor(image, labels, n)
    col = {k: i for i, k in enumerate(COLOUR_DESCRIPTOR_NAMES)}
    L = to_lab(image)[..., 0]
    L3 = cv2.GaussianBlur(L, (0, 0), 2.0)
    mag3 = np.hypot(cv2.Sobel(L3, cv2.CV_32F, 1, 0, ksize=3, scale=0.125),
                    cv2.Sobel(L3, cv2.CV_32F, 0, 1, ksize=3, scale=0.125))  # fmt: skip
    lap = np.abs(cv2.Laplacian(L, cv2.CV_32F, ksize=1))
    for k in range(n):
        m = labels == k
        np.testing.assert_allclose(got[k, col["grad_mag3"]], mag3[m].mean(), rtol=1e-4)
        np.testing.assert_allclose(got[k, col["laplacian"]], lap[m].mean(), rtol=1e-4)
        np.testing.assert_allclose(got[k, col["L_contrast"]], np.abs(L - L3)[m].mean(), rtol=1e-4)
    # orientation bins (as ``arctan2 % pi``) and magnitude-weighted histogram
    from gnnannot.preprocess.features import _texture_planes

    Lc = np.ascontiguousarray(L)
    ob, mg, _ = _texture_planes(Lc)
    np.testing.assert_allclose(mg, np.hypot(*(cv2.Sobel(Lc, cv2.CV_32F, *d, ksize=3, scale=0.125)
                                              for d in ((1, 0), (0, 1)))), rtol=1e-5)  # fmt: skip
    gy_, gx_ = (cv2.Sobel(Lc, cv2.CV_32F, *d, ksize=3, scale=0.125).astype(np.float64)
                for d in ((0, 1), (1, 0)))  # fmt: skip
    q = np.arctan2(gy_, gx_) % np.pi * (4 / np.pi)
    away = (mg > 0) & (np.abs(q - np.round(q)) > 1e-6)  # off the bin edges, weighted
    np.testing.assert_array_equal(ob.reshape(L.shape)[away], np.floor(q[away]).astype(int))
    for k in range(n):
        m = labels == k
        for b in range(4):
            want = mg[m & (ob.reshape(L.shape) == b)].sum() / m.sum()
            assert got[k, col[f"grad_orient{b}"]] == pytest.approx(want, rel=1e-5, abs=1e-6)
        assert got[k, col["grad_mag1"]] == pytest.approx(mg[m].mean(), rel=1e-5)


def test_texture_orientation_fold_matches_modulo() -> None:
    from gnnannot.preprocess.features import _texture_planes

    rng = np.random.default_rng(2)
    L = rng.normal(50, 20, size=(40, 50)).astype(np.float32)
    L[:, 10] = L[:, 12]  # gy == 0 rows / gx == 0 columns occur exactly
    L[20] = L[22]
    import cv2

    gx = cv2.Sobel(L, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
    gy = cv2.Sobel(L, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
    q = np.arctan2(gy.astype(np.float64), gx.astype(np.float64)) % np.pi * (4 / np.pi)
    got, _, _ = _texture_planes(L)
    got = got.reshape(L.shape)
    away = (np.hypot(gx, gy) > 0) & (np.abs(q - np.round(q)) > 1e-6)
    np.testing.assert_array_equal(got[away], np.floor(q[away]).astype(int))
    # exactly on the 0/180 degree edge -> bin 0; exactly vertical (90 degrees) -> bin 2
    assert ((gy == 0) & (gx != 0)).any() and ((gx == 0) & (gy != 0)).any()
    assert (got[(gy == 0) & (gx != 0)] == 0).all()
    assert (got[(gx == 0) & (gy != 0)] == 2).all()


def test_plane_sums_brute_force() -> None:
    from gnnannot.preprocess.features import one_hot, plane_sums

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 9, size=(13, 17))
    planes = [rng.normal(size=(13, 17, k)).astype(np.float32) for k in (3, 1, 2, 7, 5)]
    planes[1] = planes[1][..., 0]  # a 2-D plane
    got = plane_sums(one_hot(labels, 9), planes)  # 18 channels: two cv2.merge groups
    cols = np.concatenate([p.reshape(13, 17, -1) for p in planes], axis=-1)
    want = np.stack([cols[labels == k].sum(0) for k in range(9)])
    assert got.shape == (9, 18) and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    with pytest.raises(DataError, match="0..8"):
        one_hot(labels + 1, 9)


def test_frame_features_equals_parts() -> None:
    from gnnannot.preprocess.features import frame_features

    image, labels, n, fwd, bwd, occ_n, occ_p = _scene(seed=8)
    f, count, d = frame_features(image, labels, n, fwd, None, occ_n, None)
    f2, count2 = node_features(image, labels, n, fwd, None, occ_n, None)
    np.testing.assert_array_equal(f, f2)
    np.testing.assert_array_equal(count, count2)
    np.testing.assert_array_equal(d, colour_descriptor(image, labels, n))
    np.testing.assert_array_equal(d, Descriptor("colour")(image, labels, n))


def test_histogram_bins_match_searchsorted() -> None:
    from gnnannot.preprocess.features import _AB_EDGES, _bins

    rng = np.random.default_rng(4)
    # bin edges themselves, their float32 neighbours, far out-of-range values and noise
    edges = np.concatenate([_AB_EDGES, np.arange(0, 101, 12.5, dtype=np.float32)])
    near = np.concatenate([np.nextafter(edges, -np.inf), edges, np.nextafter(edges, np.inf)])
    v = np.concatenate([near, [-1e6, -200, -41.5, -0.0, 0.0, 99.99, 100, 130, 1e6],
                        rng.uniform(-150, 150, 500)]).astype(np.float32)  # fmt: skip
    v = v.reshape(1, -1)
    want_l = np.searchsorted(np.arange(1, 8, dtype=np.float32), v / np.float32(12.5), "right")
    np.testing.assert_array_equal(_bins(v, 0), want_l)
    want_ab = np.searchsorted(_AB_EDGES, v, "right")
    for ch in (1, 2):
        got = _bins(v, ch)
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, want_ab)


def test_mask_counts_and_missing_inputs() -> None:
    from gnnannot.preprocess.features import _mask_counts, frame_features

    image, labels, n, fwd, bwd, occ_n, occ_p = _scene(seed=9)
    flat = labels.ravel().astype(np.int64)
    want = np.array([occ_n[labels == k].sum() for k in range(n)])
    np.testing.assert_array_equal(_mask_counts(flat, occ_n, n), want)
    np.testing.assert_array_equal(_mask_counts(flat, None, n), np.zeros(n))
    # missing flows / occlusions give the same columns as all-zero ones, minus the flags
    f_none, _, d_none = frame_features(image, labels, n)
    zf, zo = np.zeros_like(fwd), np.zeros_like(occ_n)
    f_zero, _, d_zero = frame_features(image, labels, n, zf, zf, zo, zo)
    f_zero[:, [NODE_FEATURE_NAMES.index("has_fwd"), NODE_FEATURE_NAMES.index("has_bwd")]] = 0
    np.testing.assert_array_equal(f_none, f_zero)
    np.testing.assert_array_equal(d_none, d_zero)


def test_scale_free_features_equal_at_twice_the_resolution() -> None:
    """The same scene at 2x resolution (every pixel a 2x2 block, flows doubled) gives the
    same scale-free node features: sizes relative to the frame's mean, spatial stds
    relative to the mean superpixel side, flows over the image diagonal."""
    image, labels, n, fwd, bwd, occ_n, occ_p = _scene()
    h, w = labels.shape

    def up(a: np.ndarray) -> np.ndarray:
        return np.repeat(np.repeat(a, 2, axis=0), 2, axis=1)

    small, _ = node_features(image, labels, n, fwd, bwd, occ_n, occ_p)
    big, _ = node_features(up(image), up(labels), n, up(fwd) * 2, up(bwd) * 2, up(occ_n),
                           up(occ_p))
    assert not np.allclose(small, big)  # raw sizes and flows depend on the resolution
    a = scale_free_node_features(small, NODE_FEATURE_NAMES, h, w, np.array([n]))
    b = scale_free_node_features(big, NODE_FEATURE_NAMES, 2 * h, 2 * w, np.array([n]))
    col = {c: i for i, c in enumerate(NODE_FEATURE_NAMES)}
    skip = ("sy", "sx", "cy", "cx", "L_std", "a_std", "b_std")
    exact = [i for c, i in col.items() if c not in skip]
    np.testing.assert_allclose(b[:, exact], a[:, exact], atol=2e-3)
    # centroids over H, W are pixel indices: a 2x2 block's mean index is 2y + 1/2
    for c, size in (("cy", h), ("cx", w)):
        np.testing.assert_allclose(b[:, col[c]], a[:, col[c]] + 0.25 / size, atol=1e-5)
    # a 2x2 block adds the variance 1/4 of its own pixels: std' = sqrt(4 var + 1/4) / 2
    for c, size in (("sy", h), ("sx", w)):
        std = small[:, col[c]].astype(np.float64) * size
        side = np.sqrt(h * w / n)
        np.testing.assert_allclose(b[:, col[c]], np.sqrt(4 * std**2 + 0.25) / (2 * side),
                                   rtol=1e-3, atol=1e-5)


def test_scale_free_hand_computed_and_errors() -> None:
    names = list(NODE_FEATURE_NAMES)
    col = {c: i for i, c in enumerate(names)}
    f = np.zeros((3, len(names)), np.float32)
    f[:, col["log_size"]] = np.log([100.0, 300.0, 50.0])
    f[:, col["sy"]] = 0.1
    f[:, col["fwd_dx"]] = 5.0
    f[:, col["L_mean"]] = 42.0
    # 30x40 image (diagonal 50), frames of 2 and 1 superpixels: mean areas 600 and 1200
    got = scale_free_node_features(f, names, 30, 40, np.array([2, 1]))
    np.testing.assert_allclose(got[:, col["log_size"]], np.log([100 / 600, 300 / 600,
                                                                50 / 1200]), rtol=1e-5)
    np.testing.assert_allclose(got[:, col["sy"]], 0.1 * 30 / np.sqrt([600, 600, 1200]),
                               rtol=1e-5)
    np.testing.assert_allclose(got[:, col["fwd_dx"]], 0.1, rtol=1e-6)
    np.testing.assert_array_equal(got[:, col["L_mean"]], 42.0)
    assert f[0, col["fwd_dx"]] == 5.0  # input untouched
    with pytest.raises(DataError, match="frame_counts"):
        scale_free_node_features(f, names, 30, 40, np.array([2, 2]))
    with pytest.raises(DataError, match="missing column"):
        scale_free_node_features(f[:, :3], names[:3], 30, 40, np.array([3]))
    enames = ["fwd_min_mag", "bwd_min_mag", "log_contact", "weight"]
    e = np.array([[10.0, 25.0, np.log1p(60.0), 0.5]], np.float32)
    # 2 frames of 30x40 with 4 nodes: mean superpixel side sqrt(600) per contact pixel
    ge = scale_free_edge_features(e, enames, 30, 40, n_nodes=4, n_frames=2)
    np.testing.assert_allclose(ge[0], [0.2, 0.5, np.log1p(60 / np.sqrt(600)), 0.5],
                               rtol=1e-5)


def test_orientation_bins_match_float64_arctan2_and_edges():
    """Comparison-only orientation bins agree with a float64 atan2 reference away from bin
    edges, and put vectors exactly on an edge into the upper bin."""
    from gnnannot.preprocess.features import orientation_bins

    rng = np.random.default_rng(3)
    g = rng.normal(size=(2, 64, 64)).astype(np.float32)
    ang = np.mod(np.arctan2(g[1].astype(np.float64), g[0].astype(np.float64)), np.pi)
    ref = np.floor(ang / (np.pi / 4)).astype(np.int8).ravel()
    dist = np.abs(ang / (np.pi / 4) - np.round(ang / (np.pi / 4))).ravel()
    got = orientation_bins(g[0], g[1])
    assert np.array_equal(got[dist > 1e-6], ref[dist > 1e-6])
    # (gx, gy) on the edges 0, 45, 90, 135 and 180 degrees, and their negatives
    gx = np.array([[1, 1, 0, -1, -1, -1, -1, 0, 1]], dtype=np.float32)
    gy = np.array([[0, 1, 1, 1, 0, -1, 0, -1, -1]], dtype=np.float32)
    assert orientation_bins(gx, gy).tolist() == [0, 1, 2, 3, 0, 1, 0, 2, 3]


def test_descriptor_bytes_identical_on_every_call() -> None:
    """The same frame gives the same descriptor bytes on every call, whatever the memory
    layout around it (cv2.magnitude did not: 2 of 6 calls differed in the last bit, so the
    features store's hash changed between identical `dvc repro` runs)."""
    rng = np.random.default_rng(5)
    h, w = 240, 427  # the synthetic default size (smaller planes hit no disagreeing pixel)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    image = cv2.GaussianBlur(image, (0, 0), 1.5)  # smooth gradients, many near-equal values
    labels = (np.arange(h)[:, None] // 12 * 14 + np.arange(w)[None, :] // 12).astype(np.int32)
    n = int(labels.max()) + 1
    first = colour_descriptor(image, labels, n)
    junk = []
    for size in rng.integers(1, 4097, 30):
        junk.append(np.empty(int(size), np.uint8))  # shifts where the next buffers land
        again = colour_descriptor(image.copy(), labels, n)
        assert again.tobytes() == first.tobytes()


def test_gradient_magnitude_is_the_correctly_rounded_norm() -> None:
    rng = np.random.default_rng(6)
    gx = rng.normal(size=(37, 53)).astype(np.float32)
    gy = rng.normal(size=(37, 53)).astype(np.float32)
    got = gradient_magnitude(gx, gy)
    ref = np.hypot(gx.astype(np.float64), gy.astype(np.float64))  # independent, float64
    assert got.dtype == np.float32 and got.shape == gx.shape
    ulp = np.spacing(ref.astype(np.float32))
    assert np.all(np.abs(got - ref) <= 1.5 * ulp)
    assert gradient_magnitude(gx[:, 1:], gy[:, 1:]).tobytes() == got[:, 1:].copy().tobytes()
