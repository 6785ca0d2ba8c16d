"""Fetch mnist, fashion-mnist and cifar10 with torchvision's own download code and md5 checks.

``download(name, root)`` puts the files where torchvision's dataset class reads them
(``root/MNIST/raw/...``, ``root/cifar-10-batches-py/...``) and is safe to interrupt or to run twice at
once: the files arrive in a hidden temporary folder inside ``root`` and the finished dataset folder is
renamed into place in one step, so a failed checksum, a dead connection or Ctrl-C leaves nothing a later
run reads as data; a lock file (``root/.<folder>.lock``) makes a second process wait for the first and
then find the dataset there. The URLs and md5s are torchvision's: ``MNIST.mirrors`` and ``resources``,
``CIFAR10.url`` and ``tgz_md5``.

Example:
    >>> isinstance(default_data_root(), Path)
    True
    >>> download("mnist", "/tmp/data")                    # doctest: +SKIP
    PosixPath('/tmp/data/MNIST')
"""
from __future__ import annotations

import contextlib
import http.client
import io
import os
import shutil
import sys
import tempfile
import urllib.error
from pathlib import Path
from typing import Iterator

from gan_mixup.errors import DataError
from gan_mixup.modalities.images.classifier import default_cache_dir

DATA_ENV = "GAN_MIXUP_DATA"
# The torchvision class of each downloadable dataset; stacked-mnist is three MNIST digits.
_CLASSES = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "cifar10": "CIFAR10", "stacked-mnist": "MNIST"}
_TEMP_PREFIX = ".download-"


class DownloadError(DataError):
    """A download failed (network, checksum, disk); nothing of it was kept under the data root."""


class DownloadInterrupted(KeyboardInterrupt):
    """Ctrl-C during a download; the message says that nothing of it was kept."""


def default_data_root() -> Path:
    """``$GAN_MIXUP_DATA``, else ``data/`` in the cache folder (``$GAN_MIXUP_CACHE``, else
    ``$XDG_CACHE_HOME/gan-mixup``, else ``~/.cache/gan-mixup``).

    Example:
        >>> default_data_root().name   # without $GAN_MIXUP_DATA
        'data'
    """
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    return default_cache_dir() / "data"


def dataset_folder(name: str, root: str | Path) -> Path:
    """The folder under ``root`` that torchvision reads for dataset ``name``.

    Example:
        >>> dataset_folder("cifar10", "/data").as_posix(), dataset_folder("stacked-mnist", "/data").as_posix()
        ('/data/cifar-10-batches-py', '/data/MNIST')
    """
    cls = _torchvision_class(name)
    return Path(root) / (cls.base_folder if name == "cifar10" else cls.__name__)


def is_downloaded(name: str, root: str | Path) -> bool:
    """Whether every file torchvision's class for ``name`` reads is under ``root`` (CIFAR-10: md5-checked).

    Example:
        >>> is_downloaded("mnist", "/nonexistent")
        False
    """
    cls = _torchvision_class(name)
    probe = cls.__new__(cls)  # its checks read only root (and class attributes); no loading
    probe.root = str(Path(root))
    return bool(probe._check_integrity() if name == "cifar10" else probe._check_exists())


def download(name: str, root: str | Path | None = None, *, quiet: bool = False) -> Path:
    """Fetch dataset ``name`` into ``root`` (default ``default_data_root()``) unless it is there;
    return its folder. Raises ``DownloadError`` in one line when the network, a checksum or the disk
    fails, ``DownloadInterrupted`` on Ctrl-C; either way nothing of the attempt is left in ``root``.

    Example:
        >>> download("mnist", "/tmp/data")                    # doctest: +SKIP
        PosixPath('/tmp/data/MNIST')
    """
    if name not in _CLASSES:
        raise DataError(f"--download fetches {', '.join(_CLASSES)} only, not {name!r}")
    root = Path(root).expanduser() if root is not None else default_data_root()
    target = dataset_folder(name, root)
    if is_downloaded(name, root):
        return target
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DownloadError(f"{name}: cannot create the data root {root}: {error.strerror or error}") from None
    with _locked(root / f".{target.name}.lock", name, quiet):
        if is_downloaded(name, root):  # the process that held the lock fetched it
            return target
        if target.exists():
            raise DownloadError(f"{name}: {target} exists but is incomplete (torchvision finds files missing or "
                                "failing their md5): move it away or remove it, then download again")
        _remove_stale_temps(root, target.name)
        temp = Path(tempfile.mkdtemp(prefix=f"{_TEMP_PREFIX}{target.name}-", dir=root))
        try:
            _fetch(name, temp, quiet)
            os.replace(temp / target.name, target)  # one rename: the dataset appears whole or not at all
        except KeyboardInterrupt:
            raise DownloadInterrupted(f"downloading {name} was interrupted; nothing was kept under {root} "
                                      "(run again with --download to fetch it)") from None
        finally:
            shutil.rmtree(temp, ignore_errors=True)
    return target


