"""Per-frame access to a video's flow pairs, in the frame's own terms (see
:class:`FrameFlows`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from gnnannot.errors import DataError


class FrameFlows:
    """Per-frame view of a video's flow: a flow store group (anything with ``forward(i)``,
    ``backward(i)``, ``occ_forward(i)``, ``occ_backward(i)`` and ``n_pairs``) or a dict of
    in-memory arrays.

    For frame t of T: ``fwd(t)`` flow t -> t+1 on frame t, ``bwd(t)`` flow t -> t-1 on
    frame t, ``occ_next(t)`` pixels of t no backward vector lands on (vanish in t+1),
    ``occ_prev(t)`` pixels of t no forward vector from t-1 lands on (appear in t); None
    where the neighbouring frame does not exist or no flow is given.
    Arrays: forward/backward (T-1, H, W, 2), occ_forward/occ_backward (T-1, H, W), in the
    flow store's convention (``backward[t]`` and ``occ_forward[t]`` live on frame t+1).
    """

    def __init__(self, source: Any, n_frames: int) -> None:
        self.src = source
        self.n_frames = n_frames
        self._readers: dict[str, Any] = {}
        if source is not None:
            n_pairs = source.n_pairs if hasattr(source, "n_pairs") else len(source["forward"])
            if n_pairs != n_frames - 1:
                raise DataError(
                    f"flow has {n_pairs} frame pairs, the video has {n_frames} frames "
                    f"(expected {n_frames - 1})"
                )

    def _get(self, key: str, i: int) -> np.ndarray | None:
        if self.src is None or not 0 <= i < self.n_frames - 1:
            return None
        if isinstance(self.src, dict):
            arr = self.src.get(key)
            return None if arr is None else np.asarray(arr[i])
        reader = self._reader(key)
        if reader is not None:
            out = reader._read_fast(i)
            if out is not None:  # same conversions as FlowVideo.forward / occ_forward ...
                if key in ("forward", "backward"):
                    return out.astype(np.float32, copy=False)
                return out.astype(bool, copy=False)
        return getattr(self.src, key)(i)

    def _reader(self, key: str) -> Any:
        """Fast chunk reader of flow array ``key`` when the source offers one (a flow
        store group: :meth:`gnnannot.store.flow.FlowVideo.fast_reader`)."""
        if key not in self._readers:
            make = getattr(self.src, "fast_reader", None)
            self._readers[key] = make(key) if make is not None else None
        return self._readers[key]

    def fwd(self, t: int) -> np.ndarray | None:
        return self._get("forward", t)

    def bwd(self, t: int) -> np.ndarray | None:
        return self._get("backward", t - 1)

    def occ_next(self, t: int) -> np.ndarray | None:
        return self._get("occ_backward", t)

    def occ_prev(self, t: int) -> np.ndarray | None:
        return self._get("occ_forward", t - 1)

    def pair_forward(self, t: int) -> np.ndarray | None:
        """Flow t -> t+1 on frame t (pair t)."""
        return self._get("forward", t)

    def pair_backward(self, t: int) -> np.ndarray | None:
        """Flow t+1 -> t on frame t+1 (pair t)."""
        return self._get("backward", t)
