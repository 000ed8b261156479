"""The browser session's saved state: the objects and every interaction's strokes, kept in
the video's preprocessing cache folder so that reopening the same video resumes it.

File ``<cache>/<key>/web_session.json`` (written atomically after every change)::

    {"format": "gnnannot-web-session", "version": 1, "n_frames": T, "n_objects": K,
     "objects": [{"name": "judoka", "colour": [r, g, b]}, ...],      # optional, K entries
     "interactions": [{"strokes": [{"frame": t, "object_id": k, "path": [[x, y], ...],
                                    "kind": "mask", "radius": 6}, ...],
                       "seconds": 0.21, "created": "2026-11-22T08:58:00+00:00"}, ...]}

``kind`` (scribble, mask, erase) and ``radius`` (working pixels) are optional (a plain
scribble of radius 0 when absent): see :mod:`gnnannot.annotate.mask_edits`.

Stroke coordinates follow the DAVIS scribble convention: ``x, y`` normalised to 0..1 of
the frame's width and height (rasterised at ``(int(x * (W - 1)), int(y * (H - 1)))``);
``object_id`` 0 marks background. :func:`validate_strokes` checks strokes from the browser
(and from the file) and raises :class:`RequestError` naming the offending field.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gnnannot.annotate.mask_edits import KINDS, MAX_RADIUS, davis_strokes
from gnnannot.atomic import write_json
from gnnannot.errors import DataError
from gnnannot.store.palette import PALETTE

__all__ = [
    "SESSION_FILE",
    "Interaction",
    "RequestError",
    "SessionState",
    "SessionStore",
    "to_davis_scribble",
    "validate_strokes",
]

SESSION_FILE = "web_session.json"
FORMAT = "gnnannot-web-session"
VERSION = 1
MAX_POINTS = 100_000  # per request: a sane upper bound on what one interaction may send
MAX_NAME = 64  # characters of an object name


class RequestError(DataError):
    """A bad request from the browser: ``status`` is the HTTP status (4xx) and ``field``
    the request field at fault (e.g. ``strokes[0].path[3]``)."""

    def __init__(self, message: str, field: str = "", status: int = 422) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.status = status
        self.detail = message


@dataclass
class Interaction:
    """One submitted interaction: its strokes (see module doc) and how long the update took."""

    strokes: list[dict[str, Any]]
    seconds: float = 0.0
    created: str = ""

    @property
    def frames(self) -> list[int]:
        """Frames this interaction marks, ascending."""
        return sorted({int(s["frame"]) for s in self.strokes})

    def to_dict(self) -> dict[str, Any]:
        return {"strokes": self.strokes, "seconds": self.seconds, "created": self.created}


def default_object(k: int) -> dict[str, Any]:
    """Name and colour of object ``k`` until the user changes them (the DAVIS palette)."""
    return {"name": f"object {k}", "colour": [int(c) for c in PALETTE[k % 256]]}


@dataclass
class SessionState:
    """Objects ``1..n_objects`` (``objects[k - 1]``: name and colour) and the interactions
    so far (oldest first)."""

    n_objects: int = 1
    interactions: list[Interaction] = field(default_factory=list)
    objects: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.objects = [dict(o) for o in self.objects[: self.n_objects]]
        self.objects += [default_object(k) for k in range(len(self.objects) + 1,
                                                          self.n_objects + 1)]  # fmt: skip

    def copy(self) -> SessionState:
        return SessionState(self.n_objects, list(self.interactions), self.objects)

    def to_dict(self, n_frames: int) -> dict[str, Any]:
        return {
            "format": FORMAT, "version": VERSION, "n_frames": n_frames,
            "n_objects": self.n_objects, "objects": self.objects,
            "interactions": [i.to_dict() for i in self.interactions],
        }  # fmt: skip


def validate_object_meta(raw: Any, where: str = "object") -> dict[str, Any]:
    """Checked ``{"name"?: str, "colour"?: [r, g, b]}`` (keys present are checked)."""
    if not isinstance(raw, dict):
        raise RequestError(f"expected an object with name and/or colour, found "
                           f"{type(raw).__name__}", where)  # fmt: skip
    out: dict[str, Any] = {}
    unknown = sorted(set(raw) - {"name", "colour"})
    if unknown:
        raise RequestError(f"unknown keys {unknown}: expected name, colour", where)
    if "name" in raw:
        name = raw["name"]
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
            raise RequestError(f"expected a non-empty name of at most {MAX_NAME} characters, "
                               f"found {name!r}", f"{where}.name")  # fmt: skip
        out["name"] = name.strip()
    if "colour" in raw:
        c = raw["colour"]
        if not (isinstance(c, list) and len(c) == 3
                and all(_is_int(v) and 0 <= v <= 255 for v in c)):  # fmt: skip
            raise RequestError(f"expected [r, g, b] integers in 0..255, found {c!r}",
                               f"{where}.colour")  # fmt: skip
        out["colour"] = [int(v) for v in c]
    return out


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def validate_strokes(
    raw: Any, n_frames: int, n_objects: int, where: str = "strokes"
) -> list[dict[str, Any]]:
    """Checked copy of a list of strokes ``[{"frame", "object_id", "path"}, ...]``.

    Rules: at least one stroke with at least one point; ``frame`` an int in
    ``0..n_frames-1``; ``object_id`` 0 (background) or one of the session's objects
    ``1..n_objects``; ``path`` a list of ``[x, y]`` pairs inside the frame (0..1);
    optional ``kind`` one of ``KINDS`` (a ``mask`` stroke needs an object, not 0) and
    ``radius`` an int in ``0..MAX_RADIUS`` (kept only when not the default).
    Raises :class:`RequestError` (422) naming the first offending field and what was
    expected vs found.
    """
    if not isinstance(raw, list):
        raise RequestError(f"expected a list of strokes, found {type(raw).__name__}", where)
    if not raw:
        raise RequestError("no strokes: draw at least one stroke before submitting", where)
    out: list[dict[str, Any]] = []
    n_points = 0
    for i, s in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(s, dict):
            raise RequestError(
                f"expected an object with frame, object_id, path; found {type(s).__name__}", at
            )
        for key in ("frame", "object_id", "path"):
            if key not in s:
                raise RequestError(f"missing key {key!r} (expected frame, object_id, path)", at)
        t, k, path = s["frame"], s["object_id"], s["path"]
        if not _is_int(t) or not 0 <= t < n_frames:
            raise RequestError(
                f"frame index out of range: expected an integer in 0..{n_frames - 1}, "
                f"found {t!r}", f"{at}.frame",
            )  # fmt: skip
        if not _is_int(k) or not 0 <= k <= n_objects:
            ids = "object 1" if n_objects == 1 else f"objects 1..{n_objects}"
            raise RequestError(
                f"unknown object {k!r}: expected 0 (background) or the session's {ids} "
                "(add an object first)", f"{at}.object_id",
            )  # fmt: skip
        if not isinstance(path, list) or not path:
            raise RequestError("expected a non-empty list of [x, y] points", f"{at}.path")
        pts: list[list[float]] = []
        for j, p in enumerate(path):
            pat = f"{at}.path[{j}]"
            if not (isinstance(p, list | tuple) and len(p) == 2 and all(map(_is_num, p))):
                raise RequestError(f"expected a point [x, y] of two numbers, found {p!r}", pat)
            x, y = float(p[0]), float(p[1])
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise RequestError(
                    f"point (x={x:g}, y={y:g}) is outside the frame: coordinates are "
                    "normalised to 0..1 of the frame's width and height", pat,
                )  # fmt: skip
            pts.append([x, y])
        n_points += len(pts)
        if n_points > MAX_POINTS:
            raise RequestError(f"too many points: at most {MAX_POINTS} per interaction", where)
        item: dict[str, Any] = {"frame": int(t), "object_id": int(k), "path": pts}
        kind = s.get("kind", "scribble")
        if kind not in KINDS:
            raise RequestError(f"expected one of {list(KINDS)}, found {kind!r}", f"{at}.kind")
        if kind == "mask" and k == 0:
            raise RequestError("the mask brush paints an object: expected an object id "
                               "1.., found 0 (use the eraser for background)",
                               f"{at}.object_id")  # fmt: skip
        r = s.get("radius", 0)
        if not _is_int(r) or not 0 <= r <= MAX_RADIUS:
            raise RequestError(f"expected an integer in 0..{MAX_RADIUS}, found {r!r}",
                               f"{at}.radius")  # fmt: skip
        if kind != "scribble":
            item["kind"] = kind
        if r:
            item["radius"] = int(r)
        out.append(item)
    return out


def to_davis_scribble(
    strokes: list[dict[str, Any]], n_frames: int, work_size: tuple[int, int] | None = None
) -> dict[str, Any]:
    """DAVIS scribble dict (``{"scribbles": [[stroke, ...] per frame]}``) of ``strokes``;
    strokes with a radius or a mask/erase kind become their covered pixels' row runs
    (:func:`gnnannot.annotate.mask_edits.davis_strokes`), which needs ``work_size (h, w)``."""
    frames: list[list[dict[str, Any]]] = [[] for _ in range(n_frames)]
    for s in strokes:
        plain = s.get("kind", "scribble") == "scribble" and not s.get("radius", 0)
        if plain:
            frames[s["frame"]].append({"path": s["path"], "object_id": s["object_id"],
                                       "start_time": 0, "end_time": 0})  # fmt: skip
            continue
        if work_size is None:
            raise ValueError("to_davis_scribble: a wide or mask stroke needs work_size")
        frames[s["frame"]].extend(davis_strokes(s, work_size))
    return {"scribbles": frames, "sequence": "video"}


def parse_state(data: Any, n_frames: int, source: str) -> SessionState:
    """:class:`SessionState` from the file's JSON; DataError naming ``source`` if invalid."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DataError(f"{source}: not a gnnannot web session (missing 'format': {FORMAT!r})")
    if data.get("version") != VERSION:
        raise DataError(f"{source}: version {data.get('version')!r}, expected {VERSION}")
    if data.get("n_frames") != n_frames:
        raise DataError(f"{source}: n_frames {data.get('n_frames')!r}, the video has {n_frames}")
    k = data.get("n_objects")
    if not _is_int(k) or k < 1:
        raise DataError(f"{source}: 'n_objects' must be an int >= 1, found {k!r}")
    items = data.get("interactions")
    if not isinstance(items, list):
        raise DataError(f"{source}: 'interactions' must be a list")
    inter = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise DataError(f"{source}: interactions[{i}] must be an object")
        try:
            strokes = validate_strokes(item.get("strokes"), n_frames, k,
                                       f"interactions[{i}].strokes")  # fmt: skip
        except RequestError as exc:
            raise DataError(f"{source}: {exc}") from exc
        sec = item.get("seconds", 0.0)
        inter.append(Interaction(strokes, float(sec) if _is_num(sec) else 0.0,
                                 str(item.get("created", ""))))  # fmt: skip
    objs = data.get("objects", [])
    if not isinstance(objs, list):
        raise DataError(f"{source}: 'objects' must be a list")
    metas = []
    for i, o in enumerate(objs[:k]):
        try:
            metas.append({**default_object(i + 1), **validate_object_meta(o, f"objects[{i}]")})
        except RequestError as exc:
            raise DataError(f"{source}: {exc}") from exc
    return SessionState(k, inter, metas)


class SessionStore:
    """Load/save a :class:`SessionState` at ``path`` for a video of ``n_frames`` frames."""

    def __init__(self, path: str | os.PathLike[str], n_frames: int) -> None:
        self.path = Path(path)
        self.n_frames = n_frames

    def load(self) -> tuple[SessionState, str | None]:
        """The saved state (a new one if there is none) and a warning, or None. An
        unreadable or invalid file is kept aside as ``<name>.bad-<unix time>`` (never
        deleted) and a new session starts."""
        if not self.path.is_file():
            return SessionState(), None
        try:
            state = parse_state(json.loads(self.path.read_text()), self.n_frames, str(self.path))
            return state, None
        except (OSError, ValueError, DataError) as exc:
            bad = self.path.with_name(f"{self.path.name}.bad-{int(time.time())}")
            os.replace(self.path, bad)
            return SessionState(), f"could not resume the saved session ({exc}); kept it as {bad}"

    def save(self, state: SessionState) -> None:
        """Write ``state`` atomically (a crash never leaves a half-written file)."""
        write_json(self.path, state.to_dict(self.n_frames))


def now_iso() -> str:
    """Current UTC time, ISO 8601 with seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")
