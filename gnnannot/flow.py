"""Optical flow: the built-in estimator (OpenCV DIS), occlusion by forward splatting and
forward-backward consistency.

Conventions (shared by the whole project and by the seed's FlowNet2 ``.h5`` files)
-------------------------------------------------------------------------------
* A flow field is ``(H, W, 2) float32`` in **(y, x)** order: channel 0 is the vertical
  displacement (rows, positive = down), channel 1 the horizontal one (columns, positive =
  right).
* ``forward[t]`` (h5 key ``flows``): for pixel ``p`` of frame ``t``, ``p + forward[t][p]``
  is its position in frame ``t+1``. It lives on frame t's pixel grid.
* ``backward[t]`` (h5 key ``inv_flows``): for pixel ``q`` of frame ``t+1``,
  ``q + backward[t][q]`` is its position in frame ``t``. It lives on frame t+1's grid.
* ``occ_forward[t]`` (h5 key ``occls``): pixels **of frame t+1** on which no forward
  vector of frame ``t`` lands (content disoccluded / newly visible in t+1).
* ``occ_backward[t]`` (h5 key ``inv_occls``): pixels **of frame t** on which no backward
  vector from frame ``t+1`` lands (content of t that gets occluded / leaves in t+1).

This is the assignment of the seed (``vvarga90/gnn_annot``, ``compute_occlusions`` in
``preprocessing/create_optflow_gma.py``: the "fw" mask is built by splatting the forward
flow, so it is defined on frame t+1). Note that the seed's ``VideoData`` then pads
``occls`` at the end and attaches ``occls[t]`` to frame ``t`` (and ``inv_occls[t]`` to frame
``t+1``), i.e. each mask is used on the neighbouring frame's grid; downstream stages that
want per-frame occlusion on the frame's own grid should use ``occ_forward[t-1]`` for frame
t's "newly visible" mask and ``occ_backward[t]`` for its "disappearing" mask.

Splatting is **nearest-neighbour**: a vector from pixel ``p`` covers the pixel at
``round(p + flow[p])`` (numpy round-half-to-even); vectors landing outside the frame cover
nothing. With ``spread > 0`` each vector additionally covers ``round(p + flow[p] + (±s, ±s))``
(the seed's GMA script used ``s = 0.1``), which only matters for landing points within
``s`` of a pixel boundary. The seed also cleared occlusion on pixels whose inverse flow
points out of the frame (content entering through the border); this is available as
``exclude_out_of_frame=True`` in :func:`occlusions` and is off by default, so the default
follows the documented definition "no flow vector lands on the pixel" exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from gnnannot.errors import ConfigError, DataError
from gnnannot.io.store_guard import locked_store as _locked_store

DIS_PRESETS: dict[str, int] = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
METHODS = ("dis", "farneback")


@dataclass
class FlowPair:
    """Flow between frames ``t`` and ``t+1`` (see module docstring for the conventions).

    forward, backward: (H, W, 2) float32 (y, x); occ_forward, occ_backward: (H, W) bool.
    """

    t: int
    forward: np.ndarray
    backward: np.ndarray
    occ_forward: np.ndarray
    occ_backward: np.ndarray


# --------------------------------------------------------------------------- estimation
def _check_params(preset: str, scale: float, method: str) -> None:
    if method not in METHODS:
        raise ConfigError(f"flow method: expected one of {METHODS}, found {method!r}")
    if method == "dis" and preset not in DIS_PRESETS:
        raise ConfigError(f"flow preset: expected one of {tuple(DIS_PRESETS)}, found {preset!r}")
    if not (0.0 < float(scale) <= 1.0):
        raise ConfigError(f"flow scale: expected 0 < scale <= 1, found {scale!r}")


@lru_cache(maxsize=8)
def _dis(preset: str) -> cv2.DISOpticalFlow:
    return cv2.DISOpticalFlow_create(DIS_PRESETS[preset])


def to_gray(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB or (H, W) uint8 -> (H, W) uint8 grey."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        raise DataError(f"flow input frame: expected dtype uint8, found {frame.dtype}")
    if frame.ndim == 2:
        return np.ascontiguousarray(frame)
    if frame.ndim == 3 and frame.shape[2] == 3:
        return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    raise DataError(f"flow input frame: expected shape (H, W, 3) or (H, W), found {frame.shape}")


def _prepare(gray: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return gray
    h, w = gray.shape
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA)


def _flow_gray(
    a: np.ndarray, b: np.ndarray, shape: tuple[int, int], preset: str, method: str
) -> np.ndarray:
    """Flow between prepared grey images, returned at ``shape`` in (y, x) order."""
    if method == "dis":
        fxy = _dis(preset).calc(a, b, None)
    else:
        fxy = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 4, 15, 3, 5, 1.2, 0)
    h, w = shape
    hs, ws = a.shape
    if (hs, ws) != (h, w):
        fxy = cv2.resize(fxy, (w, h), interpolation=cv2.INTER_LINEAR)
        fxy[..., 0] *= w / ws
        fxy[..., 1] *= h / hs
    out = np.empty((h, w, 2), np.float32)
    out[..., 0] = fxy[..., 1]
    out[..., 1] = fxy[..., 0]
    return out


def estimate_flow(
    frame_a: np.ndarray,
    frame_b: np.ndarray,
    preset: str = "medium",
    scale: float = 1.0,
    method: str = "dis",
) -> np.ndarray:
    """Dense flow from ``frame_a`` to ``frame_b``: (H, W, 2) float32 in (y, x) order, so that
    pixel p of frame_a is at ``p + flow[p]`` in frame_b.

    frame_a, frame_b: (H, W, 3) uint8 RGB (or (H, W) uint8 grey). ``method``: "dis" (OpenCV
    DIS with ``preset`` ultrafast/fast/medium) or "farneback" (baseline). ``scale`` < 1
    computes on a downscaled image (INTER_AREA) and upsamples the flow bilinearly.
    """
    _check_params(preset, scale, method)
    ga, gb = to_gray(frame_a), to_gray(frame_b)
    if ga.shape != gb.shape:
        raise DataError(f"estimate_flow: frame shapes differ: {ga.shape} vs {gb.shape}")
    return _flow_gray(_prepare(ga, scale), _prepare(gb, scale), ga.shape, preset, method)


# --------------------------------------------------------------------------- occlusion
@lru_cache(maxsize=4)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.meshgrid(
        np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij"
    )
    yy.setflags(write=False)
    xx.setflags(write=False)
    return yy, xx


def _check_flow(flow: np.ndarray, name: str = "flow") -> np.ndarray:
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise DataError(f"{name}: expected shape (H, W, 2), found {flow.shape}")
    return flow.astype(np.float32, copy=False)


def occlusion_from_flow(flow: np.ndarray, spread: float = 0.0) -> np.ndarray:
    """Pixels of the *target* frame on which no vector of ``flow`` lands.

    flow: (H, W, 2) float (y, x) defined on the source frame. Nearest-neighbour splatting:
    the vector of source pixel p covers target pixel ``round(p + flow[p])``; vectors leaving
    the frame cover nothing. ``spread`` > 0 also covers the 4 diagonal offsets ``±spread``
    (the seed used 0.1). Returns (H, W) bool, True = occluded (not covered).
    """
    flow = _check_flow(flow)
    h, w = flow.shape[:2]
    yy, xx = _grid(h, w)
    ty = yy + flow[..., 0]
    tx = xx + flow[..., 1]
    covered = np.zeros(h * w, dtype=bool)
    offsets = [(0.0, 0.0)]
    if spread > 0:
        offsets += [(spread, spread), (-spread, spread), (spread, -spread), (-spread, -spread)]
    for dy, dx in offsets:
        iy = np.rint(ty + dy) if dy else np.rint(ty)
        ix = np.rint(tx + dx) if dx else np.rint(tx)
        valid = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)  # NaN compares False
        idx = iy[valid].astype(np.int64) * w + ix[valid].astype(np.int64)
        covered[idx] = True
    return ~covered.reshape(h, w)


def points_out_of_frame(flow: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels whose flow vector lands outside the frame (the seed's test:
    target < 0 or target >= size - 1 on either axis)."""
    flow = _check_flow(flow)
    h, w = flow.shape[:2]
    yy, xx = _grid(h, w)
    ty = yy + flow[..., 0]
    tx = xx + flow[..., 1]
    return (ty < 0) | (tx < 0) | (ty >= h - 1) | (tx >= w - 1)