@contextlib.contextmanager
def _locked(path: Path, name: str, quiet: bool) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (an flock: released by the OS when the process dies)."""
    try:
        import fcntl  # POSIX only: imported where its absence is handled
    except ImportError:  # Windows: no flock; concurrent downloads into one root are then on the user
        yield
        return
    try:
        handle = open(path, "a+b")  # noqa: SIM115 - closed below, after the lock is released
    except OSError as error:
        raise DownloadError(f"{name}: cannot open the lock file {path}: {error.strerror or error}") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not quiet:
                print(f"gan-mixup: waiting for another process downloading {name} into {path.parent} "
                      f"(lock {path.name})", file=sys.stderr, flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_stale_temps(root: Path, folder: str) -> None:
    """Remove what a killed download of ``folder`` left (called under its lock: nobody else writes there)."""
    for stale in root.glob(f"{_TEMP_PREFIX}{folder}-*"):
        shutil.rmtree(stale, ignore_errors=True)


def _fetch(name: str, temp: Path, quiet: bool) -> None:
    """Download and extract ``name`` into ``temp/<its folder>`` with torchvision's functions: for MNIST-like
    sets each of ``resources`` from the first of ``mirrors`` that answers (as ``MNIST.download`` does),
    for CIFAR-10 ``url``; every archive checked against torchvision's md5 before it is extracted."""
    from torchvision.datasets.utils import download_and_extract_archive  # torchvision: heavy to import

    cls = _torchvision_class(name)
    jobs = ([(cls.url, temp, cls.filename, cls.tgz_md5)] if name == "cifar10" else
            [([f"{mirror}{file}" for mirror in cls.mirrors], temp / cls.__name__ / "raw", file, md5)
             for file, md5 in cls.resources])
    for urls, folder, file, md5 in jobs:
        urls = [urls] if isinstance(urls, str) else urls
        for i, url in enumerate(urls):
            if not quiet:
                print(f"gan-mixup: downloading {url}", file=sys.stderr, flush=True)
            try:
                # torchvision prints its own steps to stdout; stdout is the CLI's output, keep it clean.
                with contextlib.redirect_stdout(io.StringIO()):
                    download_and_extract_archive(url, download_root=str(folder), filename=file, md5=md5)
                break
            except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as error:
                (folder / file).unlink(missing_ok=True)
                if i + 1 < len(urls):
                    continue  # the next mirror, as MNIST.download does
                raise DownloadError(f"{name}: downloading {file} from {url} failed ({_reason(error)}); nothing was "
                                    f"kept under {temp.parent}; check the connection and run again") from None
            except RuntimeError as error:  # torchvision's "File not found or corrupted." after its md5 check
                raise DownloadError(f"{name}: {file} from {url} failed torchvision's md5 check ({md5}): damaged or "
                                    f"cut off in transit; nothing was kept under {temp.parent}; run again") from error
            except OSError as error:  # the disk: full, unwritable; or a connection torn down mid-file
                raise DownloadError(f"{name}: downloading {file} from {url} failed ({_reason(error)}); nothing was "
                                    f"kept under {temp.parent}") from None
    if name == "cifar10":
        (temp / cls.filename).unlink(missing_ok=True)  # the extracted batches are what is read


def _reason(error: BaseException) -> str:
    reason = getattr(error, "reason", None) or getattr(error, "strerror", None) or error
    text = (str(reason).splitlines() or [type(error).__name__])[0]
    return text or type(error).__name__


def _torchvision_class(name: str) -> type:
    import torchvision.datasets  # torchvision: heavy to import

    return getattr(torchvision.datasets, _CLASSES[name])
