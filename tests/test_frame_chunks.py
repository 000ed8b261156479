"""One video's frames in chunks over an executor's workers (gnnannot.pipeline.chunks):
every stage writes the same bytes as one job per video, whatever the chunking (1-frame
chunks, odd splits, a chunk longer than the video) and the executor (serial, process)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gnnannot.data import davis
from gnnannot.data import synthetic as syn
from gnnannot.dirhash import dir_md5
from gnnannot.errors import ConfigError
from gnnannot.pipeline import chunks
from gnnannot.pipeline.chunks import frame_chunks
from gnnannot.pipeline.executor import ProcessExecutor, SerialExecutor
from gnnannot.pipeline.features import build_feature_store
from gnnannot.pipeline.flow import build_flow_store
from gnnannot.pipeline.graphs import build_graph_store
from gnnannot.pipeline.superpixels import build_superpixel_store
from gnnannot.preprocess.superpixels import SuperpixelParams

N_FRAMES = 7
SP = SuperpixelParams(n_segments=60)


# --------------------------------------------------------------------------- frame_chunks
def _check_cover(out: list[tuple[int, int]], n: int, max_chunk: int) -> None:
    assert [a for a, _ in out] == [0] + [b for _, b in out[:-1]]  # consecutive, in order
    assert out[-1][1] == n
    sizes = [b - a for a, b in out]
    assert min(sizes) >= 1 and max(sizes) <= max_chunk
    assert max(sizes) - min(sizes) <= 1  # near-equal


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 11, 24, 25, 69, 70, 1000])
@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize("max_chunk", [1, 2, 5, 12, 2000])
def test_frame_chunks_cover_in_order(n, workers, max_chunk):
    out = frame_chunks(n, workers, max_chunk)
    _check_cover(out, n, max_chunk)
    if len(out) < n:  # (else: one frame per chunk)
        assert len(out) % workers == 0  # every wave fills the workers


def test_frame_chunks_examples():
    assert frame_chunks(1, 2, 12) == [(0, 1)]
    assert frame_chunks(70, 2, 12) == [(0, 12), (12, 24), (24, 36), (36, 48), (48, 59),
                                       (59, 70)]  # fmt: skip
    assert frame_chunks(5, 2, 100) == [(0, 3), (3, 5)]  # chunk limit above the length
    assert frame_chunks(0, 2) == []
    with pytest.raises(ConfigError, match="workers >= 1"):
        frame_chunks(5, 0)


# --------------------------------------------------------------------------- stage bytes
@pytest.fixture(scope="module")
def video(tmp_path_factory) -> dict[str, str]:
    """A 7-frame video and its stores built one job per video (the reference)."""
    d = tmp_path_factory.mktemp("chunks")
    root = d / "davis"
    syn.generate_dataset(root, seed=1, n_train=0, n_val=1, n_frames=N_FRAMES, height=72,
                         width=96, max_objects=2, quiet=True)  # fmt: skip
    seq = davis.read_split(root, "val")[0]
    s = {k: str(d / f"{k}.zarr") for k in ("flow", "superpixels", "features", "graphs")}
    build_flow_store(str(root), s["flow"], sequences=[seq], quiet=True, chunks=False)
    build_superpixel_store(str(root), s["superpixels"], s["flow"], SP, sequences=[seq],
                           quiet=True, chunks=False)  # fmt: skip
    build_feature_store(str(root), s["features"], s["superpixels"], s["flow"], sequences=[seq],
                        quiet=True, chunks=False)  # fmt: skip
    build_graph_store(s["graphs"], s["superpixels"], s["features"], s["flow"], [seq],
                      quiet=True, chunks=False)  # fmt: skip
    return {"dir": str(d), "root": str(root), "seq": seq, **s}


def _build(stage: str, v: dict[str, str], out: str, executor) -> dict[str, list[str]]:
    """Stage ``stage`` into ``out`` from the reference upstream stores, chunked."""
    seqs = [v["seq"]]
    if stage == "flow":
        return build_flow_store(v["root"], out, sequences=seqs, executor=executor, quiet=True)
    if stage == "superpixels":
        return build_superpixel_store(v["root"], out, v["flow"], SP, sequences=seqs,
                                      executor=executor, quiet=True)  # fmt: skip
    if stage == "features":
        return build_feature_store(v["root"], out, v["superpixels"], v["flow"], sequences=seqs,
                                   executor=executor, quiet=True)  # fmt: skip
    return build_graph_store(out, v["superpixels"], v["features"], v["flow"], seqs,
                             executor=executor, quiet=True)  # fmt: skip


class _Counting(SerialExecutor):
    """The serial executor claiming ``workers`` (so that stages chunk) and counting the
    chunk jobs it ran."""

    def __init__(self, workers: int) -> None:
        super().__init__()
        self.workers = workers
        self.jobs: list[str] = []

    def run(self, fn, jobs, *, description, quiet=False, sizes=None, labels=None):
        self.jobs += list(labels or [])
        return super().run(fn, jobs, description=description, quiet=quiet, labels=labels)


STAGES = ("flow", "superpixels", "features", "graphs")


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("max_chunk", [1, 2, 4, 100])
def test_chunked_stage_writes_the_same_bytes_serial(video, tmp_path, monkeypatch, stage,
                                                     max_chunk):  # fmt: skip
    monkeypatch.setattr(chunks, "MAX_CHUNK_FRAMES", max_chunk)
    ex = _Counting(workers=2)
    out = str(Path(video["dir"]) / f"{stage}-serial-{max_chunk}.zarr")  # beside the inputs
    res = _build(stage, video, out, ex)
    assert res["computed"] == [video["seq"]]
    n = N_FRAMES - 1 if stage == "flow" else N_FRAMES
    expected = frame_chunks(n, 2, max_chunk)
    assert ex.jobs == [f"{video['seq']}:{a}-{b}" for a, b in expected]
    assert dir_md5(out).md5 == dir_md5(video[stage]).md5


@pytest.mark.parametrize("stage", STAGES)
def test_chunked_stage_writes_the_same_bytes_process(video, monkeypatch, stage):
    monkeypatch.setattr(chunks, "MAX_CHUNK_FRAMES", 2)  # odd splits: 6 or 7 frames in 2s/3s
    out = str(Path(video["dir"]) / f"{stage}-process.zarr")
    _build(stage, video, out, ProcessExecutor(workers=2))
    assert dir_md5(out).md5 == dir_md5(video[stage]).md5


def test_many_videos_still_one_job_each(video, tmp_path):
    """As many videos as workers: one job per video (no chunks)."""
    ex = _Counting(workers=1)
    out = str(tmp_path / "sp.zarr")
    _build("superpixels", video, out, ex)
    assert ex.jobs == [video["seq"]]
    assert dir_md5(out).md5 == dir_md5(video["superpixels"]).md5


def test_chunk_failure_names_the_chunk(video, tmp_path, monkeypatch):
    """A chunk job that raises fails the stage naming the video's frame range, and a failed
    first run leaves no store."""
    from gnnannot.pipeline import superpixels as stage
    from gnnannot.pipeline.executor import JobFailed

    monkeypatch.setattr(chunks, "MAX_CHUNK_FRAMES", 2)
    real, calls = stage.segment_frame, []

    def failing(image, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # frames 0 and 1 (chunk 0-2) pass, frame 2 (chunk 2-4) fails
            raise ValueError("broken frame")
        return real(image, *args, **kwargs)

    monkeypatch.setattr(stage, "segment_frame", failing)
    out = tmp_path / "sp.zarr"
    with pytest.raises(JobFailed, match="broken frame") as err:
        _build("superpixels", video, str(out), _Counting(workers=2))
    assert err.value.label == f"{video['seq']}:2-4"
    assert not out.exists()


def test_prepare_workers_not_in_key_and_same_bytes(tmp_path):
    """video_cache.prepare: 1 and 2 workers give the same cache key and store bytes."""
    from gnnannot.data.video_io import open_video
    from gnnannot.pipeline.video_cache import PrepParams, cache_key, prepare

    frames = tmp_path / "frames"
    frames.mkdir()
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    for t in range(5):
        davis.write_frame(frames / f"{t:05d}.jpg", np.roll(base, 2 * t, axis=1), 95)
    video = open_video(frames)
    sp = SuperpixelParams(n_segments=30)
    p1, p2 = PrepParams(superpixels=sp, workers=1), PrepParams(superpixels=sp, workers=2)
    assert cache_key(video, p1) == cache_key(video, p2)
    a = prepare(video, p1, tmp_path / "c1")
    b = prepare(video, p2, tmp_path / "c2")
    for name in ("flow.zarr", "superpixels.zarr", "features.zarr", "graphs.zarr"):
        assert dir_md5(a.dir / name).md5 == dir_md5(b.dir / name).md5, name
    with pytest.raises(ConfigError, match="workers"):
        PrepParams(workers=0)


def test_quantized_flow_packing_is_exact():
    """What a flow chunk sends (int16 grid steps, signed zeros) rebuilds the writer's
    quantized values bit for bit; out-of-range or non-finite flows travel raw."""
    from gnnannot.pipeline.flow import pack_quantized, unpack_quantized
    from gnnannot.store.flow import QUANT_STEP

    rng = np.random.default_rng(0)
    f = (rng.normal(0, 20, (30, 40, 2)) * rng.integers(0, 2, (30, 40, 2))).astype(np.float32)
    f[0, :5, 0] = [-1e-4, 1e-4, -0.0, 0.0, -QUANT_STEP / 3]  # zeros of both signs
    kind, _ = packed = pack_quantized(f)
    assert kind == "q16"

    def writer_keeps(x):  # FlowWriter.write's quantization
        v = np.round(x.astype(np.float32) * np.float32(1 / QUANT_STEP))
        v *= np.float32(QUANT_STEP)
        return v

    want = writer_keeps(f)
    got = unpack_quantized(packed)
    assert got.dtype == np.float32 and got.tobytes() == want.tobytes()
    assert writer_keeps(got).tobytes() == want.tobytes()  # the writer keeps it as it is
    assert np.signbit(got[0, :5, 0]).tolist() == [True, False, True, False, True]
    big = f.copy()
    big[1, 1, 1] = 300.0  # beyond int16 steps of 1/128 px
    assert pack_quantized(big)[0] == "raw"
    assert unpack_quantized(pack_quantized(big)) is big


@pytest.mark.parametrize("stage", ["flow", "graphs"])
def test_chunked_stage_writes_the_same_bytes_dask(video, monkeypatch, stage):
    """The chunks on the Dask executor (a LocalCluster of 2 workers): the same bytes, all
    chunks of the 7-frame video in one run (4 per worker and wave)."""
    pytest.importorskip("distributed")
    from gnnannot.pipeline.executor import make_executor

    monkeypatch.setattr(chunks, "MAX_CHUNK_FRAMES", 2)
    out = str(Path(video["dir"]) / f"{stage}-dask.zarr")
    _build(stage, video, out, make_executor("dask", 2))
    assert dir_md5(out).md5 == dir_md5(video[stage]).md5