def occlusions(
    forward: np.ndarray,
    backward: np.ndarray,
    spread: float = 0.0,
    exclude_out_of_frame: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """``(occ_forward, occ_backward)`` for one frame pair.

    occ_forward: (H, W) bool on frame t+1, not covered by the forward flow of frame t;
    occ_backward: (H, W) bool on frame t, not covered by the backward flow of frame t+1.
    ``exclude_out_of_frame`` clears pixels whose own opposite-direction flow leaves the
    frame (content entering/leaving through the border), as the seed's GMA script did.
    """
    occ_f = occlusion_from_flow(forward, spread)
    occ_b = occlusion_from_flow(backward, spread)
    if exclude_out_of_frame:
        occ_f &= ~points_out_of_frame(backward)
        occ_b &= ~points_out_of_frame(forward)
    return occ_f, occ_b


def warp_sample(field: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Bilinearly sample ``field`` (H, W[, C]) at ``p + flow[p]`` (border-replicated)."""
    flow = _check_flow(flow)
    h, w = flow.shape[:2]
    yy, xx = _grid(h, w)
    map_x = xx + flow[..., 1]
    map_y = yy + flow[..., 0]
    return cv2.remap(
        np.ascontiguousarray(field), map_x, map_y, cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def fb_consistency(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """Forward-backward error on frame t: ``|forward(p) + backward(p + forward(p))|`` in
    pixels, (H, W) float32 (``backward`` sampled bilinearly). Large values flag occlusions
    or unreliable flow; the symmetric error on frame t+1 is ``fb_consistency(backward,
    forward)``."""
    forward = _check_flow(forward, "forward")
    backward = _check_flow(backward, "backward")
    round_trip = forward + warp_sample(backward, forward)
    return np.sqrt((round_trip**2).sum(axis=-1)).astype(np.float32)


def fb_occlusion(
    forward: np.ndarray, backward: np.ndarray, alpha: float = 0.01, beta: float = 0.5
) -> np.ndarray:
    """Sundaram et al. (2010) consistency test on frame t: True where
    ``|f + b(p+f)|^2 > alpha (|f|^2 + |b(p+f)|^2) + beta``. (H, W) bool."""
    forward = _check_flow(forward, "forward")
    bw = warp_sample(_check_flow(backward, "backward"), forward)
    lhs = ((forward + bw) ** 2).sum(-1)
    rhs = alpha * ((forward**2).sum(-1) + (bw**2).sum(-1)) + beta
    return lhs > rhs


# --------------------------------------------------------------------------- videos
def compute_video_flow(
    frames: Iterable[np.ndarray],
    preset: str = "medium",
    scale: float = 1.0,
    method: str = "dis",
    spread: float = 0.0,
    exclude_out_of_frame: bool = False,
) -> Iterator[FlowPair]:
    """Forward/backward flow and occlusions for consecutive frames, one :class:`FlowPair`
    per pair ``(t, t+1)``, streaming (only two frames held). frames: iterable of
    (H, W, 3) uint8 RGB."""
    _check_params(preset, scale, method)
    prev_gray = prev_small = None
    shape: tuple[int, int] | None = None
    for i, frame in enumerate(frames):
        gray = to_gray(frame)
        if shape is None:
            shape = gray.shape
        elif gray.shape != shape:
            raise DataError(f"frame {i}: expected size {shape}, found {gray.shape}")
        small = _prepare(gray, scale)
        if prev_gray is not None:
            fw = _flow_gray(prev_small, small, shape, preset, method)
            bw = _flow_gray(small, prev_small, shape, preset, method)
            occ_f, occ_b = occlusions(fw, bw, spread, exclude_out_of_frame)
            yield FlowPair(i - 1, fw, bw, occ_f, occ_b)
        prev_gray, prev_small = gray, small


def end_point_error(flow: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean Euclidean distance between two (..., 2) flow fields (over ``mask`` if given)."""
    err = np.sqrt(((np.asarray(flow, np.float64) - truth) ** 2).sum(-1))
    return float(err[mask].mean() if mask is not None else err.mean())


# --------------------------------------------------------------------------- dataset
def estimator_params(
    preset: str = "medium",
    scale: float = 1.0,
    method: str = "dis",
    spread: float = 0.0,
    exclude_out_of_frame: bool = False,
    dtype: str = "quantized",
) -> dict[str, object]:
    """The params recorded in a store group for the built-in estimator (a change in any of
    them, or in the OpenCV version, makes the video be recomputed)."""
    _check_params(preset, scale, method)
    return {
        "estimator": method,
        "preset": preset if method == "dis" else None,
        "scale": float(scale),
        "spread": float(spread),
        "exclude_out_of_frame": bool(exclude_out_of_frame),
        "dtype": dtype,
        "opencv": cv2.__version__,
    }


def flow_video_job(
    root: str, store: str, seq: str, h5_src: Any, key: dict[str, Any], preset: str,
    scale: float, spread: float, exclude_out_of_frame: bool, dtype: str,
) -> str:  # fmt: skip
    """Compute (or import from ``h5_src``) and write the flow group of one video; ``key``
    holds method, params, n_frames, height, width and frames_digest. One executor job."""
    from gnnannot.data import davis
    from gnnannot.io import flow_h5, flow_store

    method, params = key["method"], key["params"]
    n_frames, height, width = key["n_frames"], key["height"], key["width"]
    digest = key["frames_digest"]
    if method == "h5":
        flow_h5.import_h5(h5_src, store, seq, n_frames, height, width, params, dtype=dtype,
                          frames_digest=digest)  # fmt: skip
        return seq
    with flow_store.FlowWriter(
        store, seq, n_frames, height, width, method, params, dtype=dtype,
        frames_digest=digest,
    ) as writer:
        pairs = compute_video_flow(
            davis.iter_frames(root, seq), preset, scale, method, spread, exclude_out_of_frame,
        )
        for pair in pairs:
            writer.write(pair.forward, pair.backward, pair.occ_forward, pair.occ_backward)
    return seq


@_locked_store("store")
def build_flow_store(
    root: str,
    store: str,
    method: str = "dis",
    preset: str = "medium",
    scale: float = 1.0,
    spread: float = 0.0,
    exclude_out_of_frame: bool = False,
    h5_dir: str | None = None,
    dtype: str = "quantized",
    sequences: list[str] | None = None,
    prune: bool = True,
    quiet: bool = False,
    executor: Any = None,
) -> dict[str, list[str]]:
    """Fill ``store`` with the flow of every video of the DAVIS-layout dataset at ``root``.

    method "dis"/"farneback": compute (``compute_video_flow``); "h5": import the seed's
    files from ``h5_dir``. Per-video incremental: a complete group whose attrs (method,
    params, size, frame count, frame content digest, code version) match is kept; others
    are (re)computed, written atomically
    per group. With ``prune`` groups of videos not in the dataset are deleted.
    ``executor``: where the per-video jobs (:func:`flow_video_job`) run (a
    :mod:`gnnannot.pipeline.executor` executor; default: here, one after the other).
    Returns ``{"computed": [...], "kept": [...], "removed": [...]}``.
    """
    from gnnannot.data import davis
    from gnnannot.io import flow_store

    if method not in ("dis", "farneback", "h5"):
        raise ConfigError(f"flow method: expected dis, farneback or h5, found {method!r}")
    if method == "h5" and not h5_dir:
        raise ConfigError("flow method h5 needs flow.h5_dir (folder of the .h5 files)")
    all_seqs = davis.list_sequences(root)
    seqs = all_seqs if sequences is None else list(sequences)
    missing = sorted(set(seqs) - set(all_seqs))
    if missing:
        raise DataError(f"{root}: sequences not in the dataset: {missing}")
    from gnnannot.io.graph_store import files_digest

    created = not Path(store).exists()
    try:
        return _fill_flow_store(root, store, method, preset, scale, spread,
                                exclude_out_of_frame, h5_dir, dtype, seqs, all_seqs, prune,
                                quiet, files_digest, executor)  # fmt: skip
    except BaseException:
        if created and not flow_store.list_videos(store, complete_only=False):
            import shutil

            shutil.rmtree(store, ignore_errors=True)  # a failed first run leaves nothing
        raise


def _fill_flow_store(
    root: str, store: str, method: str, preset: str, scale: float, spread: float,
    exclude_out_of_frame: bool, h5_dir: str | None, dtype: str, seqs: list[str],
    all_seqs: list[str], prune: bool, quiet: bool, files_digest: Any, executor: Any = None,
) -> dict[str, list[str]]:  # fmt: skip
    from gnnannot.data import davis
    from gnnannot.io import flow_h5, flow_store
    from gnnannot.progress import log, track

    flow_store.ensure_store(store)
    flow_store.clean_temporaries(store)
    removed: list[str] = []
    if prune:
        for name in flow_store.list_videos(store, complete_only=False):
            if name not in all_seqs:
                flow_store.remove_video(store, name)
                removed.append(name)
    computed: list[str] = []
    kept: list[str] = []
    jobs: list[tuple[Any, ...]] = []
    sizes: list[int] = []
    for seq in seqs:
        paths = davis.frame_paths(root, seq)
        height, width = davis.read_image(paths[0]).shape[:2]
        n_frames = len(paths)
        if method == "h5":
            assert h5_dir is not None
            src = flow_h5.find_h5(h5_dir, seq)
            params: dict[str, object] = {**flow_h5.h5_source_params(src), "dtype": dtype}
        else:
            src = None
            params = estimator_params(preset, scale, method, spread, exclude_out_of_frame, dtype)
        digest = files_digest(paths)  # frame content: a changed frame recomputes the flow
        key = dict(method=method, params=params, n_frames=n_frames, height=height, width=width,
                   frames_digest=digest)  # fmt: skip
        if flow_store.is_up_to_date(store, seq, **key):  # type: ignore[arg-type]
            kept.append(seq)
            continue
        jobs.append((root, store, seq, src, key, preset, scale, spread, exclude_out_of_frame,
                     dtype))  # fmt: skip
        sizes.append(n_frames)
        computed.append(seq)
    if executor is None:
        for job in track(jobs, "flow videos", quiet=quiet):
            flow_video_job(*job)
    else:
        executor.run(flow_video_job, jobs, description="flow", quiet=quiet, sizes=sizes,
                     labels=computed)  # fmt: skip
    log(f"flow: {len(computed)} computed, {len(kept)} up to date, {len(removed)} removed", quiet)
    return {"computed": computed, "kept": kept, "removed": removed}
