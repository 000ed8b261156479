"""Real-footage effects for the synthetic dataset: non-rigid deformation of a sprite, maps
at fractional times (for motion blur), camera shake and lighting change.

Determinism: transcendental functions (sin, exp) are evaluated in float64 and the results
only reach pixels through OpenCV's fixed-point warps or a cast to float32, so the last-ulp
differences between CPU-specific (SIMD) implementations practically never change a byte.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gnnannot.data import numerics


# --------------------------------------------------------------------------- deformation
@dataclass
class Deform:
    """A smooth time-varying displacement field of a sprite (sprite pixel coordinates).

    ``E_t(v) = sum_j amp_j * dir_j * sin(wave_j . v + omega_j * t + phase_j)`` with ``amp``
    ``(J,)`` px, ``dirs`` ``(J, 2)`` unit (x, y), ``waves`` ``(J, 2)`` rad/px, ``omega``
    ``(J,)`` rad/frame and ``phase`` ``(J,)``. A frame pixel whose rigid sprite coordinate
    is ``v`` shows the texel ``u = v + E_t(v)``. ``max_grad`` bounds ``|dE/dv|`` (< 1, so
    the map is invertible and :meth:`inverse` converges).
    """

    amp: np.ndarray
    dirs: np.ndarray
    waves: np.ndarray
    omega: np.ndarray
    phase: np.ndarray

    @property
    def max_grad(self) -> float:
        return float(np.sum(self.amp * np.linalg.norm(self.waves, axis=1)))

    @property
    def max_disp(self) -> float:
        return float(np.sum(self.amp))

    def disp(self, x: np.ndarray, y: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
        """``E_t`` at points ``(x, y)`` (float64 arrays of any shape) -> ``(dx, dy)``."""
        dx = np.zeros(np.shape(x))
        dy = np.zeros(np.shape(x))
        for j in range(len(self.amp)):
            s = self.amp[j] * np.sin(
                self.waves[j, 0] * x + self.waves[j, 1] * y + self.omega[j] * t + self.phase[j]
            )
            dx += self.dirs[j, 0] * s
            dy += self.dirs[j, 1] * s
        return dx, dy

    def forward(self, x: np.ndarray, y: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Texel coordinates ``u = v + E_t(v)`` of rigid coordinates ``v = (x, y)``."""
        dx, dy = self.disp(x, y, t)
        return x + dx, y + dy

    def inverse(
        self, ux: np.ndarray, uy: np.ndarray, t: float, iters: int = 12
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rigid coordinates ``v`` with ``v + E_t(v) = u`` (fixed-point iteration; the error
        shrinks by ``max_grad`` per step)."""
        vx, vy = np.array(ux, float), np.array(uy, float)
        for _ in range(iters):
            dx, dy = self.disp(vx, vy, t)
            vx, vy = ux - dx, uy - dy
        return vx, vy


def random_deform(rng: np.random.Generator, sprite: int, strength: float) -> Deform:
    """Three travelling waves (bending, stretching) over a ``sprite``-px sprite; ``strength``
    ~ the largest strain ``|dE/dv|`` (e.g. 0.25)."""
    j = 3
    cycles = rng.uniform(0.5, 1.6, j)  # wavelengths per sprite
    ang = rng.uniform(0, 2 * np.pi, j)
    waves = (2 * np.pi * cycles / sprite)[:, None] * np.stack([np.cos(ang), np.sin(ang)], 1)
    # mostly transverse waves (bending), some longitudinal (stretching)
    dir_ang = ang + np.where(rng.random(j) < 0.7, np.pi / 2, 0.0) + rng.normal(0, 0.2, j)
    dirs = np.stack([np.cos(dir_ang), np.sin(dir_ang)], 1)
    share = rng.dirichlet(np.ones(j))
    amp = strength * share / np.linalg.norm(waves, axis=1)
    amp = np.minimum(amp, 0.03 * sprite)  # stays inside the sprite's 10% margin
    omega = rng.uniform(0.08, 0.35, j) * rng.choice([-1.0, 1.0], j)
    return Deform(amp, dirs, waves, omega, rng.uniform(0, 2 * np.pi, j))


# --------------------------------------------------------------------------- time
def map_at(maps: np.ndarray, t: float) -> np.ndarray:
    """The 2x3 map at fractional time ``t``: linear interpolation of the per-frame maps
    ``(T, 2, 3)`` (linear extrapolation from the first/last pair outside ``[0, T-1]``)."""
    n = len(maps)
    if n == 1:
        return maps[0].copy()
    if float(t).is_integer() and 0 <= t <= n - 1:
        return maps[int(t)].copy()
    i = int(np.clip(np.floor(t), 0, n - 2))
    f = t - i
    return maps[i] * (1.0 - f) + maps[i + 1] * f


def exposure_times(t: int, exposure: float, n_sub: int) -> np.ndarray:
    """Sub-frame instants ``(n_sub,)`` spread evenly over ``[t - e/2, t + e/2]``."""
    if n_sub <= 1 or exposure <= 0:
        return np.array([float(t)])
    return t + exposure * ((np.arange(n_sub) + 0.5) / n_sub - 0.5)


# --------------------------------------------------------------------------- camera shake
def shake_maps(
    rng: np.random.Generator, n: int, h: int, w: int, amp_px: float, rot_deg: float
) -> np.ndarray:
    """Per-frame hand-held shake ``(n, 2, 3)``: a rotation about the frame centre and a
    translation, both AR(1) noise (correlation 0.5), clipped to 2.5 sigma. Applied after
    every layer's map (frame -> shaken frame)."""
    out = np.zeros((n, 2, 3))
    c = np.array([w - 1, h - 1]) / 2.0
    state = np.zeros(3)
    sig = np.array([amp_px, amp_px, np.deg2rad(rot_deg)])
    for t in range(n):
        state = 0.5 * state + np.sqrt(1 - 0.25) * rng.normal(0, 1, 3) * sig
        s = np.clip(state, -2.5 * sig, 2.5 * sig)
        co, si = np.cos(s[2]), np.sin(s[2])
        m = np.array([[co, -si], [si, co]])
        out[t, :, :2] = m
        out[t, :, 2] = c - m @ c + s[:2]
    return out


def shake_bound(h: int, w: int, amp_px: float, rot_deg: float) -> float:
    """The largest displacement (px) :func:`shake_maps` can cause anywhere in the frame."""
    return 2.5 * (np.sqrt(2) * amp_px + np.deg2rad(rot_deg) * 0.5 * np.hypot(h, w))


# --------------------------------------------------------------------------- lighting
@dataclass
class Lighting:
    """Per-frame illumination: a global gain ``(T,)`` and an optional soft shadow edge that
    sweeps across the frame (``normal`` (x, y) unit, ``offset`` ``(T,)`` px, ``depth`` the
    darkening behind the edge, ``soft`` its width in px)."""

    gain: np.ndarray
    normal: np.ndarray | None = None
    offset: np.ndarray | None = None
    depth: float = 0.0
    soft: float = 1.0

    def field(self, t: int, h: int, w: int) -> np.ndarray:
        """Gain field ``(h, w, 1) float32`` of frame ``t``."""
        g = np.full((h, w), self.gain[t], np.float64)
        if self.normal is not None and self.offset is not None and self.depth > 0:
            ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
            d = (self.normal[0] * xs + self.normal[1] * ys - self.offset[t]) / self.soft
            g *= 1.0 - self.depth / (1.0 + np.exp(-np.clip(d, -50, 50)))
        return g.astype(np.float32)[..., None]


def random_lighting(rng: np.random.Generator, n: int, h: int, w: int) -> Lighting:
    """A smooth gain drift (x0.6..x1.35 over the video, sometimes a quick flicker) and,
    half the time, a moving shadow edge darkening part of the frame by 30-55%."""
    g0 = rng.uniform(float(numerics.log(0.75)), float(numerics.log(1.2)))
    g1 = g0 + rng.uniform(-0.45, 0.3)
    tt = np.linspace(0.0, 1.0, n)
    logg = g0 + (g1 - g0) * (3 * tt**2 - 2 * tt**3)
    if rng.random() < 0.3:  # flicker: a few frames brighter/darker
        logg = logg + rng.normal(0, 0.08, n)
    gain = numerics.exp(np.clip(logg, float(numerics.log(0.55)), float(numerics.log(1.4))))
    if rng.random() < 0.5:
        return Lighting(gain)
    ang = rng.uniform(0, 2 * np.pi)
    normal = np.array([np.cos(ang), np.sin(ang)])
    corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], float) @ normal
    lo, hi = corners.min(), corners.max()
    a, b = rng.uniform(0.1, 0.9, 2) * (hi - lo) + lo
    offset = a + (b - a) * tt
    return Lighting(gain, normal, offset, float(rng.uniform(0.3, 0.55)),
                    float(rng.uniform(0.01, 0.08) * min(h, w)))
