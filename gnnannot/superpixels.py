"""Superpixels of video frames: fast SLIC base segments refined at image and motion edges.

Per frame (all vectorised, no Python loop over segments):

1. ``fast_slic`` (SLIC with connectivity enforcement, AVX2 when available) gives ``base``
   segments (``n_base`` of them).
2. An edge map: Canny edges of the (slightly blurred) grey image, plus motion edges, the
   pixels where the spatial gradient of the forward or backward optical flow exceeds
   ``flow_edge_thresh`` pixels per pixel.
3. The 4-connected components of equal base label, after removing the edge pixels, are
   the refined pieces (each lies inside one base segment and is not crossed by a closed
   edge; base boundaries are kept exactly).
4. Pieces smaller than ``min_size`` pixels, and the edge/boundary pixels, are filled from
   their 4-neighbours by repeated dilation, which keeps every label 4-connected.
5. Labels are made contiguous ``0..n-1`` (ids in raster order of the components).

``n_base`` is calibrated once per video on its first frame so that the refined count comes
close to ``n_segments`` per frame; all frames then use the same ``n_base`` (deterministic
and independent of processing order).

Library choice (measured on one 854x480 frame, 1 core, this project's machines):
``fast_slic`` 0.4.0 ~15 ms (AVX2) / ~23 ms for 700 segments, vs scikit-image ``slic``
~0.8 s at full size and ~0.09 s at half size. ``fast_slic`` ships only as an sdist:
install it with ``pip install --no-build-isolation fast_slic`` (needs Cython and numpy in
the environment). When it is missing, scikit-image ``slic`` on a half-size image is used
(slower, same interface; the two give different superpixels). Re-measured 2026-11 with
``benchmarks/graph_speed.py`` (``slic_ms_per_frame_1_thread``, base SLIC only, 1 thread,
2 shared cores): fast_slic ~24 ms vs scikit-image (half size) ~70-86 ms per frame; the
rest of the stage (edges, refinement, flow reads, writes) is ~25 ms per frame.
:func:`use_slic_backend` forces one backend (benchmarks, tests).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from gnnannot.errors import ConfigError, DataError
from gnnannot.io.store_guard import locked_store as _locked_store


@dataclass(frozen=True)
class SuperpixelParams:
    """Parameters of :func:`segment_frame` / :func:`segment_video`.

    n_segments: target superpixels per frame (after refinement).
    compactness: SLIC compactness (higher = more regular, less boundary adherence).
    canny_low, canny_high: Canny hysteresis thresholds on the grey image (0 disables).
    flow_edge_thresh: flow difference (px) between neighbouring pixels above which a pixel
        is a motion edge (0 disables motion edges).
    min_size_factor: pieces smaller than ``min_size_factor * H * W / n_segments`` pixels are
        absorbed by their neighbours.
    base_ratio: initial guess of ``n_base / n_segments`` for the calibration.
    slic_min_size_factor: ``fast_slic``'s own merge threshold for small disconnected
        fragments, relative to the mean SLIC segment size.
    """

    n_segments: int = 700
    compactness: float = 10.0
    canny_low: int = 60
    canny_high: int = 150
    flow_edge_thresh: float = 1.0
    min_size_factor: float = 0.05
    base_ratio: float = 0.9
    slic_min_size_factor: float = 0.05

    def __post_init__(self) -> None:
        if self.n_segments < 2:
            raise ConfigError(f"superpixels.n_segments must be >= 2, found {self.n_segments}")
        if self.compactness <= 0:
            raise ConfigError(f"superpixels.compactness must be > 0, found {self.compactness}")
        if not 0 < self.base_ratio <= 4:
            raise ConfigError(f"superpixels.base_ratio must be in (0, 4], found {self.base_ratio}")
        if self.min_size_factor < 0:
            raise ConfigError(
                f"superpixels.min_size_factor must be >= 0, found {self.min_size_factor}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SuperpixelParams:
        known = set(cls.__dataclass_fields__)
        extra = set(d) - known
        if extra:
            raise ConfigError(f"superpixels: unknown parameter(s) {sorted(extra)}")
        return cls(**d)


# --------------------------------------------------------------------------- base SLIC
SLIC_BACKENDS = ("fast_slic", "skimage")
_forced_backend: str | None = None


@functools.lru_cache(maxsize=1)
def _fast_slic_class() -> Any | None:
    """The fast_slic class (AVX2 build when available) or None; looked up once (a failed
    import would otherwise search the path again for every frame)."""
    try:
        from fast_slic.avx2 import SlicAvx2  # type: ignore[import-not-found]

        return SlicAvx2
    except Exception:  # noqa: BLE001 - no AVX2 build / not installed
        try:
            from fast_slic import Slic  # type: ignore[import-not-found]

            return Slic
        except Exception:  # noqa: BLE001
            return None


def use_slic_backend(name: str | None) -> None:
    """Force the SLIC backend of this process (and of worker processes forked after the
    call): ``"fast_slic"``, ``"skimage"``, or None for the default (fast_slic when it is
    installed). For benchmarks and tests; the stages use the default."""
    global _forced_backend
    if name is not None and name not in SLIC_BACKENDS:
        raise ConfigError(f"SLIC backend must be one of {SLIC_BACKENDS}, found {name!r}")
    if name == "fast_slic" and _fast_slic_class() is None:
        raise ConfigError("SLIC backend 'fast_slic' requested but fast_slic is not installed")
    _forced_backend = name


def slic_backend() -> str:
    """Name of the SLIC implementation in use: ``fast_slic`` or ``skimage``."""
    if _forced_backend is not None:
        return _forced_backend
    return "fast_slic" if _fast_slic_class() is not None else "skimage"


def base_slic(
    image: np.ndarray,
    n_base: int,
    compactness: float = 10.0,
    min_size_factor: float = 0.25,
    backend: str | None = None,
) -> np.ndarray:
    """SLIC segments of ``image`` (H, W, 3) uint8 RGB -> (H, W) int32 labels >= 0.
    backend: ``"fast_slic"`` / ``"skimage"`` (default: :func:`slic_backend`)."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    backend = backend or slic_backend()
    cls = _fast_slic_class() if backend == "fast_slic" else None
    if cls is not None:
        slic = cls(
            num_components=int(n_base),
            compactness=float(compactness),
            min_size_factor=float(min_size_factor),
            num_threads=1,
        )
        return slic.iterate(image).astype(np.int32, copy=False)
    if backend == "fast_slic":
        raise ConfigError("SLIC backend 'fast_slic' requested but fast_slic is not installed")
    from skimage.segmentation import slic  # fallback: half size, nearest upsampling

    h, w = image.shape[:2]
    small = cv2.resize(image, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA)
    lab = slic(small, n_segments=int(n_base), compactness=float(compactness), start_label=0)
    return cv2.resize(lab.astype(np.int32), (w, h), interpolation=cv2.INTER_NEAREST)


