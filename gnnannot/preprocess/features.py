"""Per-superpixel features: constant node features and appearance descriptors.

All per-superpixel sums of a frame (node features and the colour descriptor together,
:func:`frame_features`) come from one pass over the pixels: the float32 pixel planes are
interleaved with ``cv2.merge`` (groups of <= 16 channels) and multiplied by a ``(n, H*W)``
one-hot CSC matrix that shares the label image as its index array (no sort, no per-pixel
matrix construction); histograms are ``np.bincount`` of ``label * 8 + bin``. Measured on
854x480 with ~750 superpixels (1 core): this beats one weighted ``np.bincount`` per
channel about 3x (each bincount is a full pass) and numpy column writes about 4x. The
occlusion fractions are exact pixel counts (``np.bincount`` of the masked labels, equal to
the float32 sums of 0/1 planes), missing flows/occlusions are not summed at all (their
columns are 0), and the cached coordinate planes are reduced without a merge. No Python
loop over superpixels.

Node features (``NODE_FEATURE_NAMES``, 22 columns, per frame t):

* ``L_mean a_mean b_mean L_std a_std b_std``: CIE Lab (L in 0..100, a/b about -128..127).
* ``log_size``: ``log(pixel count)``; ``border``: 1 if the superpixel touches the image
  border.
* ``occ_next``: fraction of its pixels that no backward vector from t+1 lands on (they
  disappear in t+1; ``occ_backward(t)`` of the flow store); ``occ_prev``: fraction that no
  forward vector from t-1 lands on (they appear in t; ``occ_forward(t-1)``). 0 where the
  neighbouring frame does not exist.
* ``cy cx``: centroid divided by H and W (0..1); ``sy sx``: spatial std divided by H, W.
* ``fwd_dy fwd_dx fwd_std``: mean forward flow (t -> t+1) in pixels and the std of its
  components (root of the summed variances); ``bwd_dy bwd_dx bwd_std``: same for the
  backward flow (t -> t-1); zeros where missing.
* ``has_fwd has_bwd``: whether the forward / backward flow exists for this frame.

Descriptors (appearance for the per-session label model):

* ``kind="colour"`` (default, ``COLOUR_DESCRIPTOR_NAMES``, 32 columns): normalised
  marginal histograms of L (8 bins), a (8), b (8), a magnitude-weighted gradient
  orientation histogram (4 bins, normalised by the size), the mean gradient magnitude of L
  at two scales and the mean absolute Laplacian.
* ``kind="cnn"``: MobileNetV2 activations (``CnnDescriptor``) averaged over each
  superpixel, from a local torchvision-layout weights file (never downloaded).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Protocol

import cv2
import numpy as np

from gnnannot.errors import DataError

if TYPE_CHECKING:  # scipy is imported where used: the graph/superpixel stages never need it
    import scipy.sparse as sp

NODE_FEATURE_NAMES: tuple[str, ...] = (
    "L_mean", "a_mean", "b_mean", "L_std", "a_std", "b_std",
    "log_size", "border", "occ_next", "occ_prev",
    "cy", "cx", "sy", "sx",
    "fwd_dy", "fwd_dx", "fwd_std", "bwd_dy", "bwd_dx", "bwd_std",
    "has_fwd", "has_bwd",
)  # fmt: skip

_AB_EDGES = np.array([-40, -20, -10, -3, 3, 10, 20], dtype=np.float32)
COLOUR_DESCRIPTOR_NAMES: tuple[str, ...] = (
    tuple(f"hist_L{i}" for i in range(8))
    + tuple(f"hist_a{i}" for i in range(8))
    + tuple(f"hist_b{i}" for i in range(8))
    + tuple(f"grad_orient{i}" for i in range(4))
    + ("grad_mag1", "grad_mag3", "laplacian", "L_contrast")
)


# --------------------------------------------------------------------------- reductions
@functools.lru_cache(maxsize=4)
def _csc_skeleton(p: int) -> tuple[np.ndarray, np.ndarray]:
    """Shared read-only ``data`` (ones) and ``indptr`` of a one-hot CSC matrix of p pixels."""
    ones = np.ones(p, dtype=np.float32)
    indptr = np.arange(p + 1, dtype=np.int32 if p < 2**31 - 1 else np.int64)
    ones.flags.writeable = False
    indptr.flags.writeable = False
    return ones, indptr


def one_hot(labels: np.ndarray, n: int) -> sp.csc_matrix:
    """(n, H*W) float32 CSC indicator matrix of (H, W) int labels in ``0..n-1`` (its
    ``data`` and ``indptr`` arrays are cached, shared and read-only; copy before editing)."""
    p = int(np.prod(labels.shape))
    ones, indptr = _csc_skeleton(p)
    flat = np.ascontiguousarray(labels, dtype=indptr.dtype).ravel()
    if p and (int(flat.min()) < 0 or int(flat.max()) >= n):
        raise DataError(f"labels: ids must lie in 0..{n - 1}, found {flat.min()}..{flat.max()}")
    import scipy.sparse as sp

    m = sp.csc_matrix((n, p), dtype=np.float32)
    m.data, m.indices, m.indptr = ones, flat, indptr  # one entry per column: valid CSC
    return m


def segment_sums(labels: np.ndarray | sp.csc_matrix, n: int, values: np.ndarray) -> np.ndarray:
    """Per-superpixel sums: values (H*W, C) or (H, W, C) -> (n, C) float64."""
    m = labels if hasattr(labels, "tocsr") else one_hot(labels, n)  # sparse or label image
    v = values.reshape(m.shape[1], -1)
    return np.asarray(m @ v, dtype=np.float64)


_MAX_GROUP = 16  # cv2.merge gets much slower above 16 channels


def plane_sums(m: sp.csc_matrix, planes: list[np.ndarray]) -> np.ndarray:
    """Per-superpixel sums of float32 pixel planes ((H, W) or (H, W, k) each): (n, C)
    float64, channels in order. The planes are interleaved by ``cv2.merge`` in groups of at
    most 16 channels (much faster than numpy column writes) and reduced by one sparse
    product (``m`` from :func:`one_hot`) per group: one pass over the pixels, no sort."""
    p = m.shape[1]
    out, group, width = [], [], 0

    def flush() -> None:
        if group:
            v = group[0] if len(group) == 1 else cv2.merge(group)
            out.append(np.asarray(m @ v.reshape(p, -1), dtype=np.float64))
            group.clear()

    for plane in planes:
        k = 1 if plane.ndim == 2 else plane.shape[2]
        if width + k > _MAX_GROUP:
            flush()
            width = 0
        group.append(np.ascontiguousarray(plane, dtype=np.float32))
        width += k
    flush()
    return np.concatenate(out, axis=1)


def to_lab(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W, 3) float32 CIE Lab (L 0..100)."""
    img = np.ascontiguousarray(image, dtype=np.uint8)
    rgb = np.multiply(img, np.float32(1.0 / 255.0), dtype=np.float32)  # one pass
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)


