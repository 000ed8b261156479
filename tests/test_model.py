"""GatedGCN layer, GNNAnnot network, combine_objects and checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gnnannot.errors import ConfigError, DataError
from gnnannot.model import (
    GatedGCNLayer,
    GNNAnnot,
    combine_objects,
    load_checkpoint,
    save_checkpoint,
)


def _randomise_bn(module: torch.nn.Module, gen: torch.Generator) -> None:
    for bn in module.modules():
        if isinstance(bn, torch.nn.BatchNorm1d):
            n = bn.num_features
            bn.running_mean.copy_(torch.randn(n, generator=gen))
            bn.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            bn.weight.data.copy_(torch.randn(n, generator=gen))
            bn.bias.data.copy_(torch.randn(n, generator=gen))


def _tiny_graph(n: int = 7, seed: int = 0) -> tuple[torch.Tensor, int]:
    rng = np.random.default_rng(seed)
    edges = {(int(a), int(b)) for a, b in rng.integers(0, n, (2, 3 * n)).T if a != b}
    edges |= {(0, 1), (1, 0), (2, 1)}
    ei = torch.tensor(sorted(edges), dtype=torch.long).T  # node n-1 may have no in-edges
    return ei, n


def _reference_layer(layer: GatedGCNLayer, h: np.ndarray, e: np.ndarray, ei: np.ndarray,
                     snorm_n: float, snorm_e: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-node / per-edge loops over the module-docstring equations (float64)."""
    def lin(wb: tuple[torch.Tensor, torch.Tensor], x: np.ndarray) -> np.ndarray:
        w, b = (t.detach().double().numpy() for t in wb)
        return w @ x + b

    def bn(mod: torch.nn.BatchNorm1d, x: np.ndarray) -> np.ndarray:
        mean, var = mod.running_mean.double().numpy(), mod.running_var.double().numpy()
        g, b = mod.weight.detach().double().numpy(), mod.bias.detach().double().numpy()
        return (x - mean) / np.sqrt(var + mod.eps) * g + b

    c = (layer.C.weight, layer.C.bias)
    n, d = h.shape
    src, dst = ei
    e_hat = np.zeros_like(e)
    for k in range(ei.shape[1]):
        j, i = src[k], dst[k]
        e_hat[k] = lin(c, e[k]) + lin(layer.A, h[i]) + lin(layer.B, h[j])
    sig = 1.0 / (1.0 + np.exp(-e_hat))
    h_new = np.zeros_like(h)
    for i in range(n):
        incoming = [k for k in range(ei.shape[1]) if dst[k] == i]
        den = sum((sig[k] for k in incoming), np.zeros(d)) + layer.eps
        agg = sum((sig[k] / den * lin(layer.V, h[src[k]]) for k in incoming), np.zeros(d))
        x = (lin(layer.U, h[i]) + agg) * snorm_n
        h_new[i] = h[i] + np.maximum(bn(layer.bn_h, x), 0)
    e_new = e + np.maximum(bn(layer.bn_e, e_hat * snorm_e), 0)
    return h_new, e_new


