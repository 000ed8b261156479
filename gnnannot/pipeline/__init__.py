"""Stage plumbing: executors that run per-video jobs (and, later, the incremental runner)."""
