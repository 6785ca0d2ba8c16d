"""What a modality declares (``ModalitySpec``, plain data) and what its behaviour modules provide.

A modality is one kind of data (toy points, images, ...). Its *spec* is a frozen dataclass of plain
values that ``config`` reads to resolve and check a run: the datasets, the defaults, the limits, the
refused fields, the choices, how its pictures are laid out. What the modality *does* lives in three
modules of its own, named by the spec and imported where used (``gan_mixup.modalities.training_of``
and its two siblings): ``training`` (data, models, the reference, snapshots), ``drawing`` (frames and
grid cells; it imports matplotlib) and ``measuring`` (a run's metrics from its run directory). The
protocols below list what each of those modules defines.

Example:
    >>> from gan_mixup.modalities.toy.spec import SPEC
    >>> SPEC.name, SPEC.default_dataset, SPEC.defaults["iterations"], "ring8" in SPEC.datasets
    ('toy', 'ring8', 20000, True)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Collection, Mapping, NamedTuple, Protocol

if TYPE_CHECKING:  # annotations only
    import torch
    from torch import nn

    from gan_mixup.rundir import Reference

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


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, eq=False)  # one instance per modality, compared and hashed as itself
class ModalitySpec:
    """What one modality declares; its ``name`` is also its ``gan-mixup`` subcommand and the value
    a run directory records (``reference.npz``'s ``modality``)."""

    name: str  # "toy", "images"
    datasets: Collection[str]  # the dataset names it serves (a live view where datasets can be added)
    default_dataset: str  # the dataset its subcommand trains when nothing names one
    training: str  # the module of its TrainingModule functions, e.g. "gan_mixup.modalities.toy.training"
    drawing: str  # the module of its DrawingModule functions (imports matplotlib)
    measuring: str  # the module of its MeasuringModule functions
    defaults: Mapping[str, Any] = field(default_factory=_empty)  # RunConfig values over the dataclass's own defaults
    dataset_defaults: Mapping[str, Mapping[str, Any]] = field(default_factory=_empty)  # per dataset, over ``defaults``
    limits: Mapping[str, int] = field(default_factory=_empty)  # upper limits of integer fields, over RunConfig's
    refused_fields: Mapping[str, str] = field(default_factory=_empty)  # field -> why: fields it never reads stay at their defaults
    choices: Mapping[str, tuple[Any, ...]] = field(default_factory=_empty)  # field -> allowed values (None stays allowed as a default)
    check: Callable[[Any], "str | None"] | None = None  # why a config (common checks passed) cannot run, or None
    lockstep: bool = False  # whether runs can train batched over stacked weights (gan_mixup.training.batched)
    distance_metric: str = ""  # the registered metric the robustness report ranks by (a distance to the data)
    frame_layout: FrameLayout = FrameLayout(4.0, 4.0, (0.0, 0.0, 1.0, 1.0))  # one frame, at FRAME_DPI
    comparison_layout: FrameLayout = FrameLayout(4.0, 4.0, (0.0, 0.0, 1.0, 1.0))  # one panel of a comparison frame
    compare_cell: CellLayout = CellLayout(1.9, 90)  # a cell of a comparison grid (runs x iterations)
    figure5_cell: CellLayout = CellLayout(1.25, 80)  # a cell of the paper's Figure 5
    render_modules: tuple[str, ...] = ()  # what drawing imports, for frame workers to import once

    def owns(self, dataset: str) -> bool:
        """Whether this modality serves ``dataset``."""
        return dataset in self.datasets

    def __repr__(self) -> str:
        return f"<modality {self.name}>"


class TrainingModule(Protocol):
    """What the trainer asks of a modality (``ModalitySpec.training`` names the module)."""

    def build_data(self, config: Any) -> Any:
        """The run's dataset: ``sample(n, generator) -> Tensor`` drawing from that generator alone."""

    def build_models(self, config: Any, data: Any) -> "tuple[nn.Module, nn.Module]":
        """G and D for ``config`` and ``data``."""

    def metric_iterations(self, config: Any) -> "set[int] | None":
        """The snapshot iterations whose records compute metrics; ``None``: every snapshot."""

    def make_reference(self, config: Any, data: Any, generator: "torch.Generator") -> "Reference":
        """The real samples every snapshot is drawn and measured against, from ``generator`` alone."""

    def take_snapshot(self, state: Any, run_dir: Path, G: "nn.Module", D: "nn.Module",
                      with_metrics: bool = True) -> dict[str, Any]:
        """Write the snapshot of ``state.iteration`` to ``run_dir`` and return its ``metrics.jsonl`` record."""


class DrawingModule(Protocol):
    """What render and the viewer ask of a modality (``ModalitySpec.drawing`` names the module)."""

    def sample_problem(self, fake: Any) -> str:
        """Why ``fake`` is not a batch of this modality's samples ('' if it is one)."""

    def setup_axes(self, ax: Any, labelsize: float) -> None:
        """Dress a frame's fresh axes (ticks, or none) once; frames drawn into it keep that."""

    def draw_frame(self, ax: Any, reference: Any, snapshot: Any, quiver: bool = True) -> str:
        """Draw one snapshot into ``ax``; return a note for the frame's title ('' when all is well)."""

    def draw_cell(self, ax: Any, reference: Any, snapshot: Any) -> None:
        """Draw one cell of a comparison grid (runs x iterations)."""

    def draw_figure5_cell(self, ax: Any, reference: Any, snapshot: Any, extent: float) -> None:
        """Draw one cell of the paper's Figure 5; ``extent``: the largest of the row's runs."""

    def clear_frame(self, ax: Any) -> None:
        """Remove what ``draw_frame`` added, keeping the axes (``gan_mixup.modalities.common.clear_frame``)."""


class MeasuringModule(Protocol):
    """What metrics, the scorecard and the viewer ask of a modality (``ModalitySpec.measuring``)."""

    def evaluate_run(self, run_dir: Path, reference: Any) -> list[dict[str, Any]]:
        """The metrics of every snapshot of ``run_dir``, from the run directory alone."""

    def modes_total(self, reference: Any, records: list[dict[str, Any]]) -> "int | None":
        """All the modes a run can cover (None where the data has none)."""
