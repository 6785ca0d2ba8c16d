"""--download through torchvision's own download code, against a loopback HTTP server (no internet).

The server on 127.0.0.1 serves small fake MNIST (gzipped IDX) and CIFAR-10 (a tar.gz of pickled batches)
files in their real formats; torchvision's ``MNIST.mirrors``/``resources`` and ``CIFAR10.url``/md5s are
pointed at it (monkeypatched in-process; for subprocesses by a ``sitecustomize`` written beside the test).
"""
from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import json
import pickle
import queue
import signal
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from cli_helpers import subprocess_env
from gan_mixup.errors import DatasetNotFoundError
from gan_mixup.modalities.images.data import get_image_dataset
from gan_mixup.modalities.images.download import DownloadError, default_data_root, download, is_downloaded

WAIT = 120  # seconds a test waits for a subprocess event before failing (never a sleep)


def _idx(array: np.ndarray) -> bytes:
    header = (0x0800 + array.ndim).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def fake_mnist(n: int = 30) -> tuple[dict[str, bytes], np.ndarray]:
    """MNIST's four gzipped IDX files, each image a bar whose place encodes its label."""
    labels = np.arange(n) % 10
    images = np.zeros((n, 28, 28), np.uint8)
    for i, label in enumerate(labels):
        images[i, 4:24, 2 + 2 * label: 5 + 2 * label] = 255
    files = {"train-images-idx3-ubyte.gz": _idx(images), "train-labels-idx1-ubyte.gz": _idx(labels),
             "t10k-images-idx3-ubyte.gz": _idx(images[:5]), "t10k-labels-idx1-ubyte.gz": _idx(labels[:5])}
    return {name: gzip.compress(data, mtime=0) for name, data in files.items()}, labels


