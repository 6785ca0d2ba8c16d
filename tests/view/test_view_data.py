"""The viewer's data, without a browser: what it reads from run directories, the events it marks by the
scorecard's rules, its sizes, where it writes, and the command line."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

from cli_helpers import one_error_line, run_cli, subprocess_env
from gan_mixup.errors import GanMixupWarning
from gan_mixup.rundir import locked, snapshot_path
from gan_mixup.view import ViewerError, collect_runs, write_viewer
from gan_mixup.view.collect import markdown_tables
from gan_mixup.view.encode import encode_run, events, fixed_points, frame_bytes, surface_bands
from gan_mixup.view.write import build
from view_runs import ITERATIONS, collection, erm_vs_mixup, images_run, points_run


def read_index(viewer: Path) -> dict:
    text = (viewer / "data" / "index.js").read_text()
    return json.loads(text[text.index("=") + 1:].strip().rstrip(";"))


def test_fixed_points_are_exact_far_below_a_pixel():
    points = np.array([[0.1234, -1.4999], [3.0, -6.0]])
    q = fixed_points(points, 1.5).astype(np.float64) / 8000 * 1.5
    np.testing.assert_allclose(q, points, atol=1.5 / 8000)


def test_surface_bands_follow_the_gif_contour_levels_and_put_the_top_first():
    d = np.array([[0.05, 0.15], [0.95, 1.0]])  # row 0 is the bottom of the frame (y = axis[0])
    assert surface_bands(d, upsample=1).tolist() == [[9, 9], [0, 1]]


def test_events_use_the_scorecard_rules():
    rows = [{"iteration": it, "modes_covered": m, "outside_frame": o}
            for it, m, o in ((10, 8, 0.0), (100, 8, 0.0), (1000, 2, 0.7), (2000, 1, 0.9))]
    marks, status = events(rows, [{"kind": "event", "iteration": 50, "event": "skipped"}], 8)
    assert status == "diverged"
    assert [(e["iteration"], e["event"]) for e in marks] == [(50, "skipped"), (1000, "diverged"), (1000, "collapsed")]
    stable, status = events(rows[:2], [], 8)
    assert status == "" and [(e["iteration"], e["event"]) for e in stable] == [(10, "covered")]
    stopped, status = events(rows[:2], [{"kind": "event", "iteration": 120, "event": "nonfinite"}], 8)
    assert status == "diverged" and stopped[-1]["iteration"] == 120


def test_a_compare_folder_gives_its_runs_their_frames_curves_and_status(tmp_path):
    out = erm_vs_mixup(tmp_path / "cmp")
    index, files = build(collect_runs([out]), max_frames=None, title="t")
    assert index["dir_type"] == "compare" and index["axis"] == list(ITERATIONS)
    erm, mixup = index["runs"]
    assert (erm["label"], erm["status"], mixup["status"]) == ("erm", "diverged", "")
    assert any(e["event"] == "diverged" and e["iteration"] == 100 for e in erm["events"])
    assert [e["event"] for e in mixup["events"]] == ["covered"]
    data = files[erm["file"]]
    assert set(data["frames"]) == {str(it) for it in ITERATIONS}
    assert {"modes_covered", "sliced_wasserstein", "d_grad_real", "d_loss", "g_loss"} <= set(data["curves"])
    frame = data["frames"]["1000"]
    assert frame["surface"].startswith("data:image/png;base64,") and len(frame["near3"]) > 0


def test_a_damaged_or_missing_snapshot_becomes_a_message_for_its_frame(tmp_path):
    run = points_run(tmp_path / "run")
    snapshot_path(run, 10).write_bytes(b"not a zip file")
    snapshot_path(run, 30).unlink()  # metrics.jsonl still names it
    summary, data = encode_run(run)
    assert summary["iterations"] == list(ITERATIONS)
    assert "damaged" in data["frames"]["10"]["error"] and "missing" in data["frames"]["30"]["error"]
    assert "fake" in data["frames"]["100"]


def test_a_run_without_snapshots_keeps_its_place_with_a_message(tmp_path):
    out = erm_vs_mixup(tmp_path / "cmp")
    (out / "late").mkdir()
    (out / "late" / "config.json").write_text("{}")
    collection(out, "compare", {"erm": out / "erm", "mixup": out / "mixup", "late": out / "late"})
    index, _ = build(collect_runs([out]), max_frames=None, title="t")
    assert "missing" in index["runs"][2]["error"]


def test_image_runs_keep_the_grid_layout_for_enlarging_one_sample(tmp_path):
    index, files = build(collect_runs([images_run(tmp_path / "img")]), max_frames=None, title="t")
    data = files[index["runs"][0]["file"]]
    assert data["reference"] == {"count": 16, "cols": 4, "height": 8, "width": 8, "padding": 2}
    assert data["frames"]["1"]["grid"].startswith("data:image/png;base64,")


def test_a_sweep_has_its_members_fields_and_tables_whose_rows_open_their_runs(tmp_path):
    out = tmp_path / "sweep"
    out.mkdir()
    runs, members = {}, {}
    for objective in ("erm", "mixup"):
        for seed in (0, 1):
            name = f"ring8-{objective}-s{seed}"
            runs[name] = points_run(out / name, objective=objective, seed=seed, iterations=(1, 10, 100))
            members[name] = {"dataset": "ring8", "setting": objective, "objective": objective, "seed": seed}
    collection(out, "sweep", runs, members)
    (out / "scorecard.md").write_text("# Stability scorecard\n\ntext\n\n| dataset | setting | seeds |\n|---|---|---|\n"
                                      "| ring8 | erm | 2 |\n| ring8 | mixup | 2 |\n")
    index, _ = build(collect_runs([out]), max_frames=None, title="t")
    assert index["fields"] == ["objective", "setting", "seed"]
    (table,) = index["tables"]
    assert table["title"] == "Stability scorecard" and table["runs"] == [[0, 1], [2, 3]]
    assert index["shown"] == [0, 2]  # one seed of each scorecard row to start with


def test_markdown_tables_keep_each_tables_heading():
    text = "# A\n\n| x |\n|---|\n| 1 |\n\n## At iteration 1,000\n\n| y | z |\n|---|---|\n| 2 | 3 |\n"
    assert markdown_tables(text) == [("A", ["x"], [["1"]]), ("At iteration 1,000", ["y", "z"], [["2", "3"]])]


def test_many_runs_are_thinned_to_the_frame_budget_keeping_the_paper_iterations(tmp_path, monkeypatch):
    out = erm_vs_mixup(tmp_path / "cmp")
    monkeypatch.setattr("gan_mixup.view.write.BYTE_BUDGET", 2 * 4 * frame_bytes(out / "erm"))  # 2 runs: 4 frames each
    index, files = build(collect_runs([out]), max_frames=None, title="t")
    assert len(index["axis"]) <= 4 and {10, 100, 1000} <= set(index["axis"])


def test_write_viewer_writes_a_folder_that_names_only_its_own_files(tmp_path):
    out = erm_vs_mixup(tmp_path / "cmp")
    page = write_viewer([out])
    assert page == out / "viewer" / "index.html"
    html = page.read_text()
    # offline: every script and stylesheet is a relative file of the folder, nothing from a network
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    for name in re.findall(r"(?:src|href)=\"([^\"]+)\"", html):
        assert (page.parent / name).is_file(), name
    assert sorted(p.name for p in (page.parent / "data").iterdir()) == ["index.js", "run_000.js", "run_001.js"]
    assert read_index(page.parent)["axis"] == list(ITERATIONS)
    write_viewer([out])  # again: replaces its own viewer
    assert not [p for p in out.iterdir() if p.name.startswith(".viewer")]


def test_a_second_writer_of_one_viewer_waits_for_the_first_then_replaces_it(tmp_path):
    out = erm_vs_mixup(tmp_path / "cmp")
    outcome: list[object] = []

    def write() -> None:
        try:
            outcome.append(write_viewer([out]))
        except BaseException as err:  # noqa: BLE001 - the test reports it
            outcome.append(err)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with locked(out, lock_file=".viewer.lock"):  # as another process writing this viewer holds it
            writer = threading.Thread(target=write)
            writer.start()
            writer.join(1.0)
            assert writer.is_alive() and not outcome  # waiting, not refused
            assert not (out / "viewer").exists()
        writer.join(60)
    said = [str(w.message) for w in caught if issubclass(w.category, GanMixupWarning)]
    assert len(said) == 1, said  # the user is told who it waits for
    assert said[0].startswith(f"{out / 'viewer'} is being written by process {os.getpid()} (")
    assert said[0].endswith("; waiting for it to finish, then replacing it")
    assert outcome == [out / "viewer" / "index.html"]
    assert read_index(out / "viewer")["axis"] == list(ITERATIONS)
    assert not [p for p in out.iterdir() if p.name.startswith(".viewer")]  # no lock, temporary or old folder left


def test_a_viewer_write_removes_what_writers_killed_mid_write_left_and_nothing_else(tmp_path):
    out = erm_vs_mixup(tmp_path / "cmp")
    write_viewer([out])
    shutil.copytree(out / "viewer", out / ".viewer.999999.old")  # replaced, not yet removed when killed
    (out / ".viewer.999998.tmp" / "data").mkdir(parents=True)  # killed while writing its data files
    (out / ".viewer.999998.tmp" / "index.html").write_text("<html>")
    (out / ".viewer.999997.tmp").mkdir()
    (out / ".viewer.999997.tmp" / "notes.txt").write_text("not ours")  # a folder of someone else's: kept
    (out / ".viewer.notes").write_text("kept")
    write_viewer([out])
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".viewer")) == [".viewer.999997.tmp", ".viewer.notes"]


def test_write_viewer_refuses_a_folder_of_someone_elses(tmp_path):
    out = erm_vs_mixup(tmp_path / "cmp")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(ViewerError, match="not a gan-mixup viewer"):
        write_viewer([out], mine)
    assert (mine / "notes.txt").read_text() == "keep me"
    with pytest.raises(ViewerError, match="neither a run"):
        write_viewer([tmp_path])
    with pytest.raises(ViewerError, match="--out"):
        write_viewer([out / "erm", out / "mixup"])


def test_cli_view_writes_several_runs_into_one_viewer(tmp_path):
    out = erm_vs_mixup(tmp_path / "cmp")
    code, stdout, _ = run_cli(["view", out / "erm", out / "mixup", "--out", tmp_path / "both"])
    assert code == 0 and stdout.strip() == f"viewer: {tmp_path / 'both' / 'index.html'}"
    assert [r["label"] for r in read_index(tmp_path / "both")["runs"]] == ["erm", "mixup"]


def test_cli_view_of_a_compare_writes_into_its_viewer_folder(tmp_path):
    out = erm_vs_mixup(tmp_path / "cmp")
    code, stdout, _ = run_cli(["view", out])
    assert code == 0 and stdout.strip() == f"viewer: {out / 'viewer' / 'index.html'}"
    assert [r["label"] for r in read_index(out / "viewer")["runs"]] == ["erm", "mixup"]


def test_cli_view_max_frames_thins_each_run(tmp_path):
    out = erm_vs_mixup(tmp_path / "cmp")
    code, _, stderr = run_cli(["view", out, "--out", tmp_path / "thin", "--max-frames", "4"])
    assert code == 0, stderr
    assert read_index(tmp_path / "thin")["axis"] == [1, 10, 100, 1000]  # the first, the last, the paper's
    code, _, stderr = run_cli(["view", out, "--max-frames", "1"])
    one_error_line(code, stderr, "max_frames")


def test_cli_view_of_a_folder_that_is_no_run_is_one_error_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "gan_mixup.cli", "view", str(tmp_path)], capture_output=True, text=True,
                          env=subprocess_env(), timeout=120)
    one_error_line(proc.returncode, proc.stderr, "neither a run directory")


def test_the_committed_figure5_viewer_has_this_versions_page():
    # docs/evidence.md embeds it: a template change without re-making it would show a stale page
    committed = Path(__file__).resolve().parents[2] / "samples" / "figure5-viewer"
    template = Path(write_viewer.__code__.co_filename).parent / "template"
    for name in ("index.html", "viewer.js", "viewer.css"):
        assert (committed / name).read_text() == (template / name).read_text(), \
            f"samples/figure5-viewer/{name} differs from the template: re-make it (docs/evidence.md says how)"
    assert [r["label"] for r in read_index(committed)["runs"]] == ["grid25/ERM GAN", "grid25/mixup GAN (α = 0.2)",
                                                                  "ring8/ERM GAN", "ring8/mixup GAN (α = 0.2)"]
