"""Interactive sessions: timing, timeouts, report shape, summary numbers, errors."""

import json

import numpy as np
import pandas as pd
import pytest

from gnnannot.data import davis
from gnnannot.errors import ConfigError, DataError
from gnnannot.ivos import (
    REPORT_COLUMNS,
    InteractiveMethod,
    ScribbleOnlyMethod,
    ScribbleRobot,
    VideoData,
    run_benchmark,
    run_session,
    summarize_report,
    write_plot_data,
    write_report,
)


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class SleepyMethod(ScribbleOnlyMethod):
    """Scribble painting that 'takes' ``cost`` seconds on a fake clock."""

    def __init__(self, clock, cost):
        super().__init__()
        self.clock, self.cost, self.calls = clock, cost, 0

    def interact(self, scribble):
        self.calls += 1
        self.clock.now += self.cost
        return super().interact(scribble)


class SlowRobot(ScribbleRobot):
    def __init__(self, clock):
        super().__init__()
        self.clock = clock

    def interact(self, *args, **kwargs):
        self.clock.now += 1000.0  # the robot's time must not count
        return super().interact(*args, **kwargs)


def _video(n_frames=3, h=40, w=60):
    frames = np.zeros((n_frames, h, w, 3), np.uint8)
    gt = np.zeros((n_frames, h, w), np.uint8)
    gt[:, 5:30, 5:25] = 1
    gt[:, 10:35, 35:55] = 2
    scribble = davis.empty_scribble(n_frames, "toy")
    scribble["scribbles"][0] = [
        {"path": [[0.15, 0.3], [0.3, 0.5]], "object_id": 1},
        {"path": [[0.7, 0.5], [0.8, 0.6]], "object_id": 2},
    ]
    return VideoData("toy", frames, 2), gt, scribble


def test_method_protocol():
    assert isinstance(ScribbleOnlyMethod(), InteractiveMethod)


def test_timing_excludes_robot_and_report_layout():
    video, gt, scribble = _video()
    clock = FakeClock()
    method = SleepyMethod(clock, 2.0)
    res = run_session(video, gt, scribble, method, robot=SlowRobot(clock), clock=clock,
                      max_interactions=4, session_id="abc", scribble_idx=3)
    rep = res.report
    assert list(rep.columns) == REPORT_COLUMNS
    assert len(rep) == 4 * video.n_frames * 2
    assert res.n_interactions == 4 and not res.timed_out
    assert set(rep["timing"]) == {2.0}
    assert set(rep["session_id"]) == {"abc"} and set(rep["scribble_idx"]) == {3}
    first = rep[rep.interaction == 1]
    assert first["frame"].tolist()[:4] == [0, 0, 1, 1]
    assert first["object_id"].tolist()[:4] == [1, 2, 1, 2]
    np.testing.assert_allclose(rep["j_and_f"], 0.5 * rep["jaccard"] + 0.5 * rep["contour"])
    # robot frames: the worst not yet used ones, all different here
    assert len(set(res.robot_frames)) == 3
    # J never decreases for scribble painting as scribbles accumulate
    per_it = rep.groupby("interaction")["jaccard"].mean()
    assert per_it.is_monotonic_increasing


def test_timeout_drops_late_interaction_and_flags_slow():
    video, gt, scribble = _video()
    clock = FakeClock()
    method = SleepyMethod(clock, 200.0)  # 2 objects -> limit 480 s, slow > 60 s
    res = run_session(video, gt, scribble, method, robot=SlowRobot(clock), clock=clock)
    assert method.calls == 3 and res.timed_out and res.n_interactions == 2
    assert sorted(res.report["interaction"].unique()) == [1, 2]
    assert res.slow_interactions == [1, 2]


def test_bad_masks_and_scribbles_raise_data_error():
    video, gt, scribble = _video()

    class Bad(ScribbleOnlyMethod):
        def interact(self, scribble):
            return super().interact(scribble)[:, :, :10]

    with pytest.raises(DataError, match=r"masks have shape \(3, 40, 10\), expected \(3, 40, 60\)"):
        run_session(video, gt, scribble, Bad())
    with pytest.raises(DataError, match="frame entries, expected 3"):
        run_session(video, gt, davis.empty_scribble(5, "toy"), ScribbleOnlyMethod())
    with pytest.raises(DataError, match="ground truth has shape"):
        run_session(video, gt[:2], scribble, ScribbleOnlyMethod())


def _report(rows):
    df = pd.DataFrame(rows, columns=["sequence", "scribble_idx", "interaction", "object_id",
                                     "frame", "jaccard", "contour", "timing"])
    df["j_and_f"] = 0.5 * df["jaccard"] + 0.5 * df["contour"]
    df["session_id"] = "s"
    return df[REPORT_COLUMNS]


