"""Make a dataset available in DAVIS layout: generate it, download it or adopt a local one."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from gnnannot.atomic import atomic_dir
from gnnannot.data.validate import SequenceInfo, validate_dataset
from gnnannot.errors import ConfigError, DataError
from gnnannot.progress import log
from gnnannot.data.synthetic import generate_dataset
from gnnannot.data.download import fetch_davis2017

SOURCES = ("synthetic", "davis2017", "local")
_SYNTHETIC_KEYS = {
    "n_train", "n_val", "n_frames", "val_frames", "height", "width", "max_objects",
    "val_scribbles", "effects", "quality",
}


def _link_tree(src: Path, dst: Path) -> None:
    """Mirror ``src`` into ``dst`` with hard links (copies where linking is impossible)."""
    for dirpath, _dirs, files in os.walk(src):
        rel = Path(dirpath).relative_to(src)
        (dst / rel).mkdir(parents=True, exist_ok=True)
        for name in files:
            s, d = Path(dirpath) / name, dst / rel / name
            try:
                os.link(s, d)
            except OSError:
                shutil.copy2(s, d)


def prepare_dataset(
    source: str,
    root: str | os.PathLike[str],
    *,
    seed: int = 0,
    synthetic: dict[str, Any] | None = None,
    davis2017: dict[str, Any] | None = None,
    local_path: str = "",
    quiet: bool = False,
) -> dict[str, list[SequenceInfo]]:
    """Create ``root`` in DAVIS layout from ``source`` and validate it.

    * ``synthetic``: the deterministic generator with the ``synthetic`` options.
    * ``davis2017``: the official DAVIS-2017 trainval 480p + scribbles download
      (``davis2017`` options: ``cache_dir`` and optional URL / SHA-256 overrides).
    * ``local``: validate the DAVIS folder at ``local_path`` and mirror it (hard links).

    ``root`` is replaced atomically: a failure leaves the previous ``root`` as it was.
    """
    root = Path(root)
    if source == "synthetic":
        opts = dict(synthetic or {})
        unknown = set(opts) - _SYNTHETIC_KEYS
        if unknown:
            raise ConfigError(
                f"data.synthetic: unknown keys {sorted(unknown)} "
                f"(allowed {sorted(_SYNTHETIC_KEYS)})"
            )
        with atomic_dir(root) as tmp:
            generate_dataset(tmp, seed=seed, quiet=quiet, **opts)
            infos = validate_dataset(tmp, require_scribbles=("val",))
    elif source == "davis2017":
        opts = dict(davis2017 or {})
        cache_dir = Path(opts.pop("cache_dir", "data/downloads"))
        fetch_davis2017(root, cache_dir=cache_dir, quiet=quiet, **opts)
        infos = validate_dataset(root, require_scribbles=("val",))
    elif source == "local":
        if not local_path:
            raise ConfigError("params.yaml: data.local.path must name a DAVIS folder")
        src = Path(local_path).expanduser().resolve()
        if src == root.resolve():
            raise ConfigError(f"data.local.path {src} is the output folder itself")
        validate_dataset(src)
        with atomic_dir(root) as tmp:
            _link_tree(src, tmp)
            infos = validate_dataset(tmp)
    else:
        raise ConfigError(f"data.source must be one of {SOURCES}, found {source!r}")
    total = sum(len(v) for v in infos.values())
    frames = sum(i.n_frames for v in infos.values() for i in v)
    log(f"[green]data:[/] {total} sequences, {frames} frames in {root}", quiet)
    if total == 0:
        raise DataError(f"{root}: no sequences")
    return infos