# --------------------------------------------------------------------------- edges
def flow_edges(flow: np.ndarray, thresh: float) -> np.ndarray:
    """Motion edges: (H, W) bool, pixels whose flow (H, W, 2) differs from that of the right
    or lower neighbour by more than ``thresh`` px in either component (one-sided, so the
    edge is a 1 px line like the segment boundaries)."""
    f = np.ascontiguousarray(flow, dtype=np.float32)
    e = np.zeros(f.shape[:2], dtype=bool)
    _or_flow_edges(e, f, thresh)
    return e


def _or_flow_edges(e: np.ndarray, f: np.ndarray, thresh: float) -> None:
    """``e |= flow_edges(f, thresh)`` for a C-contiguous float32 (H, W, 2) ``f``: one
    ``cv2.absdiff`` per direction on both components at once; a pixel is an edge when
    either component's difference exceeds ``thresh`` (the two bool bytes of a pixel are
    tested together as one uint16)."""
    t = np.float32(thresh)
    for a, b, out in ((f[:, :-1], f[:, 1:], e[:, :-1]), (f[:-1], f[1:], e[:-1])):
        big = cv2.absdiff(a, b) > t  # (h, w, 2) bool, C-contiguous
        out |= big.view(np.uint16)[..., 0] != 0


def edge_map(
    image: np.ndarray,
    flows: Iterable[np.ndarray | None] = (),
    params: SuperpixelParams | None = None,
) -> np.ndarray:
    """Image (Canny) and motion edges of one frame: (H, W) bool."""
    p = params or SuperpixelParams()
    gray = cv2.cvtColor(np.ascontiguousarray(image, dtype=np.uint8), cv2.COLOR_RGB2GRAY)
    if p.canny_high > 0:
        gray = cv2.GaussianBlur(gray, (3, 3), 0)
        edges = cv2.Canny(gray, p.canny_low, p.canny_high) > 0
    else:
        edges = np.zeros(gray.shape, dtype=bool)
    if p.flow_edge_thresh > 0:
        for flow in flows:
            if flow is not None:
                f = np.ascontiguousarray(flow, dtype=np.float32)
                _or_flow_edges(edges, f, p.flow_edge_thresh)
    return edges


