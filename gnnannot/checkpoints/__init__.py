"""The GNN checkpoint shipped inside the package (package data), used by ``--method auto``
wherever the user runs ``gnnannot segment`` / ``gnnannot annotate``.

``default.pt`` is a copy of the pipeline's ``models/model.pt`` (the ``train`` stage's
output) made by ``python scripts/ship_model.py``; :data:`SHIPPED_INFO` names where it came
from (``default.json``, written by the same script).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["SHIPPED_CHECKPOINT", "SHIPPED_LABEL", "shipped_info"]

SHIPPED_CHECKPOINT = Path(__file__).resolve().parent / "default.pt"
SHIPPED_LABEL = "gnnannot/checkpoints/default.pt"  # how messages name it


def shipped_info() -> dict[str, Any]:
    """What ``scripts/ship_model.py`` recorded about the shipped checkpoint (source file,
    its SHA-256, the date), or ``{}`` when the record is missing."""
    try:
        return json.loads((SHIPPED_CHECKPOINT.with_suffix(".json")).read_text())
    except (OSError, ValueError):
        return {}
