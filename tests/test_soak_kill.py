"""Soak: 20 kill -9 moments across the preprocessing stages (flow, superpixels, features,
graphs; two pool workers each), each followed by a rerun that may be killed again (runs
alternate between two settings, so that every run has work to do: new groups replace
complete ones); the final uninterrupted run with the first settings must leave every
store byte-identical to an uninterrupted build, with no temporaries left and every
orphaned pool worker gone.

The stage process is forked from the test (no interpreter start-up per run), so the kill
moments fall inside the stages' work; moments are drawn from a fixed seed, uniformly over
the measured length of a full build."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from pathlib import Path

import numpy as np

from gnnannot.data import davis
from gnnannot.features import build_feature_store
from gnnannot.flow import build_flow_store
from gnnannot.graph import build_graph_store
from gnnannot.io import graph_store as gs
from gnnannot.io.store_guard import pid_alive
from gnnannot.superpixels import SuperpixelParams, build_superpixel_store

H, W, T = 48, 64, 4
KILLS = 20
STORES = ("flow", "superpixels", "features", "graphs")


def _dataset(root: Path) -> None:
    for i, name in enumerate(("a", "b", "c")):
        rng = np.random.default_rng(i)
        img = np.kron(rng.integers(0, 255, (H // 8, W // 8, 3), dtype=np.uint8),
                      np.ones((8, 8, 1), np.uint8))  # fmt: skip
        frames = np.stack([np.roll(img, 2 * t, axis=1) for t in range(T)])
        masks = np.zeros((T, H, W), np.uint8)
        masks[:, 8:24, 16:40] = 1
        davis.write_sequence(root, name, frames, masks)
    davis.write_split(root, "train", ["a", "b"])
    davis.write_split(root, "val", ["c"])


VARIANTS = (("ultrafast", 40), ("fast", 44))  # (flow preset, superpixels) of run i % 2


def _build_all(root: str, out: str, variant: int = 0) -> None:
    """The four preprocessing stages, as the pipeline runs them."""
    preset, n_segments = VARIANTS[variant]
    fl, sp, ft, gr = (os.path.join(out, f"{n}.zarr") for n in STORES)
    build_flow_store(root, fl, preset=preset, quiet=True)
    build_superpixel_store(root, sp, fl, SuperpixelParams(n_segments=n_segments), workers=2,
                           quiet=True)  # fmt: skip
    build_feature_store(root, ft, sp, fl, workers=2, quiet=True)
    build_graph_store(gr, sp, ft, fl, gs.dataset_sequences(root), workers=2, quiet=True)


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


def test_random_kills_end_with_identical_stores(tmp_path):
    root = tmp_path / "davis"
    _dataset(root)
    ctx = mp.get_context("fork")
    ref, soak = tmp_path / "ref", tmp_path / "soak"
    t0 = time.perf_counter()
    p = ctx.Process(target=_build_all, args=(str(root), str(ref)))
    p.start()
    p.join()
    full = time.perf_counter() - t0
    assert p.exitcode == 0
    rng = np.random.default_rng(20261202)
    orphans: list[int] = []
    killed = 0
    for i, delay in enumerate(rng.uniform(0.0, full, KILLS)):
        p = ctx.Process(target=_build_all, args=(str(root), str(soak), i % 2))
        p.start()
        deadline = time.perf_counter() + delay
        workers: set[int] = set()
        while time.perf_counter() < deadline and p.is_alive():
            workers.update(_children(p.pid))
            time.sleep(min(0.02, max(0.0, deadline - time.perf_counter())))
        workers.update(_children(p.pid))
        if p.is_alive():
            killed += 1
            os.kill(p.pid, signal.SIGKILL)
        p.join()
        orphans.extend(workers)
    end = time.monotonic() + 30  # orphaned workers notice their parent is gone (0.2 s poll)
    while any(pid_alive(w) for w in orphans) and time.monotonic() < end:
        time.sleep(0.1)
    alive = [w for w in orphans if pid_alive(w)]
    for w in alive:
        os.kill(w, signal.SIGKILL)
    assert alive == []
    assert killed >= KILLS // 4  # kills landed while a build was running
    p = ctx.Process(target=_build_all, args=(str(root), str(soak)))
    p.start()
    p.join()
    assert p.exitcode == 0
    for name in STORES:
        a, b = _tree(ref / f"{name}.zarr"), _tree(soak / f"{name}.zarr")
        assert sorted(a) == sorted(b), name  # same files: no temporaries, no extra groups
        assert [k for k in a if a[k] != b[k]] == [], name
