"""Machine-independent numerics for the synthetic generator.

OpenCV picks SIMD code paths at run time by CPU (``cv2.getCPUFeaturesLine()``), and some
of them give different pixels: ``warpAffine`` (uint8 and float32), ``GaussianBlur``
(float32), ``cvtColor(HSV2RGB)`` and ``resize(INTER_CUBIC)`` differ between the AVX2 path
and the SSE baseline (``OPENCV_CPU_DISABLE=AVX2`` shows it on one machine). Inside
:func:`portable_numerics` OpenCV runs its baseline code only (``cv2.setUseOptimized(False)``
turns off run-time dispatch and IPP), which is the same binary code on every x86-64 CPU.
NumPy's float32 transcendental functions also depend on the CPU's SIMD level
(``NPY_DISABLE_CPU_FEATURES=X86_V4`` changes float64 ``np.exp`` and ``np.log`` in the
last bit). The generator therefore takes ``exp``/``log`` of its motion parameters from
the C library (:func:`exp`, :func:`log`), evaluates per-pixel transcendental fields in
float64 and rounds them (``np.rint``) instead of truncating a value that is an integer
in exact arithmetic (``x * (1 - a) + x * a`` truncated gives ``x - 1`` or ``x`` depending
on the last bit of ``a``).
"""

from __future__ import annotations

import contextlib
import math
import threading

import cv2
import numpy as np
from numpy.typing import ArrayLike

__all__ = ["exp", "log", "portable_numerics"]

_lock = threading.Lock()
_depth = 0
_saved = True


class portable_numerics(contextlib.ContextDecorator):  # noqa: N801 (used like a function)
    """Context manager / decorator: OpenCV without CPU-dispatched optimisations inside,
    the previous setting restored on exit (re-entrant, thread-safe)."""

    def __enter__(self) -> portable_numerics:
        global _depth, _saved
        with _lock:
            if _depth == 0:
                _saved = cv2.useOptimized()
                cv2.setUseOptimized(False)
            _depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        global _depth
        with _lock:
            _depth -= 1
            if _depth == 0:
                cv2.setUseOptimized(_saved)


def exp(x: ArrayLike) -> np.ndarray:
    """``exp`` of a small float64 array through the C library (``math.exp``), not NumPy's
    CPU-dispatched SIMD loop (whose AVX-512 build differs in the last bit)."""
    a = np.asarray(x, dtype=np.float64)
    return np.array([math.exp(v) for v in a.ravel().tolist()], np.float64).reshape(a.shape)


def log(x: ArrayLike) -> np.ndarray:
    """``log`` of a small float64 array through the C library (see :func:`exp`)."""
    a = np.asarray(x, dtype=np.float64)
    return np.array([math.log(v) for v in a.ravel().tolist()], np.float64).reshape(a.shape)