# --------------------------------------------------------------------------- refinement
def fill_unlabelled(
    labels: np.ndarray, base: np.ndarray | None = None, max_iter: int = 10_000
) -> np.ndarray:
    """Fill zeros in ``labels`` (H, W) int (> 0 = labelled) from 4-neighbours; each filled
    pixel touches a pixel of its label, so labels stay 4-connected. With ``base`` (H, W),
    pixels are first filled only from neighbours of the same base label (so an edge pixel
    stays on its side of a base boundary; up to 12 rounds of the directions below, above,
    right, left, each from the state before that direction), then by repeated 4-neighbour
    max-dilation. Returns int32; an all-zero input becomes all ones.

    Works on the flat indices of the unlabelled pixels of a padded copy (the padding is
    never a valid source), so the cost scales with the number of holes, not H * W."""
    lab = np.asarray(labels)
    h, w = lab.shape
    if not lab.any():
        return np.ones((h, w), dtype=np.int32)
    wp = w + 2
    pad = np.full((h + 2, wp), -1, dtype=np.int32)  # border -1: never a source, never a hole
    pad[1:-1, 1:-1] = lab
    flat = pad.ravel()
    z = np.flatnonzero(flat == 0)
    if base is not None and z.size:
        bpad = np.full((h + 2, wp), -1, dtype=np.int32)
        bpad[1:-1, 1:-1] = base
        bflat = bpad.ravel()
        bz = bflat[z]
        for _ in range(12):  # edge lines are thin; deeper holes go to the dilation below
            changed = False
            for off in (wp, -wp, 1, -1):
                nb = z + off
                v = flat[nb]
                ok = v > 0
                ok &= bflat[nb] == bz
                if ok.any():
                    flat[z[ok]] = v[ok]
                    keep = ~ok
                    z, bz = z[keep], bz[keep]
                    changed = True
            if not changed or not z.size:
                break
    for _ in range(max_iter):
        if not z.size:
            break
        v = np.maximum(np.maximum(flat[z - 1], flat[z + 1]), np.maximum(flat[z - wp], flat[z + wp]))
        flat[z] = v
        z = z[v == 0]
    return pad[1:-1, 1:-1].copy()