def fake_cifar(n: int = 20) -> tuple[bytes, dict[str, str], np.ndarray]:
    """cifar-10-python.tar.gz with five training batches, a test batch and the meta file, and their md5s."""
    rng = np.random.default_rng(0)
    members, labels = {}, []
    for i in range(1, 6):
        batch_labels = [int(v) for v in rng.integers(0, 10, n)]
        labels += batch_labels
        members[f"data_batch_{i}"] = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "labels": batch_labels}
    members["test_batch"] = {"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), "labels": [0, 1, 2, 3]}
    members["batches.meta"] = {"label_names": [f"class{i}" for i in range(10)]}
    blobs = {name: pickle.dumps(value) for name, value in members.items()}
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for name, blob in blobs.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return archive.getvalue(), {name: md5(blob) for name, blob in blobs.items()}, np.array(labels)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


class Server:
    """Serves ``files`` (path -> bytes) on 127.0.0.1; ``modes[path]`` misbehaves on purpose:
    ``"truncate"`` (a complete response of half the file), ``"vanish"`` (the full length announced,
    half sent, the connection closed), ``"hold"`` (half sent, then wait for ``release``)."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files, self.modes, self.gets = files, {}, {}
        self.started, self.half_sent, self.release = threading.Event(), threading.Event(), threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:  # torchvision asks for redirects with HEAD first
                self._headers(len(server.files.get(self.path.lstrip("/"), b"")))

            def do_GET(self) -> None:
                name = self.path.lstrip("/")
                server.gets[name] = server.gets.get(name, 0) + 1
                server.started.set()
                data, mode = server.files.get(name), server.modes.get(name)
                if data is None:
                    self.send_error(404)
                    return
                half = data[: len(data) // 2]
                self._headers(len(half) if mode == "truncate" else len(data))
                if mode is None:
                    self.wfile.write(data)
                    return
                self.wfile.write(half)
                self.wfile.flush()
                server.half_sent.set()
                if mode == "hold":
                    server.release.wait(WAIT)
                    self.wfile.write(data[len(half):])
                elif mode == "vanish":
                    self.close_connection = True
                    self.connection.shutdown(2)

            def _headers(self, length: int) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(length))
                self.end_headers()

            def log_message(self, *args: object) -> None:  # keep the test output clean
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


# What the loopback tests set on torchvision's classes, as JSON (also read by the subprocesses' sitecustomize).
def mirror_settings(server: Server, mnist_md5s: dict[str, str], cifar: tuple[bytes, dict[str, str]] | None = None) -> dict:
    settings = {"MNIST": {"mirrors": [server.url], "resources": [[name, md5] for name, md5 in mnist_md5s.items()]}}
    if cifar is not None:
        archive, md5s = cifar
        settings["CIFAR10"] = {
            "url": server.url + "cifar-10-python.tar.gz", "tgz_md5": md5(archive),
            "train_list": [[f"data_batch_{i}", md5s[f"data_batch_{i}"]] for i in range(1, 6)],
            "test_list": [["test_batch", md5s["test_batch"]]],
            "meta": {"filename": "batches.meta", "key": "label_names", "md5": md5s["batches.meta"]},
        }
    return settings


SITECUSTOMIZE = """
import json, os
settings = json.loads(os.environ["FAKE_TORCHVISION_MIRRORS"])
import torchvision.datasets as datasets
for cls_name, attributes in settings.items():
    for key, value in attributes.items():
        setattr(getattr(datasets, cls_name), key, [tuple(v) for v in value] if key != "meta" and isinstance(value, list) and value and isinstance(value[0], list) else value)
"""


def apply_settings(monkeypatch: pytest.MonkeyPatch, settings: dict) -> None:
    import torchvision.datasets as datasets

    for cls_name, attributes in settings.items():
        for key, value in attributes.items():
            if isinstance(value, list) and value and isinstance(value[0], list):
                value = [tuple(v) for v in value]
            monkeypatch.setattr(getattr(datasets, cls_name), key, value)


@pytest.fixture
def mnist_server(monkeypatch):
    files, labels = fake_mnist()
    server = Server(files)
    settings = mirror_settings(server, {name: md5(data) for name, data in files.items()})
    apply_settings(monkeypatch, settings)
    yield server, settings, labels
    server.close()


def leftovers(root: Path) -> list[str]:
    """What a download left in ``root`` besides its lock files: must be nothing after a failure."""
    return sorted(p.name for p in root.iterdir() if not p.name.endswith(".lock")) if root.exists() else []


def test_mnist_downloads_into_the_root_and_loads_and_a_second_call_fetches_nothing(tmp_path, mnist_server):
    server, _, labels = mnist_server
    root = tmp_path / "data"
    ds = get_image_dataset("mnist", data_root=root, image_size=32, download=True)
    assert ds.pixels.shape == (len(labels), 1, 32, 32)
    np.testing.assert_array_equal(ds.labels.numpy(), labels)
    assert leftovers(root) == ["MNIST"] and is_downloaded("mnist", root)
    fetched = dict(server.gets)
    assert set(fetched) == set(server.files)
    # Present: neither the dataset nor a second --download asks the server again.
    get_image_dataset("stacked-mnist", data_root=root, image_size=16, download=True)
    assert server.gets == fetched


def test_the_default_root_is_the_environment_variable(tmp_path, mnist_server, monkeypatch):
    monkeypatch.setenv("GAN_MIXUP_DATA", str(tmp_path / "env-root"))
    assert default_data_root() == tmp_path / "env-root"
    get_image_dataset("mnist", image_size=16, download=True)
    assert (tmp_path / "env-root" / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file()


def test_cifar10_downloads_extracts_and_loads(tmp_path, monkeypatch):
    archive, md5s, labels = fake_cifar()
    server = Server({"cifar-10-python.tar.gz": archive})
    try:
        apply_settings(monkeypatch, mirror_settings(server, {}, (archive, md5s)))
        ds = get_image_dataset("cifar10", data_root=tmp_path, image_size=16, download=True)
    finally:
        server.close()
    np.testing.assert_array_equal(ds.labels.numpy(), labels)
    assert ds.pixels.shape == (len(labels), 3, 16, 16)
    assert leftovers(tmp_path) == ["cifar-10-batches-py"]  # the 170 MB archive is not kept


@pytest.mark.parametrize("mode,words", [
    ("checksum", ["md5", "train-labels-idx1-ubyte.gz"]),
    ("truncate", ["md5", "train-labels-idx1-ubyte.gz"]),
    ("vanish", ["train-labels-idx1-ubyte.gz"]),
    ("dead", ["train-images-idx3-ubyte.gz", "refused"]),
])
def test_a_failed_download_says_so_in_one_line_and_leaves_nothing_that_reads_as_data(tmp_path, mnist_server, mode, words):
    server, _, _ = mnist_server
    root = tmp_path / "data"
    if mode == "checksum":  # the right length, the wrong bytes
        data = server.files["train-labels-idx1-ubyte.gz"]
        server.files["train-labels-idx1-ubyte.gz"] = data[:-1] + bytes([data[-1] ^ 0xFF])
    elif mode == "dead":
        server.close()
    else:
        server.modes["train-labels-idx1-ubyte.gz"] = mode
    with pytest.raises(DownloadError) as info:
        get_image_dataset("mnist", data_root=root, download=True)
    message = str(info.value)
    assert "\n" not in message and "nothing was kept" in message and str(root) in message
    for word in words:
        assert word in message, message
    assert leftovers(root) == []
    # A later run without --download finds no data, and says how to get it.
    with pytest.raises(DatasetNotFoundError, match="add --download"):
        get_image_dataset("mnist", data_root=root)


def test_what_a_killed_download_left_is_never_read_and_is_cleared_by_the_next(tmp_path, mnist_server):
    stale = tmp_path / ".download-MNIST-killed" / "MNIST" / "raw"  # as kill -9 mid-file leaves it
    stale.mkdir(parents=True)
    (stale / "train-images-idx3-ubyte").write_bytes(b"\0\0\x08\x03 cut off")
    with pytest.raises(DatasetNotFoundError, match="add --download"):
        get_image_dataset("mnist", data_root=tmp_path)
    download("mnist", tmp_path, quiet=True)
    assert leftovers(tmp_path) == ["MNIST"]


def test_an_incomplete_dataset_folder_is_named_not_overwritten(tmp_path, mnist_server):
    (tmp_path / "MNIST" / "raw").mkdir(parents=True)
    (tmp_path / "MNIST" / "raw" / "mine.txt").write_text("keep me")
    with pytest.raises(DownloadError, match="exists but is incomplete"):
        download("mnist", tmp_path)
    assert (tmp_path / "MNIST" / "raw" / "mine.txt").read_text() == "keep me"


def _subprocess_env(tmp_path: Path, settings: dict) -> dict[str, str]:
    hook = tmp_path / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = subprocess_env()
    env["PYTHONPATH"] = f"{env['PYTHONPATH']}:{hook}"
    env["FAKE_TORCHVISION_MIRRORS"] = json.dumps(settings)
    return env


def _lines(stream) -> "queue.Queue[str]":
    """The lines of a subprocess's ``stream`` as they come, read on a thread (no blocking read in the test)."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)
        lines.put("")  # end of stream

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _wait_for(lines: "queue.Queue[str]", text: str) -> list[str]:
    seen = []
    while True:
        line = lines.get(timeout=WAIT)
        seen.append(line)
        if text in line or line == "":
            assert text in line, f"never saw {text!r}; got {seen}"
            return seen


def test_ctrl_c_mid_file_stops_with_one_line_and_leaves_nothing(tmp_path, mnist_server):
    server, settings, _ = mnist_server
    root = tmp_path / "data"
    server.modes["train-images-idx3-ubyte.gz"] = "hold"
    cmd = [sys.executable, "-m", "gan_mixup.cli", "images", "--dataset", "mnist", "--download", "--data-root", root,
           "--out", tmp_path / "run", "--iterations", "2", "--hidden", "8", "--batch-size", "8", "--image-size", "16",
           "--metric-samples", "0", "--no-progress", "--no-render"]
    proc = subprocess.Popen([str(c) for c in cmd], env=_subprocess_env(tmp_path, settings), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert server.half_sent.wait(WAIT), "the download never started"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=WAIT)
    finally:
        server.release.set()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    said = [line for line in stderr.splitlines() if line.startswith("gan-mixup: ") and "downloading http" not in line]
    assert len(said) == 1 and "downloading mnist was interrupted; nothing was kept under" in said[0], stderr
    assert leftovers(root) == [] and not (tmp_path / "run").exists()


def test_two_processes_downloading_into_one_root_fetch_each_file_once(tmp_path, mnist_server):
    server, settings, labels = mnist_server
    # The requests one download makes (torchvision probes each URL for redirects with a GET first).
    download("mnist", tmp_path / "alone", quiet=True)
    one_download, server.gets = dict(server.gets), {}
    root = tmp_path / "data"
    server.modes["train-images-idx3-ubyte.gz"] = "hold"
    env = _subprocess_env(tmp_path, settings)
    code = ("import sys; from gan_mixup.modalities.images.download import download; "
            "print(download('mnist', sys.argv[1]))")
    first = subprocess.Popen([sys.executable, "-c", code, str(root)], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    second = None
    try:
        assert server.half_sent.wait(WAIT), "the first download never started"
        # The first process holds the lock, mid-file; the second must wait for it, not download too.
        second = subprocess.Popen([sys.executable, "-c", code, str(root)], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        lines = _lines(second.stdout)
        _wait_for(lines, "waiting for another process downloading mnist")
        server.release.set()
        first_out, first_err = first.communicate(timeout=WAIT)
        _wait_for(lines, str(root / "MNIST"))  # the path download() returns, printed by the second process
        second.wait(WAIT)
    finally:
        server.release.set()
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
    assert first.returncode == 0 and second.returncode == 0, first_err
    assert first_out.strip() == str(root / "MNIST")
    assert server.gets == one_download
    assert leftovers(root) == ["MNIST"]
    ds = get_image_dataset("mnist", data_root=root, image_size=16)
    assert torch.equal(ds.labels, torch.as_tensor(labels))


def test_the_cli_downloads_with_download_and_trains(tmp_path, mnist_server):
    server, settings, _ = mnist_server
    root = tmp_path / "data"
    cmd = [sys.executable, "-m", "gan_mixup.cli", "images", "--dataset", "mnist", "--download", "--data-root", root,
           "--out", tmp_path / "run", "--iterations", "2", "--hidden", "8", "--batch-size", "8", "--image-size", "16",
           "--metric-samples", "0", "--no-progress", "--no-render"]
    done = subprocess.run([str(c) for c in cmd], env=_subprocess_env(tmp_path, settings), capture_output=True,
                          text=True, timeout=WAIT)
    assert done.returncode == 0, done.stderr
    assert f"downloading {server.url}train-images-idx3-ubyte.gz" in done.stderr
    assert "Downloading" not in done.stdout  # torchvision's own prints do not reach the CLI's output
    assert leftovers(root) == ["MNIST"] and (tmp_path / "run" / "checkpoint.pt").is_file()
    # Without --download, the same root now serves the run.
    again = subprocess.run([str(c) for c in cmd if c != "--download"] + ["--overwrite"],
                           env=_subprocess_env(tmp_path, settings), capture_output=True, text=True, timeout=WAIT)
    assert again.returncode == 0 and "downloading" not in again.stderr, again.stderr