def test_summary_hand_computed_curve():
    rep = _report([("a", 1, 1, 1, 0, 0.5, 0.4, 30.0), ("a", 1, 2, 1, 0, 0.8, 0.6, 30.0)])
    s = summarize_report(rep, metric="J", max_time=240, max_interactions=2)
    assert s["curve"]["time"] == [0.0, 30.0, 60.0, 240.0]
    assert s["curve"]["J"] == [0.0, 0.5, 0.8, 0.8]
    # trapezoids: 30*0.25 + 30*0.65 + 180*0.8 = 171 -> / 240
    assert s["auc"] == pytest.approx(171 / 240)
    assert s["metric_at_threshold"] == {"threshold": 60.0, "J": pytest.approx(0.8)}
    # a third interaction that never happened repeats the scores at no time cost
    s3 = summarize_report(rep, metric="J", max_time=240, max_interactions=3)
    assert s3["curve"]["time"] == [0.0, 30.0, 60.0, 60.0, 240.0]
    assert s3["auc"] == pytest.approx(171 / 240)
    # J@60 by interpolation between (30, 0.5) and (90, 1.0)
    rep2 = _report([("a", 1, 1, 1, 0, 0.5, 0.4, 30.0), ("a", 1, 2, 1, 0, 1.0, 1.0, 60.0)])
    s2 = summarize_report(rep2, max_time=240, max_interactions=2)
    assert s2["metric_at_threshold"]["J"] == pytest.approx(0.75)


def test_summary_averages_objects_and_samples():
    rep = _report([
        ("a", 1, 1, 1, 0, 0.2, 0.0, 10.0), ("a", 1, 1, 1, 1, 0.4, 0.0, 10.0),
        ("a", 1, 1, 2, 0, 1.0, 0.0, 10.0), ("a", 1, 1, 2, 1, 1.0, 0.0, 10.0),
        ("b", 1, 1, 1, 0, 0.0, 0.0, 40.0),
    ])
    s = summarize_report(rep, max_time=100, max_interactions=1)
    # objects: a1 0.3, a2 1.0, b1 0.0 -> 1.3 / 3; time: mean over samples (10 + 40) / 2
    assert s["curve"]["J"][1] == pytest.approx(1.3 / 3)
    assert s["curve"]["time"] == [0.0, 25.0, 150.0]  # timeout: 1.5 objects x 100 s


def test_run_benchmark_on_synthetic_dataset(tmp_path):
    video, gt, scribble = _video(n_frames=4)
    root = tmp_path / "DAVIS"
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, size=(4, 40, 60, 3), dtype=np.uint8)
    davis.write_sequence(root, "toy", frames, gt)
    davis.write_scribble(davis.scribbles_dir(root, "toy") / "001.json", scribble)
    (davis.scribbles_dir(root, "toy") / "002.json").write_text(json.dumps(scribble))
    report, summary = run_benchmark(root, ["toy"], ScribbleOnlyMethod(), max_interactions=3,
                                    quiet=True)
    assert len(report) == 2 * 3 * 4 * 2
    assert set(report["scribble_idx"]) == {1, 2}
    assert set(summary) == {"auc", "metric_at_threshold", "curve"}
    assert len(summary["curve"]["J"]) == 3 + 2 and summary["curve"]["time"][-1] == 480.0
    write_report(tmp_path / "out" / "report.csv", report)
    back = pd.read_csv(tmp_path / "out" / "report.csv")
    assert list(back.columns) == REPORT_COLUMNS and len(back) == len(report)
    paths = write_plot_data(tmp_path / "out", report, summary)
    curve = pd.read_csv(paths["curve"])
    assert list(curve.columns) == ["time", "J"] and len(curve) == 5
    per_it = pd.read_csv(paths["per_interaction"])
    assert per_it["interaction"].tolist() == [1, 2, 3]
    # a malformed scribble file is reported by name
    (davis.scribbles_dir(root, "toy") / "003.json").write_text("{not json")
    with pytest.raises(DataError, match="003.json: malformed scribble JSON"):
        run_benchmark(root, ["toy"], ScribbleOnlyMethod(), quiet=True)


def test_parallel_benchmark_equals_serial(tmp_path):
    root = tmp_path / "DAVIS"
    rng = np.random.default_rng(1)
    for name, n in (("toy", 4), ("toy2", 3)):
        video, gt, scribble = _video(n_frames=n)
        frames = rng.integers(0, 255, size=(n, 40, 60, 3), dtype=np.uint8)
        davis.write_sequence(root, name, frames, gt)
        for idx in (1, 2, 3):
            davis.write_scribble(davis.scribbles_dir(root, name) / f"{idx:03d}.json", scribble)
    serial, s1 = run_benchmark(root, ["toy", "toy2"], ScribbleOnlyMethod(), max_interactions=3,
                               session_id="m", quiet=True)
    par, s2 = run_benchmark(root, ["toy", "toy2"], ScribbleOnlyMethod, max_interactions=3,
                            session_id="m", workers=2, quiet=True)
    cols = [c for c in REPORT_COLUMNS if c != "timing"]  # method time is measured anew
    pd.testing.assert_frame_equal(serial[cols], par[cols])
    assert serial.attrs["samples"] == par.attrs["samples"] == [
        ("toy", 1, 2), ("toy", 2, 2), ("toy", 3, 2), ("toy2", 1, 2), ("toy2", 2, 2),
        ("toy2", 3, 2)]
    assert s1["curve"]["J"] == s2["curve"]["J"]
    with pytest.raises(ConfigError, match="picklable method factory"):
        run_benchmark(root, ["toy", "toy2"], ScribbleOnlyMethod(), workers=2, quiet=True)
