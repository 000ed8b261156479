"""Soak: 20 kill -9 moments across the preprocessing stages (flow, superpixels, features,
graphs; two pool workers each), each followed by a rerun that may be killed again (runs
alternate between two settings, so that every run has work to do: new groups replace
complete ones); the final uninterrupted run with the first settings must leave every
store byte-identical to an uninterrupted build, with no temporaries left and every
orphaned pool worker gone.

Each build is a process forked by a small server process (:data:`SERVER`, started once,
with the modules imported and no threads), so no interpreter start-up falls inside the
drawn kill moments, and nothing is forked from the multi-threaded test process. Moments
are drawn from a fixed seed, uniformly over the median length of the uninterrupted
builds so far (a full build first), until 20 kills have landed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
from tiny_videos import write_tiny_dataset

from gnnannot.store.guard import pid_alive

REPO = Path(__file__).resolve().parents[1]
H, W, T = 48, 64, 3
KILLS = 20
STORES = ("flow", "superpixels", "features", "graphs")

SERVER = textwrap.dedent("""
    import os, sys, traceback
    from gnnannot.pipeline.features import build_feature_store
    from gnnannot.pipeline.flow import build_flow_store
    from gnnannot.pipeline.graphs import build_graph_store
    from gnnannot.pipeline.executor import ProcessExecutor
    from gnnannot.pipeline.runner import dataset_sequences
    from gnnannot.preprocess.superpixels import SuperpixelParams
    from gnnannot.pipeline.superpixels import build_superpixel_store

    VARIANTS = (("ultrafast", 40), ("fast", 44))  # (flow preset, superpixels) per run

    def build_all(root, out, variant):
        preset, n_segments = VARIANTS[variant]
        fl, sp, ft, gr = (os.path.join(out, f"{n}.zarr")
                          for n in ("flow", "superpixels", "features", "graphs"))
        build_flow_store(root, fl, preset=preset, quiet=True)
        build_superpixel_store(root, sp, fl, SuperpixelParams(n_segments=n_segments),
                               executor=ProcessExecutor(2), quiet=True)
        build_feature_store(root, ft, sp, fl, executor=ProcessExecutor(2), quiet=True)
        build_graph_store(gr, sp, ft, fl, dataset_sequences(root),
                          executor=ProcessExecutor(2), quiet=True)

    for line in sys.stdin:  # "<root> <out> <variant>": fork one build, report pid and status
        root, out, variant = line.split()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                build_all(root, out, int(variant))
            except BaseException:
                traceback.print_exc()
                code = 1
            os._exit(code)
        print(pid, flush=True)
        print(os.waitpid(pid, 0)[1], flush=True)
""")


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                out.append(int(d.name))
    return out


class _Server:
    """The fork server (see module doc) as a subprocess with line-based stdin/stdout."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER], env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip

    def start(self, root: Path, out: Path, variant: int) -> int:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{root} {out} {variant}\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def status(self) -> int:
        assert self.proc.stdout is not None
        return int(self.proc.stdout.readline())

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(60)


def test_random_kills_end_with_identical_stores(tmp_path):
    root = tmp_path / "davis"
    write_tiny_dataset(root, ["a", "b"], H, W, T)
    ref, soak = tmp_path / "ref", tmp_path / "soak"
    server = _Server()
    try:
        t0 = time.perf_counter()
        server.start(root, ref, 0)
        assert server.status() == 0
        full = time.perf_counter() - t0
        rng = np.random.default_rng(20261202)
        orphans: list[int] = []
        killed = attempts = 0
        durations = [full]  # of uninterrupted builds: kill moments follow the machine's pace
        while killed < KILLS and attempts < 3 * KILLS:
            delay = rng.uniform(0.0, float(np.median(durations)))
            t_start = time.perf_counter()
            pid = server.start(root, soak, attempts % 2)
            attempts += 1
            deadline = t_start + delay
            workers: set[int] = set()
            while time.perf_counter() < deadline and pid_alive(pid):
                workers.update(_children(pid))
                time.sleep(min(0.02, max(0.0, deadline - time.perf_counter())))
            workers.update(_children(pid))
            if pid_alive(pid):
                killed += 1
                os.kill(pid, signal.SIGKILL)
            status = server.status()
            assert status in (0, signal.SIGKILL)  # finished or killed, never failed
            if status == 0:
                durations.append(time.perf_counter() - t_start)
            orphans.extend(workers)
        end = time.monotonic() + 30  # orphaned workers notice their parent is gone
        while any(pid_alive(w) for w in orphans) and time.monotonic() < end:
            time.sleep(0.1)
        alive = [w for w in orphans if pid_alive(w)]
        for w in alive:
            os.kill(w, signal.SIGKILL)
        assert alive == []
        assert killed == KILLS  # every kill landed while a build was running
        server.start(root, soak, 0)
        assert server.status() == 0
    finally:
        server.close()
    for name in STORES:
        a, b = _tree(ref / f"{name}.zarr"), _tree(soak / f"{name}.zarr")
        assert sorted(a) == sorted(b), name  # same files: no temporaries, no extra groups
        assert [k for k in a if a[k] != b[k]] == [], name
