"""Segment your own video: preprocessing cache, interactive :class:`Annotator`, exports
(palette PNG, overlay video, COCO RLE)."""

from gnnannot.annotate.annotator import (
    Annotator,
    Masks,
    MethodChoice,
    choose_method,
    resolve_method,
)
from gnnannot.annotate.exports import export_masks
from gnnannot.data.video_io import VideoSource, open_video
from gnnannot.pipeline.video_cache import PreparedVideo, PrepParams, cache_root

__all__ = [
    "Annotator",
    "Masks",
    "MethodChoice",
    "PrepParams",
    "PreparedVideo",
    "VideoSource",
    "cache_root",
    "choose_method",
    "export_masks",
    "open_video",
    "resolve_method",
]
