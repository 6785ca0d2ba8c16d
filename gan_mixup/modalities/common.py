"""Behaviour the modalities share: clearing a frame for the next one, and a run's recorded metrics."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from gan_mixup.rundir import read_records

REUSABLE_GID = "gan_mixup-reusable"  # marks an artist a frame keeps for the next one (see clear_frame)


def clear_frame(ax: Any) -> None:
    """Remove what ``draw_frame`` added, keeping the axes, its ticks, its limits and any artist
    marked ``REUSABLE_GID`` (a frame worker reuses one figure for all its frames)."""
    for artist in [*ax.lines, *ax.collections, *(im for im in ax.images if im.get_gid() != REUSABLE_GID)]:
        artist.remove()


def recorded_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The ``{"kind": "snapshot"}`` records of a run's ``metrics.jsonl`` that hold metrics (more than
    the kind and the iteration), without the kind: what training measured at its snapshots."""
    return [{k: v for k, v in r.items() if k != "kind"} for r in read_records(Path(run_dir), "snapshot") if len(r) > 2]
