"""Per-superpixel features against brute-force loops; the CNN descriptor's weight loading."""

from __future__ import annotations

import numpy as np
import pytest

from gnnannot.errors import ConfigError, DataError
from gnnannot.features import (
    COLOUR_DESCRIPTOR_NAMES,
    NODE_FEATURE_NAMES,
    CnnDescriptor,
    Descriptor,
    colour_descriptor,
    node_features,
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
    from gnnannot.features import build_mobilenet_v2

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
