"""Live monitoring in TensorBoard: losses, metrics and the run's frames, through
``torch.utils.tensorboard``, written to ``RUN_DIR/tensorboard``.

A training callback: it receives the records ``train`` writes to ``metrics.jsonl`` and draws each
snapshot's frame from the snapshot file, so nothing in the trainer knows about TensorBoard.

Example:
    >>> from gan_mixup import RunConfig, train
    >>> train(RunConfig(iterations=200), "runs/tb", callbacks=TensorBoardLogger.for_run("runs/tb"))  # doctest: +SKIP
    $ tensorboard --logdir runs
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from gan_mixup.errors import GanMixupError
from gan_mixup.metric_registry import METRICS
from gan_mixup.rundir import TENSORBOARD_DIR, read_reference, read_snapshot, snapshot_path

TRAIN_SCALARS = ("d_loss", "g_loss", "lam_mean", "d_real", "d_fake")


class MissingExtraError(GanMixupError, ImportError):
    """An optional feature whose extra is not installed."""


def require_tensorboard() -> None:
    """Raise ``MissingExtraError`` (one line in the CLI) when the ``tensorboard`` package is missing."""
    try:  # tensorboard: an optional extra, heavy to import
        import tensorboard  # noqa: F401
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        raise MissingExtraError("--tensorboard needs the tensorboard package: pip install 'gan-mixup[tensorboard]'") from None


def tensorboard_callbacks(enabled: bool) -> Callable[[str | Path], list["TensorBoardLogger"]] | None:
    """The ``callbacks_for`` that compare and sweeps take (``run_dir -> [logger]``) when ``enabled``,
    with the package checked now, before anything trains; ``None`` otherwise."""
    if not enabled:
        return None
    require_tensorboard()
    return TensorBoardLogger.for_run


def metrics_layout() -> dict[str, dict[str, list[Any]]]:
    """TensorBoard's Custom Scalars layout of the registered metrics (``gan_mixup.metric_registry``):
    one chart per metric, titled by its label, grouped by which way is better.

    Example:
        >>> metrics_layout()["higher is better"]["modes covered"]
        ['Multiline', ['metrics/modes_covered']]
    """
    groups: dict[str, dict[str, list[Any]]] = {}
    for metric in METRICS.values():
        group = f"{metric.better} is better" if metric.better else "diagnostics"
        groups.setdefault(group, {})[metric.label] = ["Multiline", [f"metrics/{metric.name}"]]
    return groups


class TensorBoardLogger:
    """Log ``train`` records as scalars (``train/d_loss``, ...), snapshot metrics as
    ``metrics/<name>`` (the registered ones also charted by label and direction in Custom Scalars,
    ``metrics_layout``), and every snapshot's frame as the image ``frames``.

    The writer opens on the first record, with ``purge_step`` at that iteration, so a resumed run
    replaces what the interrupted one logged after its checkpoint instead of doubling it.
    """

    def __init__(self, run_dir: str | Path, *, frames: bool = True) -> None:
        require_tensorboard()
        self.run_dir = Path(run_dir)
        self.frames = frames
        self.writer: Any = None
        self._reference: Any = None

    @classmethod
    def for_run(cls, run_dir: str | Path) -> list["TensorBoardLogger"]:
        """The callbacks list for ``train(..., callbacks=...)``: one logger for ``run_dir``."""
        return [cls(run_dir)]

    def __call__(self, record: dict[str, Any]) -> None:
        kind, iteration = record.get("kind"), record.get("iteration")
        if kind not in ("train", "snapshot") or not isinstance(iteration, int):
            return
        writer = self._writer(iteration)
        prefix = "train" if kind == "train" else "metrics"
        for name, value in record.items():
            if name in ("kind", "iteration") or not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            if kind == "train" and name not in TRAIN_SCALARS:
                continue
            writer.add_scalar(f"{prefix}/{name}", float(value), iteration)
        if kind == "snapshot":
            if self.frames:
                frame = self._frame(iteration)
                if frame is not None:
                    writer.add_image("frames", frame, iteration, dataformats="HWC")
            writer.flush()  # the last snapshot is the run's last record: nothing is left unwritten

    def _writer(self, iteration: int) -> Any:
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter  # tensorboard: an optional extra, heavy to import

            self.writer = SummaryWriter(str(self.run_dir / TENSORBOARD_DIR), purge_step=iteration or None, flush_secs=30)
            self.writer.add_custom_scalars(metrics_layout())
        return self.writer

    def _frame(self, iteration: int) -> np.ndarray | None:
        """The run's frame at ``iteration`` as an RGB uint8 array, drawn from the snapshot file."""
        from gan_mixup.render import frame_pixels  # render imports matplotlib: heavy, and only image frames need it

        path = snapshot_path(self.run_dir, iteration)
        if not path.is_file():
            return None
        if self._reference is None:
            self._reference = read_reference(self.run_dir)
        return frame_pixels(self._reference, read_snapshot(path))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
