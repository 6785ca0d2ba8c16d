"""The ``Modality`` protocol: what a kind of data (points, images, ...) provides to the package.

A modality is a small object with declarative attributes and methods; the methods of the built-in
modalities import their implementation lazily, so importing the registry (as ``config`` does to
find a dataset's defaults) costs nothing and creates no import cycle. A modality takes the run's
config as any object with RunConfig's attributes: modalities sit below ``config`` in the imports.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, NamedTuple

if TYPE_CHECKING:  # annotations only
    import torch
    from torch import nn

    from gan_mixup.rundir import Reference

# --- render and metrics ---

REUSABLE_GID = "gan_mixup-reusable"  # marks an artist a frame keeps for the next one (see Modality.clear_frame)


def recorded_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The ``{"kind": "snapshot"}`` records of a run's ``metrics.jsonl`` that hold metrics (more than
    the kind and the iteration), without the kind: what training measured at its snapshots."""
    from gan_mixup.rundir import read_records

    return [{k: v for k, v in r.items() if k != "kind"} for r in read_records(Path(run_dir), "snapshot") if len(r) > 2]


# The RunConfig fields left to the modality (None by default, and every run needs a value): every
# modality's ``defaults`` must give them (``modalities.register`` checks).
MODALITY_FIELDS = ("iterations", "batch_size", "d_steps", "latent_dim", "hidden", "lr", "betas", "snapshot_frames",
                   "fixed_samples", "checkpoint_every", "metric_samples", "metric_frames")


class FrameLayout(NamedTuple):
    """Where one frame sits: a figure of ``width`` x ``height`` inches, its axes at ``axes``
    (left, bottom, width, height, as fractions of the figure). A comparison frame puts one such
    panel per run side by side (width and axes scaled by the number of runs)."""

    width: float
    height: float
    axes: tuple[float, float, float, float]


class CellLayout(NamedTuple):
    """One square cell of a figure grid: ``inches`` wide at ``dpi``, the grid ``left`` inches from the edge."""

    inches: float
    dpi: int
    left: float = 0.5


