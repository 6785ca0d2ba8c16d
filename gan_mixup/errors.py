"""The one base class of every user mistake gan-mixup reports.

The CLI turns a ``GanMixupError`` into one line and exit code 2; anything else is a bug and keeps
its traceback. Each module's own error (``ConfigError``, ``ObjectiveError``, ...) derives from it
and from the builtin a caller would catch for it (``ValueError``, ``FileExistsError``, ...).

Example:
    >>> from gan_mixup.config import ConfigError
    >>> issubclass(ConfigError, GanMixupError)
    True
"""
from __future__ import annotations


class GanMixupError(Exception):
    """A user mistake: bad input, a missing file, an unusable run directory."""


def os_error_text(err: OSError) -> str:
    """An ``OSError`` as one line, e.g. "No space left on device: runs/x/frames/frame_0003.png".

    Example:
        >>> os_error_text(FileNotFoundError(2, "No such file or directory", "runs/x"))
        'No such file or directory: runs/x'
    """
    return f"{err.strerror or err}: {err.filename or ''}".rstrip(": ")


class GanMixupWarning(UserWarning):
    """A problem gan-mixup works around (a damaged file skipped, a fallback taken); the CLI shows
    each as one line ``gan-mixup: warning: ...``."""


class DataError(GanMixupError, ValueError):
    """A dataset cannot be built or loaded (unknown name, bad option, missing local files)."""


class DatasetNotFoundError(DataError, FileNotFoundError):
    """The local files of a dataset are missing; the message names the files or layout expected."""
