"""Appearance descriptors of superpixels for the per-session label model: the colour/texture
descriptor (:func:`gnnannot.preprocess.features.colour_descriptor`, computed with the node
features in one pass) or MobileNetV2 activations (:class:`CnnDescriptor`) averaged over
each superpixel, from a local torchvision-layout weights file (never downloaded);
:class:`Descriptor` picks one by kind."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from gnnannot.errors import ConfigError, DataError
from gnnannot.preprocess.features import COLOUR_DESCRIPTOR_NAMES, colour_descriptor, segment_sums

# --------------------------------------------------------------------------- MobileNetV2
# (expansion t, output channels c, repeats n, first stride s) of torchvision's MobileNetV2
_MBV2_CFG = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
             (6, 160, 3, 2), (6, 320, 1, 1))  # fmt: skip
_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def _block_specs() -> list[tuple[int, int]]:
    """(expansion, stride) of features.1 .. features.17."""
    specs = []
    for t, _c, n, s in _MBV2_CFG:
        for i in range(n):
            specs.append((t, s if i == 0 else 1))
    return specs


def _make_divisible(v: float, divisor: int = 8) -> int:
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def build_mobilenet_v2(n_layers: int = 14, width_mult: float = 1.0) -> Any:
    """MobileNetV2 ``features[:n_layers]`` (torchvision module names, so torchvision
    ``mobilenet_v2`` state dicts load), randomly initialised. Needs torch."""
    import torch.nn as nn

    def conv_bn(inp: int, out: int, k: int, stride: int, groups: int = 1) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(inp, out, k, stride, (k - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(out),
            nn.ReLU6(inplace=True),
        )

    class InvertedResidual(nn.Module):
        def __init__(self, inp: int, out: int, stride: int, t: int) -> None:
            super().__init__()
            hidden = int(round(inp * t))
            self.use_res = stride == 1 and inp == out
            layers: list[nn.Module] = []
            if t != 1:
                layers.append(conv_bn(inp, hidden, 1, 1))
            layers += [
                conv_bn(hidden, hidden, 3, stride, groups=hidden),
                nn.Conv2d(hidden, out, 1, 1, 0, bias=False),
                nn.BatchNorm2d(out),
            ]
            self.conv = nn.Sequential(*layers)

        def forward(self, x: Any) -> Any:
            return x + self.conv(x) if self.use_res else self.conv(x)

    if not 1 <= n_layers <= 18:
        raise ConfigError(f"features.cnn_layer must be in 1..18, found {n_layers}")
    inp = _make_divisible(32 * width_mult)
    layers: list[nn.Module] = [conv_bn(3, inp, 3, 2)]
    chans = [c for _t, c, n, _s in _MBV2_CFG for _ in range(n)]
    for (t, s), c in zip(_block_specs(), chans, strict=True):
        out = _make_divisible(c * width_mult)
        layers.append(InvertedResidual(inp, out, s, t))
        inp = out
    model = nn.Module()
    model.features = nn.Sequential(*layers[:n_layers])
    return model


def _infer_width(state: dict[str, Any]) -> float:
    key = "features.0.0.weight"
    if key not in state:
        raise DataError(f"MobileNetV2 weights: key {key!r} not found (torchvision layout expected)")
    c0 = int(state[key].shape[0])
    for wm in (0.25, 0.35, 0.5, 0.75, 1.0, 1.3, 1.4, 2.0):
        if _make_divisible(32 * wm) == c0 and _make_divisible(16 * wm) == int(
            state.get("features.1.conv.1.weight", state[key]).shape[0]
        ):
            return wm
    return c0 / 32.0


class CnnDescriptor:
    """Per-superpixel MobileNetV2 activations from a local weights file.

    weights: path to a torch file holding a torchvision-layout MobileNetV2 state dict
    (optionally under a ``state_dict`` / ``model`` key); loaded with
    ``weights_only=True``, never from a hub. layer: number of ``features`` blocks kept
    (14 -> 96 channels at stride 16 for width 1.0). Activations are bilinearly upsampled
    to 1/4 resolution and averaged over each superpixel's pixels there (superpixels with no
    pixel at that resolution take the value at their centroid).
    """

    def __init__(
        self, weights: str | os.PathLike[str], layer: int = 14, threads: int | None = None
    ):
        import torch

        path = Path(weights)
        if not path.is_file():
            raise DataError(f"{path}: CNN weights file not found (features.cnn_weights)")
        try:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - corrupt or pickled non-tensor file
            raise DataError(
                f"{path}: cannot load CNN weights ({type(exc).__name__}: {exc})"
            ) from exc
        if isinstance(state, dict):
            for key in ("state_dict", "model"):
                if key in state and isinstance(state[key], dict):
                    state = state[key]
        if not isinstance(state, dict):
            raise DataError(f"{path}: expected a state dict, found {type(state).__name__}")
        state = {k.removeprefix("module."): v for k, v in state.items()}
        self.width_mult = _infer_width(state)
        self.layer = int(layer)
        model = build_mobilenet_v2(self.layer, self.width_mult)
        wanted = model.state_dict()
        sub = {k: v for k, v in state.items() if k in wanted}
        missing = sorted(set(wanted) - set(sub))
        if missing:
            raise DataError(
                f"{path}: MobileNetV2 weights lack {len(missing)} keys, e.g. {missing[:3]}"
            )
        try:
            model.load_state_dict(sub, strict=True)
        except RuntimeError as exc:
            raise DataError(f"{path}: weights do not fit MobileNetV2 ({exc})") from exc
        self.model = model.eval()
        self.threads = threads
        with torch.no_grad():
            self.dim = int(self.model.features(torch.zeros(1, 3, 32, 32)).shape[1])
        self.names = tuple(f"cnn{i}" for i in range(self.dim))

    def activations(self, image: np.ndarray) -> np.ndarray:
        """(h, w, C) float32 feature map of one (H, W, 3) uint8 RGB image."""
        import torch

        if self.threads:
            torch.set_num_threads(self.threads)
        x = (image.astype(np.float32) / 255.0 - _IMAGENET_MEAN) / _IMAGENET_STD
        t = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]
        with torch.no_grad():
            y = self.model.features(t)[0]
        return y.permute(1, 2, 0).numpy().astype(np.float32)

    def __call__(self, image: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
        """(n, C) float32 mean activations per superpixel."""
        h, w = labels.shape
        qh, qw = max(1, h // 4), max(1, w // 4)
        act = self.activations(image)
        up = cv2.resize(act, (qw, qh), interpolation=cv2.INTER_LINEAR)
        if up.ndim == 2:
            up = up[..., None]
        small = cv2.resize(labels.astype(np.int32), (qw, qh), interpolation=cv2.INTER_NEAREST)
        cnt = np.bincount(small.ravel(), minlength=n)[:n].astype(np.float64)
        out = segment_sums(small, n, up.reshape(-1, up.shape[-1]))
        out /= np.maximum(cnt, 1.0)[:, None]
        empty = np.flatnonzero(cnt == 0)
        if empty.size:
            yy, xx = np.mgrid[0:h, 0:w]
            full_cnt = np.bincount(labels.ravel(), minlength=n).astype(np.float64)
            cy = np.bincount(labels.ravel(), yy.ravel(), minlength=n) / np.maximum(full_cnt, 1)
            cx = np.bincount(labels.ravel(), xx.ravel(), minlength=n) / np.maximum(full_cnt, 1)
            iy = np.clip((cy[empty] * qh / h).astype(int), 0, qh - 1)
            ix = np.clip((cx[empty] * qw / w).astype(int), 0, qw - 1)
            out[empty] = up[iy, ix]
        return out.astype(np.float32)


class Descriptor:
    """Appearance descriptor selected by ``kind``: ``"colour"`` or ``"cnn"`` (the latter
    needs ``weights``, a local file)."""

    def __init__(
        self,
        kind: str = "colour",
        weights: str | os.PathLike[str] | None = None,
        layer: int = 14,
    ) -> None:
        if kind not in ("colour", "cnn"):
            raise ConfigError(f"features.descriptor must be 'colour' or 'cnn', found {kind!r}")
        self.kind = kind
        self._cnn: CnnDescriptor | None = None
        if kind == "cnn":
            if not weights:
                raise ConfigError(
                    "features.descriptor is 'cnn' but features.cnn_weights names no file"
                )
            self._cnn = CnnDescriptor(weights, layer)
            self.names: tuple[str, ...] = self._cnn.names
        else:
            self.names = COLOUR_DESCRIPTOR_NAMES

    @property
    def dim(self) -> int:
        return len(self.names)

    def __call__(
        self, image: np.ndarray, labels: np.ndarray, n: int, lab: np.ndarray | None = None
    ) -> np.ndarray:
        if self._cnn is not None:
            return self._cnn(image, labels, n)
        return colour_descriptor(image, labels, n, lab)
