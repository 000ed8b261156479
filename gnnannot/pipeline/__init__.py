"""Stage plumbing: the executors (``executor.py``), the one per-video incremental runner
(``runner.py``), the stage drivers (``flow.py``, ``superpixels.py``, ``features.py``,
``graphs.py``) and the own-video preprocessing cache (``video_cache.py``)."""