def compact_labels(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Relabel (H, W) int labels >= 0 to ``0..n-1`` keeping their order; returns
    ``(labels int32, n)``."""
    counts = np.bincount(labels.ravel())
    present = counts > 0
    lut = np.cumsum(present, dtype=np.int32) - 1
    return lut[labels], int(present.sum())


def refine(
    base: np.ndarray, edges: np.ndarray, min_size: int
) -> tuple[np.ndarray, int]:
    """Split ``base`` (H, W) int labels at ``edges`` (H, W) bool; drop pieces smaller than
    ``min_size`` px and fill them and the edge pixels from the neighbours.

    Pieces are the 4-connected components of equal base label after removing the edge
    pixels, so base boundaries stay exactly where they were. Returns contiguous (H, W)
    int32 labels ``0..n-1`` and ``n``."""
    from skimage.measure import label as cc_label

    lab = base.astype(np.int32, copy=False) + np.int32(1)
    lab[edges] = 0
    cc = cc_label(lab, background=0, connectivity=1)  # 1..K in raster order, 0 = edges
    sizes = np.bincount(cc.ravel())
    keep = sizes >= max(min_size, 1)
    keep[0] = False
    # rank of each kept piece (1..k), 0 for edges and small pieces: the same as zeroing the
    # small pieces, filling and compacting (kept pieces keep their pixels; the fill takes
    # neighbour maxima, which commute with an increasing relabelling)
    lut = np.cumsum(keep, dtype=np.int32)
    lut *= keep
    filled = fill_unlabelled(lut[cc], base)
    k = int(np.count_nonzero(keep))
    if k == 0:  # nothing kept: fill_unlabelled gave all ones
        return np.zeros(filled.shape, dtype=np.int32), 1
    filled -= 1
    return filled, k


def segment_frame(
    image: np.ndarray,
    n_base: int,
    params: SuperpixelParams | None = None,
    flows: Iterable[np.ndarray | None] = (),
) -> tuple[np.ndarray, int]:
    """Superpixels of one frame.

    image: (H, W, 3) uint8 RGB. n_base: SLIC segment count before refinement.
    flows: optical flows on this frame's pixels ((H, W, 2) float (y, x), e.g. the forward
    flow to t+1 and the backward flow to t-1; ``None`` entries are skipped).
    Returns (H, W) int32 labels ``0..n-1`` (4-connected) and ``n``.
    """
    p = params or SuperpixelParams()
    h, w = image.shape[:2]
    base = base_slic(image, n_base, p.compactness, p.slic_min_size_factor)
    edges = edge_map(image, flows, p)
    min_size = int(round(p.min_size_factor * h * w / p.n_segments))
    return refine(base, edges, min_size)


def calibrate_n_base(
    image: np.ndarray,
    params: SuperpixelParams,
    flows: Iterable[np.ndarray | None] = (),
) -> int:
    """``n_base`` for which the refined count of ``image`` is close to ``n_segments``
    (one guess at ``base_ratio * n_segments``, one corrected run)."""
    flows = list(flows)
    guess = max(2, int(round(params.base_ratio * params.n_segments)))
    _, n = segment_frame(image, guess, params, flows)
    ratio = n / guess
    return max(2, int(round(params.n_segments / max(ratio, 1e-3))))


def segment_video(
    frames: Iterable[np.ndarray],
    params: SuperpixelParams | None = None,
    flow_pairs: Iterable[tuple[np.ndarray | None, np.ndarray | None]] | None = None,
) -> Iterator[np.ndarray]:
    """Yield per-frame local labels ((H, W) int32, ``0..n_t-1``) for a video.

    flow_pairs: per frame ``(forward_t, backward_t)``: the flow from frame t to t+1 and the
    flow from frame t to t-1, both on frame t's pixels (``None`` at the ends / when no flow
    is available). Global node ids are ``offsets[t] + local`` (see :func:`frame_offsets`).
    """
    p = params or SuperpixelParams()
    pairs = iter(flow_pairs) if flow_pairs is not None else None
    n_base = None
    for image in frames:
        flows = next(pairs) if pairs is not None else (None, None)
        if n_base is None:
            n_base = calibrate_n_base(image, p, flows)
        labels, _ = segment_frame(image, n_base, p, flows)
        yield labels


def frame_offsets(counts: Iterable[int]) -> np.ndarray:
    """(T+1,) int64 cumulative node offsets from per-frame superpixel counts."""
    c = np.fromiter(counts, dtype=np.int64)
    return np.concatenate([[0], np.cumsum(c)])


# --------------------------------------------------------------------------- stage driver
STAGE_VERSION = 1


def superpixel_fingerprint(
    params: SuperpixelParams, frames_digest: str, flow_fp: str | None
) -> str:
    from gnnannot.io.graph_store import fingerprint

    # the SLIC backend changes the segments: switching it recomputes the stored videos
    return fingerprint("superpixels", STAGE_VERSION, params.to_dict(), frames_digest, flow_fp,
                       slic_backend())


def process_video(
    root: str, seq: str, store: str, flow_store: str | None, params: dict[str, Any], fp: str
) -> dict[str, Any]:
    """Compute and write the superpixels of one video (a :func:`map_videos` job)."""
    from gnnannot.data import davis
    from gnnannot.io.flow_store import open_flow
    from gnnannot.io.graph_store import FrameFlows, SuperpixelWriter

    p = SuperpixelParams.from_dict(params)
    paths = davis.frame_paths(root, seq)
    first = davis.read_image(paths[0])
    h, w = first.shape[:2]
    fv = FrameFlows(open_flow(flow_store, seq) if flow_store else None, len(paths))
    attrs = {"fingerprint": fp, "params": p.to_dict(), "backend": slic_backend()}
    frames = (davis.read_image(q) for q in paths)
    pairs = ((fv.fwd(t), fv.bwd(t)) for t in range(len(paths)))
    with SuperpixelWriter(store, seq, len(paths), h, w, attrs) as wr:
        for labels in segment_video(frames, p, pairs):
            if labels.shape != (h, w):
                raise DataError(f"{root}/{seq}: frames differ in size ({labels.shape})")
            wr.write(labels, int(labels.max()) + 1)
    return {"seq": seq, "n_frames": len(paths), "n_nodes": int(sum(wr.counts))}


@_locked_store("store")
def build_superpixel_store(
    root: str,
    store: str,
    flow_store: str | None,
    params: SuperpixelParams,
    sequences: list[str] | None = None,
    workers: int = 1,
    quiet: bool = False,
    executor: Any = None,
) -> dict[str, list[str]]:
    """Superpixels of every video (default: the train and val splits of ``root``) into
    ``store``; per-video incremental (groups whose fingerprint of params, frame files and
    flow attrs matches are kept), groups of other videos are removed. ``executor``: where
    the per-video jobs run (a :mod:`gnnannot.pipeline.executor` executor; default a
    process pool of ``workers``). Returns ``{"computed", "kept", "removed"}``."""
    from gnnannot.data import davis
    from gnnannot.io import graph_store as gs
    from gnnannot.progress import log

    seqs = gs.dataset_sequences(root) if sequences is None else list(sequences)
    gs.ensure_store(store, "superpixels")
    gs.clean_temporaries(store)
    removed = gs.prune(store, seqs) if sequences is None else []
    jobs, kept, sizes = [], [], []
    for seq in seqs:
        paths = davis.frame_paths(root, seq)
        fp = superpixel_fingerprint(
            params, gs.files_digest(paths), gs.flow_fingerprint(flow_store, seq)
        )
        if gs.is_up_to_date(store, seq, fp):
            kept.append(seq)
        else:
            jobs.append((root, seq, store, flow_store, params.to_dict(), fp))
            sizes.append(len(paths))
    log(f"superpixels: {len(jobs)} to compute, {len(kept)} up to date", quiet)
    if jobs:
        import skimage.measure  # noqa: F401 - once here, not in every (forked) worker
    gs.map_videos(process_video, jobs, workers, "superpixels", quiet, sizes,
                  [j[1] for j in jobs], executor=executor)
    return {"computed": [j[1] for j in jobs], "kept": kept, "removed": removed}