@pytest.mark.parametrize("inference", [False, True])
def test_gatedgcn_layer_matches_loop_reference(inference: bool) -> None:
    gen = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    ei, n = _tiny_graph()
    d = 5
    layer = GatedGCNLayer(d, dropout=0.3).eval()
    _randomise_bn(layer, gen)
    h = torch.randn(n, d, generator=gen)
    e = torch.randn(ei.shape[1], d, generator=gen)
    sn, se = 0.7, 0.4
    ctx = torch.inference_mode() if inference else torch.enable_grad()
    with ctx:
        h1, e1 = layer(h, e, ei, sn, se)
    rh, re_ = _reference_layer(layer, h.double().numpy(), e.double().numpy(), ei.numpy(), sn,
                               se)
    np.testing.assert_allclose(h1.detach().numpy(), rh, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(e1.detach().numpy(), re_, rtol=1e-4, atol=1e-5)


def test_gatedgcn_object_axis_and_chunking_match_plain_path() -> None:
    gen = torch.Generator().manual_seed(2)
    torch.manual_seed(2)
    n, n_e, k, d = 40, 300, 3, 6
    ei = torch.randint(0, n, (2, n_e), generator=gen)
    ei = ei[:, torch.argsort(ei[1], stable=True)]  # target-sorted: in-place edge update
    layer = GatedGCNLayer(d).eval()
    _randomise_bn(layer, gen)
    h = torch.randn(n, k, d, generator=gen)
    e_shared = torch.randn(n_e, d, generator=gen)
    sn = torch.rand(n, generator=gen) + 0.5
    se = torch.rand(n_e, generator=gen) + 0.5
    # per-object plain evaluation (K separate graphs) ...
    ref = [layer(h[:, j], e_shared, ei, sn, se) for j in range(k)]
    # ... equals the stacked object axis, in the autograd path and the chunked path
    h_all, e_all = layer(h, e_shared, ei, sn, se)
    layer.cpu_chunk_rows = 50  # force many chunks
    with torch.inference_mode():
        h_fast, e_fast = layer(h, e_shared, ei, sn, se)
        e_in = e_all.clone()
        h_fast2, e_fast2 = layer(h, e_in, ei, sn, se, inplace_edges=True)
    ref2 = [layer(h[:, j], e_all[:, j], ei, sn, se) for j in range(k)]
    for j in range(k):
        for a, b in ((h_all[:, j], ref[j][0]), (e_all[:, j], ref[j][1]),
                     (h_fast[:, j], ref[j][0]), (e_fast[:, j], ref[j][1]),
                     (h_fast2[:, j], ref2[j][0]), (e_fast2[:, j], ref2[j][1])):
            torch.testing.assert_close(a, b.detach(), rtol=1e-5, atol=1e-5)
    assert e_fast2.data_ptr() == e_in.data_ptr()


def _model_inputs(n: int = 30, n_e: int = 120, k: int = 3, seed: int = 0,
                  model: GNNAnnot | None = None) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    p = model.params if model is not None else {"n_const": 4, "n_dyn": 3, "n_edge": 2}
    xc = torch.randn(n, p["n_const"], generator=gen)
    xd = torch.randn(k, n, p["n_dyn"], generator=gen)
    ei = torch.randint(0, n, (2, n_e), generator=gen)
    ea = torch.randn(n_e, p["n_edge"], generator=gen)
    return xc, xd, ei, ea


def _small_model(seed: int = 0, **kw) -> GNNAnnot:
    torch.manual_seed(seed)
    model = GNNAnnot(4, 3, 2, hidden=8, n_layers=3, **kw)
    _randomise_bn(model, torch.Generator().manual_seed(seed + 100))
    return model.eval()


def test_model_permutation_equivariance() -> None:
    model = _small_model()
    xc, xd, ei, ea = _model_inputs()
    n = xc.shape[0]
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(5))
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(n)
    eperm = torch.randperm(ei.shape[1], generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        out = model(xc, xd, ei, ea)
        # node i of the new graph is old node perm[i]; edges reordered too
        out_p = model(xc[perm], xd[:, perm], inv[ei][:, eperm], ea[eperm])
    torch.testing.assert_close(out_p, out[:, perm], rtol=1e-5, atol=1e-5)


def test_model_objects_are_independent_and_ordered() -> None:
    model = _small_model(seed=1)
    xc, xd, ei, ea = _model_inputs(k=3, seed=1)
    with torch.inference_mode():
        out = model(xc, xd, ei, ea)
        assert out.shape == (3, xc.shape[0])
        xd2 = xd.clone()
        xd2[1] += 1.0
        out2 = model(xc, xd2, ei, ea)
        single = [model(xc, xd[j : j + 1], ei, ea)[0] for j in range(3)]
    assert torch.equal(out2[0], out[0]) and torch.equal(out2[2], out[2])
    assert not torch.allclose(out2[1], out[1])
    for j in range(3):  # row j is object j, same as running it alone
        torch.testing.assert_close(out[j], single[j], rtol=1e-5, atol=1e-5)
    # inference fast path == autograd path
    with torch.enable_grad():
        slow = model(xc, xd, ei, ea)
    torch.testing.assert_close(out, slow.detach(), rtol=1e-5, atol=1e-5)


def test_model_batch_vector_graph_norm() -> None:
    """Two graphs batched with ``batch`` give the same logits as run separately."""
    model = _small_model(seed=2)
    a = _model_inputs(n=20, n_e=60, k=2, seed=3)
    b = _model_inputs(n=12, n_e=40, k=2, seed=4)
    with torch.no_grad():
        oa, ob = model(*a), model(*b)
        xc = torch.cat([a[0], b[0]])
        xd = torch.cat([a[1], b[1]], dim=1)
        ei = torch.cat([a[2], b[2] + 20], dim=1)
        ea = torch.cat([a[3], b[3]])
        batch = torch.cat([torch.zeros(20), torch.ones(12)]).long()
        out = model(xc, xd, ei, ea, batch=batch)
    torch.testing.assert_close(out[:, :20], oa, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out[:, 20:], ob, rtol=1e-5, atol=1e-5)


def test_combine_objects_rules() -> None:
    probs = np.array([
        [0.9, 0.2, 0.6, 0.5, 0.7, 0.51],
        [0.1, 0.3, 0.8, 0.5, 0.7, 0.0],
        [0.0, 0.4, 0.1, 0.2, 0.7, 0.0],
    ], dtype=np.float32)
    # node 0 -> obj 1; 1: all <= .5 -> bg; 2 -> obj 2; 3: max == threshold -> bg (strict);
    # 4: three-way tie -> lowest index (obj 1); 5 -> obj 1
    expected = np.array([1, 0, 2, 0, 1, 1])
    got = combine_objects(probs)
    assert isinstance(got, np.ndarray) and got.dtype == np.int64
    np.testing.assert_array_equal(got, expected)
    t = combine_objects(torch.from_numpy(probs))
    assert isinstance(t, torch.Tensor) and t.dtype == torch.long
    np.testing.assert_array_equal(t.numpy(), expected)
    np.testing.assert_array_equal(combine_objects(probs, threshold=0.05), [1, 3, 2, 1, 1, 1])
    assert combine_objects(np.zeros((0, 4))).tolist() == [0, 0, 0, 0]
    with pytest.raises(ConfigError):
        combine_objects(np.zeros(5))


def test_checkpoint_round_trip(tmp_path) -> None:
    model = _small_model(seed=3, const_features=["a", "b", "c", "d"])
    model.set_normalization(node_mean=[1, 2, 3, 4], node_std=[1, 2, 0, 4], edge_mean=[0, 1],
                            edge_std=[2, 2])
    xc, xd, ei, ea = _model_inputs(seed=7)
    with torch.inference_mode():
        want = model(xc, xd, ei, ea)
    path = tmp_path / "m" / "model.pt"
    save_checkpoint(path, model, extra={"epoch": 3, "stats": np.arange(3.0),
                                        "names": ("x", "y")})
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.pt"]  # no temp left
    loaded, meta = load_checkpoint(path, expected_params={"hidden": 8, "n_dyn": 3,
                                                          "const_features": ["a", "b", "c",
                                                                             "d"]})
    assert not loaded.training
    with torch.inference_mode():
        got = loaded(xc, xd, ei, ea)
    assert torch.equal(got, want)
    assert meta["extra"]["epoch"] == 3 and meta["extra"]["names"] == ["x", "y"]
    assert torch.equal(meta["extra"]["stats"], torch.arange(3.0, dtype=torch.float64))
    assert meta["model_params"]["n_layers"] == 3
    assert torch.equal(loaded.node_std, torch.tensor([1.0, 2.0, 1.0, 4.0]))


def test_checkpoint_errors(tmp_path) -> None:
    model = _small_model()
    path = tmp_path / "model.pt"
    save_checkpoint(path, model)
    with pytest.raises(DataError, match=r"'hidden' expected 20, found 8"):
        load_checkpoint(path, expected_params={"hidden": 20})
    with pytest.raises(DataError, match="file not found"):
        load_checkpoint(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError, match="cannot read"):
        load_checkpoint(bad)
    junk = tmp_path / "junk.pt"
    junk.write_text("not a checkpoint")
    with pytest.raises(DataError, match="cannot read"):
        load_checkpoint(junk)
    partial = tmp_path / "partial.pt"
    torch.save({"format": "gnnannot-checkpoint", "version": 1, "model_params": model.params},
               partial)
    with pytest.raises(DataError, match="missing key 'state_dict'"):
        load_checkpoint(partial)
    wrong = tmp_path / "wrong.pt"
    state = model.state_dict()
    state.pop("readout.0.weight")
    torch.save({"format": "gnnannot-checkpoint", "version": 1, "model_params": model.params,
                "state_dict": state}, wrong)
    with pytest.raises(DataError, match="weights do not match"):
        load_checkpoint(wrong)
    with pytest.raises(ConfigError):
        save_checkpoint(tmp_path / "x.pt", model, model_params={**model.params, "hidden": 9})


def test_model_overfits_two_clusters() -> None:
    """A small random two-cluster graph: the model learns to separate the clusters from
    noisy features (loss drops, accuracy high)."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    n = 60
    label = (torch.arange(n) >= n // 2).float()
    # dense intra-cluster edges, a few inter-cluster ones
    a = torch.randint(0, n // 2, (2, 200), generator=gen)
    edges = torch.cat([a, a + n // 2, torch.randint(0, n, (2, 10), generator=gen)], dim=1)
    edges = torch.cat([edges, edges.flip(0)], dim=1)
    xc = torch.randn(n, 3, generator=gen) + label[:, None] * 0.8
    xd = torch.zeros(1, n, 2)
    xd[0, 0, 0] = 1.0  # a "scribble" on one node of cluster 0 and one of cluster 1
    xd[0, -1, 1] = 1.0
    ea = torch.randn(edges.shape[1], 2, generator=gen)
    model = GNNAnnot(3, 2, 2, hidden=16, n_layers=4, dropout=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threading only adds overhead
    try:
        for _ in range(60):
            opt.zero_grad()
            logit = model(xc, xd, edges, ea)[0]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logit, label)
            loss.backward()
            opt.step()
            losses.append(loss.item())
    finally:
        torch.set_num_threads(threads)
    assert losses[-1] < 0.5 * losses[0]
    model.eval()
    with torch.inference_mode():
        acc = ((model(xc, xd, edges, ea)[0] > 0).float() == label).float().mean().item()
    assert acc > 0.9


def test_model_config_errors() -> None:
    with pytest.raises(ConfigError, match="n_layers"):
        GNNAnnot(3, 2, 2, n_layers=0)
    with pytest.raises(ConfigError, match="unknown key"):
        GNNAnnot.from_params({"n_const": 3, "n_dyn": 2, "n_edge": 1, "widht": 3})
    with pytest.raises(ConfigError, match="missing required key 'n_edge'"):
        GNNAnnot.from_params({"n_const": 3, "n_dyn": 2})
    model = GNNAnnot(3, 2, 2, hidden=4, n_layers=1)
    with pytest.raises(ConfigError, match="x_dyn"):
        model(torch.zeros(5, 3), torch.zeros(5, 2), torch.zeros(2, 0, dtype=torch.long),
              torch.zeros(0, 2))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_model_cuda_matches_cpu() -> None:
    model = _small_model(seed=4)
    inputs = _model_inputs(seed=8)
    with torch.inference_mode():
        cpu = model(*inputs)
        gpu = model.to("cuda")(*(t.to("cuda") for t in inputs)).cpu()
    torch.testing.assert_close(gpu, cpu, rtol=1e-4, atol=1e-4)