class Modality:
    """One kind of data. Subclasses set the attributes and implement the methods.

    Attributes:
        name: the modality's name, recorded as ``kind`` in run directories (``"points"``).
        datasets: the dataset names it serves (``owns`` may accept more, e.g. ``folder:PATH``).
        defaults: RunConfig field values that differ from the dataclass's own default.
        limits: upper limits of RunConfig integer fields for this modality (over the common ones).
        refused_fields: fields this modality never reads, with why; a config must leave them at
            their defaults so ``config.json`` records nothing the run did not use.
        choices, command, label, default_dataset: see the ``# --- config ---`` section.
    """

    name: str = ""
    datasets: tuple[str, ...] = ()

    def owns(self, dataset: str) -> bool:
        """Whether this modality serves ``dataset``."""
        return dataset in self.datasets

    # --- config ---
    # What RunConfig reads to resolve and check a config of this modality, and what the command line
    # shows of it; plain data, so that config (above this module) asks and this module knows no config.
    defaults: Mapping[str, Any] = {}
    limits: Mapping[str, int] = {}
    refused_fields: Mapping[str, str] = {}
    choices: Mapping[str, tuple[Any, ...]] = {}
    """RunConfig fields whose value must be one of these (``None`` stays allowed where it is the default)."""
    command: str = ""
    """The ``gan-mixup`` subcommand that trains this modality's datasets; its name labels them in --help."""
    label: str = ""
    """An adjective for its datasets in messages: "a toy dataset", "image datasets only"."""
    default_dataset: str = ""
    """The dataset ``command`` trains when nothing names one."""

    def dataset_defaults(self, dataset: str) -> Mapping[str, Any]:
        """Defaults of one dataset over the modality's (e.g. the 8x8 digits train at 16 px)."""
        return {}

    def config_problem(self, config: Any) -> str | None:
        """Why ``config`` (its defaults resolved, the common checks passed) cannot run on this
        modality, as one line; ``None`` when it can. RunConfig raises it as a ``ConfigError``."""
        return None

    def build_data(self, config: Any) -> Any:
        """The run's dataset: ``sample(n, generator) -> Tensor`` drawing from that generator alone."""
        raise NotImplementedError

    def build_models(self, config: Any, data: Any) -> "tuple[nn.Module, nn.Module]":
        """G and D for ``config`` and ``data``."""
        raise NotImplementedError

    # --- render and metrics ---
    # What render, metrics and the scorecard ask of a modality (the drawing and the toy metrics live
    # in its own draw and metrics modules). ``reference`` and ``snapshot`` are gan_mixup.rundir's.

    frame_layout: FrameLayout = FrameLayout(4.0, 4.0, (0.0, 0.0, 1.0, 1.0))  # one frame, at FRAME_DPI
    comparison_layout: FrameLayout = FrameLayout(4.0, 4.0, (0.0, 0.0, 1.0, 1.0))  # one panel of a comparison frame
    compare_cell: CellLayout = CellLayout(1.9, 90)  # a cell of a comparison grid (runs x iterations)
    figure5_cell: CellLayout = CellLayout(1.25, 80)  # a cell of the paper's Figure 5
    render_modules: tuple[str, ...] = ()  # what drawing imports, for frame workers to import once
    # The metrics it records are registered with its name (gan_mixup.metric_registry: Metric.modalities).
    distance_metric: str = ""  # the registered metric the robustness report ranks by (a distance to the data)

    def sample_problem(self, fake: Any) -> str:
        """Why ``fake`` is not a batch of this modality's samples ('' if it is one)."""
        return ""

    def setup_axes(self, ax: Any, labelsize: float) -> None:
        """Dress a frame's fresh axes (ticks, or none) once; frames drawn into it keep that."""

    def draw_frame(self, ax: Any, reference: Any, snapshot: Any, *, quiver: bool = True) -> str:
        """Draw one snapshot into ``ax``; return a note for the frame's title ('' when all is well)."""
        raise NotImplementedError

    def draw_cell(self, ax: Any, reference: Any, snapshot: Any) -> None:
        """Draw one cell of a comparison grid (runs x iterations)."""
        raise NotImplementedError

    def draw_figure5_cell(self, ax: Any, reference: Any, snapshot: Any, extent: float) -> None:
        """Draw one cell of the paper's Figure 5; ``extent``: the largest of the row's runs."""
        self.draw_cell(ax, reference, snapshot)

    def clear_frame(self, ax: Any) -> None:
        """Remove what ``draw_frame`` added, keeping the axes, its ticks, its limits and any artist
        marked ``REUSABLE_GID`` (a frame worker reuses one figure for all its frames)."""
        for artist in [*ax.lines, *ax.collections, *(im for im in ax.images if im.get_gid() != REUSABLE_GID)]:
            artist.remove()

    def evaluate_run(self, run_dir: Path, reference: Any) -> list[dict[str, Any]]:
        """The metrics of every snapshot of ``run_dir``, from the run directory alone; by default the
        ones training recorded (``recorded_metrics``), for data whose snapshots cannot recompute them."""
        return recorded_metrics(run_dir)

    def modes_total(self, reference: Any, records: list[dict[str, Any]]) -> int | None:
        """All the modes a run can cover (None where the data has none), from its reference and its
        snapshot records."""
        return None

    # --- training ---
    # What the trainer asks of a modality: what a snapshot records, the reference it is drawn
    # against, which snapshots compute metrics, and whether runs can train in lockstep.

    lockstep: bool = False  # whether runs can train batched over stacked weights (gan_mixup.training.batched)

    def metric_iterations(self, config: Any) -> "set[int] | None":
        """The snapshot iterations whose records compute metrics; ``None``: every snapshot (each
        of these iterations is a snapshot too)."""
        return None

    def make_reference(self, config: Any, data: Any, generator: "torch.Generator") -> "Reference":
        """The real samples every snapshot is drawn and measured against, from ``generator`` alone."""
        raise NotImplementedError

    def take_snapshot(self, state: Any, run_dir: "Path", G: "nn.Module", D: "nn.Module",
                      with_metrics: bool = True) -> dict[str, Any]:
        """Write the snapshot of ``state.iteration`` to ``run_dir`` and return its ``metrics.jsonl``
        record. ``state`` is the run's state (``fixed_noise``, ``metric_noise``, ``iteration``,
        ``config``, ``dataset``, ``reference``); G and D are in eval mode, gradients off."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<modality {self.name}>"