def border_flags(labels: np.ndarray, n: int) -> np.ndarray:
    """(n,) bool: superpixel touches the image border."""
    edge = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    return np.bincount(edge, minlength=n)[:n] > 0


# --------------------------------------------------------------------------- node features
@functools.lru_cache(maxsize=4)
def _coords(h: int, w: int) -> np.ndarray:
    """(H, W, 4) float32 planes y/H, x/W, (y/H)^2, (x/W)^2 (cached per frame size)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy /= h
    xx /= w
    out = np.ascontiguousarray(np.stack([yy, xx, yy**2, xx**2], axis=-1))
    out.flags.writeable = False
    return out


def _flow_planes(flow: np.ndarray, h: int, w: int) -> list[np.ndarray]:
    """[flow (H, W, 2), squared norm (H, W)] float32."""
    f = np.ascontiguousarray(flow, dtype=np.float32).reshape(h, w, 2)
    fy, fx = f[..., 0], f[..., 1]
    sq = fy * fy
    sq += fx * fx
    return [f, sq]


def _mask_counts(flat: np.ndarray, mask: np.ndarray | None, n: int) -> np.ndarray:
    """(n,) int64 number of True pixels of ``mask`` (H, W) bool per superpixel (zeros when
    None); ``flat`` (H*W,) labels. Exact, so equal to the float32 sum of a 0/1 plane."""
    if mask is None:
        return np.zeros(n, dtype=np.int64)
    return np.bincount(flat[np.asarray(mask, dtype=bool).ravel()], minlength=n)[:n]


def _std(mean2: np.ndarray, mean: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum(mean2 - mean * mean, 0.0))


def orientation_bins(gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """(H*W,) int8 orientation bin 0..3 of the gradient (gx, gy) (H, W) float32: the
    orientation ``atan2(gy, gx) mod pi`` in 4 bins of 45 degrees, a vector on a bin edge
    going to the upper bin (zero vectors, weightless in the histograms, get bin 3).

    Computed with comparisons only, no ``arctan2``: NumPy's float32 ``arctan2`` takes
    CPU-specific SIMD paths (AVX-512 vs AVX2) that differ in the last bit, which moved
    pixels across bin edges and made the stored descriptors differ between machines."""
    flip = (gy < 0) | ((gy == 0) & (gx < 0))  # fold to the half-plane gy >= 0
    x = np.where(flip, -gx, gx).ravel()
    y = np.where(flip, -gy, gy).ravel()
    obin = np.where(x > 0, np.where(y < x, 0, 1), np.where(y > -x, 2, 3))
    return obin.astype(np.int8)


def gradient_magnitude(gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """(H, W) float32 ``sqrt(gx**2 + gy**2)`` of two (H, W) float32 planes, bit-identical on
    every call. ``cv2.magnitude`` is not: on the same input it returned planes differing in
    the last bit from one call to the next (2 of 6 calls on one frame, on an AVX-512 EPYC;
    presumably its SIMD and scalar loops round differently and split by buffer address),
    so the stored descriptors, and the features store's hash, changed from one ``dvc
    repro`` to the next. NumPy's element-wise float32 multiply, add and sqrt are
    correctly rounded on every code path."""
    out = np.multiply(gx, gx, dtype=np.float32)
    out += np.multiply(gy, gy, dtype=np.float32)
    return np.sqrt(out, out=out)


def _texture_planes(L: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Gradient orientation bin (H*W,) int8 in 0..3, gradient magnitude (H, W) and the four
    local texture planes (grad_mag1, grad_mag3, laplacian, L_contrast) of the L channel
    (H, W) float32."""
    gx = cv2.Sobel(L, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
    gy = cv2.Sobel(L, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
    mag = gradient_magnitude(gx, gy)
    obin = orientation_bins(gx, gy)
    L3 = cv2.GaussianBlur(L, (0, 0), 2.0)
    gx3 = cv2.Sobel(L3, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
    gy3 = cv2.Sobel(L3, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
    lap = cv2.Laplacian(L, cv2.CV_32F, ksize=1)
    np.abs(lap, out=lap)
    return obin, mag, [mag, gradient_magnitude(gx3, gy3), lap, cv2.absdiff(L, L3)]


def frame_features(
    image: np.ndarray,
    labels: np.ndarray,
    n: int,
    flow_fwd: np.ndarray | None = None,
    flow_bwd: np.ndarray | None = None,
    occ_next: np.ndarray | None = None,
    occ_prev: np.ndarray | None = None,
    lab: np.ndarray | None = None,
    node: bool = True,
    colour: bool = True,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Node features and colour descriptor of one frame in one pass over the pixels.

    Arguments as :func:`node_features`. Returns ``(features (n, 22) float32 or None when
    not ``node``, pixel counts (n,) int64, colour descriptor (n, 32) float32 or None when
    not ``colour``)``. All per-superpixel sums come from :func:`plane_sums` (float32
    accumulation) and ``np.bincount`` (histograms)."""
    h, w = labels.shape
    m = one_hot(labels, n)
    flat = m.indices.astype(np.int64)
    count = np.bincount(flat, minlength=n)
    if node and (count == 0).any():
        raise DataError(f"labels: superpixel ids must be contiguous 0..{n - 1}; some are empty")
    safe = np.maximum(count, 1)[:, None]
    lab = to_lab(image) if lab is None else np.ascontiguousarray(lab, dtype=np.float32)
    # planes summed by one sparse product per <= 16 channels; ``cols`` names their columns
    # (missing flows are skipped: their feature columns stay 0)
    planes: list[np.ndarray] = []
    cols: list[str] = []
    if node:
        planes += [lab, lab * lab]
        cols += ["L", "a", "b", "L2", "a2", "b2"]
        for flow, keys in ((flow_fwd, ("fy", "fx", "f2")), (flow_bwd, ("by", "bx", "b2n"))):
            if flow is not None:
                planes += _flow_planes(flow, h, w)
                cols += keys
    if colour:
        channels = cv2.split(lab)  # contiguous L, a, b planes
        obin, mag, texture = _texture_planes(channels[0])
        planes += texture
        cols += ["tex0", "tex1", "tex2", "tex3"]
    means = plane_sums(m, planes) / safe
    mu = dict(zip(cols, means.T, strict=True))
    if node:  # the cached, already interleaved coordinate planes need no cv2.merge
        xy = np.asarray(m @ _coords(h, w).reshape(h * w, 4), dtype=np.float64) / safe
        mu.update(zip(("y", "x", "y2", "x2"), xy.T, strict=True))
    feats = desc = None
    if node:
        out = np.zeros((n, len(NODE_FEATURE_NAMES)), dtype=np.float64)
        out[:, 0:3] = means[:, 0:3]
        out[:, 3:6] = _std(means[:, 3:6], means[:, 0:3])
        out[:, 6] = np.log(count)
        out[:, 7] = border_flags(labels, n)
        out[:, 8] = _mask_counts(flat, occ_next, n) / safe[:, 0]
        out[:, 9] = _mask_counts(flat, occ_prev, n) / safe[:, 0]
        out[:, 10] = mu["y"]
        out[:, 11] = mu["x"]
        out[:, 12] = _std(mu["y2"], mu["y"])
        out[:, 13] = _std(mu["x2"], mu["x"])
        for c0, flag, flow, keys in ((14, 20, flow_fwd, ("fy", "fx", "f2")),
                                     (17, 21, flow_bwd, ("by", "bx", "b2n"))):  # fmt: skip
            if flow is not None:
                dy, dx, sq = (mu[k] for k in keys)
                out[:, c0] = dy
                out[:, c0 + 1] = dx
                out[:, c0 + 2] = np.sqrt(np.maximum(sq - dy * dy - dx * dx, 0.0))
                out[:, flag] = 1.0
        feats = out.astype(np.float32)
    if colour:
        inv = 1.0 / safe
        flat8 = flat * 8
        parts = [_channel_histogram(flat8, channels[c], c, n) * inv for c in range(3)]
        flat8 >>= 1  # flat * 4
        flat8 += obin
        orient = np.bincount(flat8, weights=mag.ravel(), minlength=n * 4)
        parts.append(orient.reshape(n, 4) * inv)
        parts.append(means[:, -4:])
        desc = np.concatenate(parts, axis=1).astype(np.float32)
    return feats, count.astype(np.int64), desc


def node_features(
    image: np.ndarray,
    labels: np.ndarray,
    n: int,
    flow_fwd: np.ndarray | None = None,
    flow_bwd: np.ndarray | None = None,
    occ_next: np.ndarray | None = None,
    occ_prev: np.ndarray | None = None,
    lab: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Constant features of the superpixels of one frame.

    image (H, W, 3) uint8 RGB; labels (H, W) int ``0..n-1``; flow_fwd: flow t -> t+1 on
    frame t (H, W, 2) (y, x); flow_bwd: flow t -> t-1 on frame t; occ_next / occ_prev
    (H, W) bool (see module doc); lab: precomputed :func:`to_lab` of the image.
    Returns ``(features (n, 22) float32 in NODE_FEATURE_NAMES order, pixel counts (n,)
    int64)``.
    """
    f, count, _ = frame_features(image, labels, n, flow_fwd, flow_bwd, occ_next, occ_prev,
                                 lab, node=True, colour=False)  # fmt: skip
    assert f is not None
    return f, count


# --------------------------------------------------------------------------- descriptors
# a/b bin of every integer floor(v) in -41..20 (the edges are integers, so the bin of v
# is the bin of floor(v): the number of edges <= v)
_AB_LUT = np.searchsorted(_AB_EDGES, np.arange(-41, 21), side="right").astype(np.uint8)


def _bins(v: np.ndarray, ch: int) -> np.ndarray:
    """(H, W) uint8 histogram bin 0..7 of Lab channel ``ch`` (values ``v`` (H, W) float32):
    L in 8 bins of 12.5 over 0..100 (clipped, ``floor(v / 12.5)``), a/b: the number of
    ``_AB_EDGES`` <= v (as ``searchsorted(edges, v, side="right")``)."""
    if ch == 0:
        q = v / np.float32(12.5)
        np.clip(q, 0, 7, out=q)
        return q.astype(np.uint8)  # truncation == floor for q >= 0
    q = np.floor(v)
    np.clip(q, -41, 20, out=q)
    q += 41
    return _AB_LUT[q.astype(np.uint8)]


def _channel_histogram(flat8: np.ndarray, v: np.ndarray, ch: int, n: int) -> np.ndarray:
    """(n, 8) pixel counts per bin (:func:`_bins`) of Lab channel ``ch``; ``flat8`` (H*W,)
    int64 is ``labels * 8``."""
    key = flat8 + _bins(v, ch).ravel()
    return np.bincount(key, minlength=n * 8).reshape(n, 8)


def colour_descriptor(
    image: np.ndarray, labels: np.ndarray, n: int, lab: np.ndarray | None = None
) -> np.ndarray:
    """Colour/texture descriptor (n, 32) float32, columns ``COLOUR_DESCRIPTOR_NAMES``.
    ``lab``: the image's :func:`to_lab` if already computed."""
    _, _, d = frame_features(image, labels, n, lab=lab, node=False, colour=True)
    assert d is not None
    return d


class FrameDescriptor(Protocol):
    """A per-superpixel appearance descriptor of one frame (``kind`` "colour" is computed
    with the node features in one pass; :class:`gnnannot.preprocess.descriptors.Descriptor`)."""

    kind: str

    def __call__(self, image: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray: ...


def video_features(
    frames: Any,
    labels: Any,
    counts: Any,
    flows: Any,
    descriptor: FrameDescriptor,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features of a whole video.

    frames: iterable of (H, W, 3) uint8; labels: iterable of (H, W) local labels; counts:
    superpixels per frame; flows: :class:`gnnannot.preprocess.flow.frames.FrameFlows`;
    descriptor: a :class:`gnnannot.preprocess.descriptors.Descriptor`.
    Returns ``(node_features (N, 22), descriptors (N, D)) float32, pixel_count (N,) int64``.
    """
    feats, descs, sizes = [], [], []
    colour = descriptor.kind == "colour"
    for t, (image, lab, n) in enumerate(zip(frames, labels, counts, strict=True)):
        lab = np.asarray(lab)
        f, cnt, d = frame_features(image, lab, int(n), flows.fwd(t), flows.bwd(t),
                                   flows.occ_next(t), flows.occ_prev(t), colour=colour)  # fmt: skip
        feats.append(f)
        sizes.append(cnt)
        descs.append(d if colour else descriptor(image, lab, int(n)))
    return np.concatenate(feats), np.concatenate(descs), np.concatenate(sizes)


# --------------------------------------------------------------------------- scale-free view
#: Node features measured in pixels, rescaled by :func:`scale_free_node_features`.
PIXEL_NODE_FEATURES: tuple[str, ...] = (
    "log_size", "sy", "sx", "fwd_dy", "fwd_dx", "fwd_std", "bwd_dy", "bwd_dx", "bwd_std",
)  # fmt: skip


def scale_free_node_features(
    features: np.ndarray,
    names: tuple[str, ...] | list[str],
    height: int,
    width: int,
    frame_counts: np.ndarray,
) -> np.ndarray:
    """The node features with every pixel-measured column made independent of the image
    resolution and of the number of superpixels per frame (a model trained at one
    resolution and superpixel count then sees the same inputs at another).

    ``features (N, F)`` (columns ``names``, nodes frame by frame), ``frame_counts (T,)``
    superpixels per frame (sum N). With ``s_t = sqrt(H W / n_t)`` the side of frame t's
    mean superpixel and ``D = sqrt(H^2 + W^2)`` the image diagonal:

    * ``log_size`` -> ``log(size / (H W / n_t))``: the size relative to the frame's mean;
    * ``sy, sx`` (spatial std over H, W) -> ``std / s_t``;
    * the mean flows and their stds (pixels) -> ``/ D`` (motion as a fraction of the image).

    Other columns (colours, flags, occlusion fractions, centroids over H/W) are already
    scale-free and are copied. Returns ``(N, F) float32``; the input is not modified.
    """
    f = np.array(features, dtype=np.float32, copy=True)
    counts = np.asarray(frame_counts, dtype=np.int64).reshape(-1)
    if f.ndim != 2 or f.shape[1] != len(names):
        raise DataError(f"node features: expected shape (N, {len(names)}), found {f.shape}")
    if counts.sum() != f.shape[0] or (counts < 1).any():
        raise DataError(f"node features: frame_counts sum to {counts.sum()} with a minimum "
                        f"of {counts.min() if counts.size else 0}; expected {f.shape[0]} "
                        "nodes, >= 1 per frame")
    col = {n: i for i, n in enumerate(names)}
    missing = [n for n in PIXEL_NODE_FEATURES if n not in col]
    if missing:
        raise DataError(f"node features: missing column(s) {missing} of {list(names)}")
    mean_area = np.repeat(height * width / counts.astype(np.float64), counts)  # (N,)
    side = np.sqrt(mean_area)
    diag = float(np.hypot(height, width))
    f[:, col["log_size"]] = (f[:, col["log_size"]] - np.log(mean_area)).astype(np.float32)
    f[:, col["sy"]] = (f[:, col["sy"]] * height / side).astype(np.float32)
    f[:, col["sx"]] = (f[:, col["sx"]] * width / side).astype(np.float32)
    for name in ("fwd_dy", "fwd_dx", "fwd_std", "bwd_dy", "bwd_dx", "bwd_std"):
        f[:, col[name]] /= diag
    return f


def scale_free_edge_features(
    features: np.ndarray,
    names: tuple[str, ...] | list[str],
    height: int,
    width: int,
    n_nodes: int,
    n_frames: int,
) -> np.ndarray:
    """The edge features (:data:`gnnannot.preprocess.graph.EDGE_FEATURE_NAMES`) made scale-free like
    :func:`scale_free_node_features`: the flow magnitudes ``fwd_min_mag, bwd_min_mag``
    (pixels) are divided by the image diagonal and ``log_contact = log(1 + c)`` (``c``
    boundary pixels) becomes ``log(1 + c / s)`` with ``s = sqrt(H W T / N)`` the video's
    mean superpixel side. ``features (E, Fe)``; returns ``(E, Fe) float32``."""
    e = np.array(features, dtype=np.float32, copy=True)
    if e.ndim != 2 or e.shape[1] != len(names):
        raise DataError(f"edge features: expected shape (E, {len(names)}), found {e.shape}")
    col = {n: i for i, n in enumerate(names)}
    missing = [n for n in ("fwd_min_mag", "bwd_min_mag", "log_contact") if n not in col]
    if missing:
        raise DataError(f"edge features: missing column(s) {missing} of {list(names)}")
    diag = float(np.hypot(height, width))
    side = float(np.sqrt(height * width * n_frames / max(n_nodes, 1)))
    e[:, col["fwd_min_mag"]] /= diag
    e[:, col["bwd_min_mag"]] /= diag
    contact = np.expm1(e[:, col["log_contact"]].astype(np.float64))
    e[:, col["log_contact"]] = np.log1p(contact / side).astype(np.float32)
    return e
