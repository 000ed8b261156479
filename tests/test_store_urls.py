"""Store URLs (issue 18): what an fsspec / object-store URL does with the stores today.

The zarr and fsspec of the environment open ``memory://`` and ``file://`` URLs (the local
stand-ins for ``s3://`` / ``gs://``), and a store written by the pipeline reads back
through such a URL with the same arrays: the format itself is URL-ready. The library's
stores are not: they take filesystem paths (``pathlib.Path``), so a reader given a URL
fails with a DataError naming the path it looked at (``//`` collapsed), and a writer
given a ``file://`` URL writes a relative folder ``file:/...`` under the working
directory instead (no error). README "Scale out" says what a URL-capable store would
need; these tests pin today's behaviour so that a change to it is seen."""

from __future__ import annotations

import uuid
from pathlib import Path

import fsspec
import numpy as np
import pytest
import zarr

from gnnannot.data import synthetic as syn
from gnnannot.errors import DataError
from gnnannot.pipeline.flow import build_flow_store
from gnnannot.store import base as store_base
from gnnannot.store.flow import open_flow


@pytest.fixture(scope="module")
def flow_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny dataset and its flow store, built at a filesystem path (serial)."""
    d = tmp_path_factory.mktemp("urls")
    root = d / "davis"
    syn.generate_dataset(root, seed=7, n_train=1, n_val=1, n_frames=3, height=48, width=64,
                         quiet=True)  # fmt: skip
    build_flow_store(str(root), str(d / "flow.zarr"), quiet=True)
    return root, d / "flow.zarr"


def _arrays(group: zarr.Group) -> dict[str, np.ndarray]:
    return {name: arr[...] for name, arr in sorted(group.arrays())}


def test_a_pipeline_store_reads_back_through_memory_and_file_urls(
    flow_store: tuple[Path, Path],
) -> None:
    _, store = flow_store
    seqs = store_base.list_videos(store)
    assert len(seqs) == 2
    mem = fsspec.filesystem("memory")
    url = f"memory://gnnannot-{uuid.uuid4().hex}/flow.zarr"
    mem.put(str(store), url, recursive=True)  # an "upload" to the in-memory object store
    try:
        for seq in seqs:
            by_path = _arrays(zarr.open_group(str(store / seq), mode="r"))
            assert by_path  # the group holds arrays
            for where in (f"{url}/{seq}", f"file://{store / seq}"):
                by_url = _arrays(zarr.open_group(where, mode="r"))
                assert by_url.keys() == by_path.keys()
                for name, arr in by_path.items():
                    assert by_url[name].dtype == arr.dtype
                    assert by_url[name].tobytes() == arr.tobytes(), (where, name)
            assert zarr.open_group(f"{url}/{seq}", mode="r").attrs["complete"] is True
    finally:
        mem.rm(url.split("/flow.zarr")[0], recursive=True)


def test_the_library_readers_refuse_a_url_naming_the_path_they_looked_at(
    flow_store: tuple[Path, Path],
) -> None:
    _, store = flow_store
    seq = store_base.list_videos(store)[0]
    open_flow(store, seq)  # the path works
    for url, shown in ((f"file://{store}", f"file:{store}"),
                       ("memory://bucket/flow.zarr", "memory:/bucket/flow.zarr")):  # fmt: skip
        with pytest.raises(DataError, match="flow store not found") as err:
            open_flow(url, seq)
        assert str(err.value).startswith(f"{shown}:")  # Path() collapsed the '//'
        assert store_base.list_videos(url) == []  # listing: an empty store, no error


def test_a_writer_given_a_file_url_writes_a_relative_folder_named_file_colon(
    flow_store: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, reference = flow_store
    monkeypatch.chdir(tmp_path)
    wanted = tmp_path / "out" / "flow.zarr"
    build_flow_store(str(root), f"file://{wanted}", quiet=True)
    assert not wanted.exists()  # not where the URL points
    actual = tmp_path / "file:" / str(wanted).lstrip("/")  # cwd / "file:" / the URL's path
    assert (actual / "zarr.json").is_file()
    assert store_base.list_videos(actual) == store_base.list_videos(reference)
