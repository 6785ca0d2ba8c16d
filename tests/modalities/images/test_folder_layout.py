"""A ``folder`` dataset reads every image it is given or refuses: hidden folders and files never count,
and images beside subfolders (which neither reading would use all of) are one error line."""
from __future__ import annotations

import subprocess
import sys

import pytest

from cli_helpers import one_error_line, subprocess_env
from gan_mixup.errors import DataError
from gan_mixup.modalities.images.data import get_image_dataset
from image_files import write_png


def flat(root, n: int = 12) -> None:
    for i in range(n):
        write_png(root / f"{i:02d}.png", (20 * i, 0, 0), (8, 8))


@pytest.mark.parametrize("hidden", [".ipynb_checkpoints/x.png", ".thumbs/a/b.png", "._00.png", ".DS_Store"])
def test_hidden_entries_of_a_flat_folder_never_count(tmp_path, hidden):
    flat(tmp_path)
    if hidden.endswith(".png"):
        write_png(tmp_path / hidden, (0, 255, 0), (8, 8))
    else:  # Finder's metadata file: no image at all, reading it would fail
        (tmp_path / hidden).write_bytes(b"\0Bud1")
    ds = get_image_dataset("folder", data_root=tmp_path, image_size=16)
    assert len(ds) == 12 and ds.labels is None
    assert int(ds.pixels[:, 1].max()) == 0  # none of the green hidden images


def test_hidden_folders_are_no_class_and_hidden_files_no_image_of_a_class(tmp_path):
    for cls in ("cats", "dogs"):
        for i in range(3):
            write_png(tmp_path / cls / f"{i}.png", (0, 0, 200), (8, 8))
    write_png(tmp_path / ".ipynb_checkpoints" / "x.png", (0, 255, 0), (8, 8))
    write_png(tmp_path / "cats" / ".ipynb_checkpoints" / "y.png", (0, 255, 0), (8, 8))
    write_png(tmp_path / "dogs" / "._0.png", (0, 255, 0), (8, 8))
    ds = get_image_dataset("folder", data_root=tmp_path, image_size=16)
    assert len(ds) == 6 and ds.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert int(ds.pixels[:, 1].max()) == 0


def test_a_folder_of_images_beside_subfolders_is_refused_naming_both(tmp_path):
    flat(tmp_path)
    write_png(tmp_path / "thumbs" / "a.png", (0, 255, 0), (8, 8))
    write_png(tmp_path / "thumbs" / "b.png", (0, 255, 0), (8, 8))
    with pytest.raises(DataError) as info:
        get_image_dataset("folder", data_root=tmp_path, image_size=16)
    message = str(info.value)
    assert "\n" not in message and "12 image(s)" in message and "thumbs" in message and "<root>/<class>/<image>" in message


def test_the_cli_refuses_a_mixed_folder_in_one_line_before_writing(tmp_path):
    flat(tmp_path / "data")
    write_png(tmp_path / "data" / "thumbs" / "a.png", (0, 255, 0), (8, 8))
    done = subprocess.run([sys.executable, "-m", "gan_mixup.cli", "images", "--dataset", "folder", "--data-root",
                           str(tmp_path / "data"), "--iterations", "2", "--no-progress", "--no-render",
                           "--out", str(tmp_path / "run")], env=subprocess_env(), capture_output=True, text=True,
                          timeout=300)
    one_error_line(done.returncode, done.stderr, "thumbs", "beside")
    assert not (tmp_path / "run").exists()


def test_a_flat_folders_note_is_one_warning_line_in_the_cli(tmp_path):
    flat(tmp_path / "data", 40)
    done = subprocess.run([sys.executable, "-m", "gan_mixup.cli", "images", "--dataset", "folder", "--data-root",
                           str(tmp_path / "data"), "--image-size", "16", "--hidden", "4", "--latent-dim", "8",
                           "--batch-size", "16", "--iterations", "2", "--snapshot-frames", "2", "--fixed-samples", "16",
                           "--metric-samples", "32", "--metric-frames", "1", "--no-progress", "--no-render",
                           "--out", str(tmp_path / "run")], env=subprocess_env(), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    warned = [line for line in done.stderr.splitlines() if "warn" in line.lower() or "class subfolders" in line]
    assert len(warned) == 1 and warned[0].startswith("gan-mixup: warning: folder: mode coverage"), done.stderr
    assert "UserWarning" not in done.stderr and ".py:" not in done.stderr
