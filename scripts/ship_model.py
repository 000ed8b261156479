"""Refresh the GNN checkpoint shipped inside the package from the pipeline's model.

    python scripts/ship_model.py                 # models/model.pt -> gnnannot/checkpoints/
    python scripts/ship_model.py --source other.pt

The source is loaded with :func:`gnnannot.model.checkpoint.load_checkpoint` first (a
corrupt file or one that does not fit the architecture is refused, naming the file), then
copied byte for byte to ``gnnannot/checkpoints/default.pt``, atomically, with
``default.json`` recording its SHA-256, size, validation J and the date. Commit both files.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gnnannot.atomic import atomic_file, write_json  # noqa: E402
from gnnannot.checkpoints import SHIPPED_CHECKPOINT  # noqa: E402
from gnnannot.errors import DataError  # noqa: E402
from gnnannot.methods.gnn import FEATURE_VIEW  # noqa: E402
from gnnannot.model.checkpoint import load_checkpoint  # noqa: E402


def ship(source: Path, dest: Path = SHIPPED_CHECKPOINT, note: str = "") -> dict:
    """Check ``source`` loads and feeds this version's features, copy it to ``dest`` and
    write ``dest.with_suffix('.json')``; returns that record."""
    _, meta = load_checkpoint(source)
    view = meta.get("extra", {}).get("feature_view")
    if view != FEATURE_VIEW:
        raise DataError(f"checkpoint {source}: feature view {view!r}, this version feeds "
                        f"{FEATURE_VIEW!r}: rerun the pipeline (dvc repro train) first")
    data = source.read_bytes()
    with atomic_file(dest) as tmp:
        shutil.copyfile(source, tmp)
    extra = meta.get("extra", {})
    record = {
        "source": str(source), "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
        "val_J": extra.get("val_J"), "epoch": extra.get("epoch"),
        "shipped": datetime.now(UTC).isoformat(timespec="seconds"), "note": note,
    }  # fmt: skip
    write_json(dest.with_suffix(".json"), record)
    return record


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, default=ROOT / "models" / "model.pt")
    ap.add_argument("--note", default="", help="where the checkpoint came from (recorded)")
    args = ap.parse_args()
    rec = ship(args.source, note=args.note)
    print(f"shipped {args.source} -> {SHIPPED_CHECKPOINT} ({rec['bytes']} bytes, "
          f"sha256 {rec['sha256'][:12]}, val_J {rec['val_J']})")


if __name__ == "__main__":
    main()
