"""Several runs at once: side-by-side comparisons and the paper's Figure 5.

Example:
    >>> from gan_mixup import RunConfig
    >>> base = RunConfig(iterations=200, hidden=64)
    >>> outputs = compare({"erm": base.replace(objective="erm"), "mixup": base}, "runs/cmp")  # doctest: +SKIP
    >>> sorted(outputs)  # doctest: +SKIP
    ['comparison_gif', 'figure5_png']
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from gan_mixup.config import RunConfig, field_default, resolve
from gan_mixup.render import (
    NothingToRenderError,
    RenderError,
    RenderWarning,
    render_comparison,
    render_figure5,
    render_lock,
    render_run,
    validate_options,
)
from gan_mixup.collection import manifest_dir_type, member_subdir, prepare_collection, slug
from gan_mixup.rundir import (
    CONFIG_FILE,
    FIGURE5_FILE,
    MANIFEST_FILE,
    NotARunDirectoryError,
    locked,
)
from gan_mixup.errors import GanMixupError
from gan_mixup.training import check_config, train
from gan_mixup.view import write_viewer


class CompareError(GanMixupError, ValueError):
    """A comparison that cannot run: nothing to compare."""

FIGURE5_DATASETS = ("grid25", "ring8")  # the paper's rows, top to bottom
FIGURE5_OBJECTIVES = {"ERM GAN": 0.0, "mixup GAN (α = 0.2)": 0.2}  # label -> α under the paper-code preset


def compare(
    configs: dict[str, RunConfig],
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    resume: bool = False,
    progress: bool = False,
    handle_signals: bool = False,
    quiver: bool = True,
    callbacks_for: Callable[[Path], Sequence[Callable[[dict[str, Any]], None]]] | None = None,
) -> dict[str, Path]:
    """Train each config into ``out_dir/<label>``, render them side by side (``quiver``: G's
    gradient arrows in toy frames) and write their browser viewer (``out_dir/viewer``).

    Every config is checked before anything is trained or written, so a typo in the third
    objective does not cost the first two runs. Give the configs one seed to get the same initial
    networks and the same fixed noise (``compare`` in the CLI does).
    """
    out_dir = Path(out_dir)
    if not isinstance(configs, Mapping) or not configs:
        raise CompareError(f"compare needs at least one config (a dict of label -> RunConfig), got {configs!r}")
    for config in configs.values():
        check_config(config)
    with locked(out_dir):
        prepare_collection(out_dir, list(configs), overwrite=overwrite, resume=resume)
        runs: dict[str, Path] = {}
        for label, config in configs.items():
            run_dir = out_dir / slug(label)
            if progress:
                print(f"[{label}] {config.objective} on {config.dataset}, {config.iterations} iterations -> {run_dir}")
            _train_member(config, run_dir, resume=resume, progress=progress, handle_signals=handle_signals,
                          callbacks=callbacks_for(run_dir) if callbacks_for else ())
            runs[label] = run_dir
            render_run(run_dir, quiver=quiver)
        return {**render_comparison(runs, out_dir, quiver=quiver), "viewer": write_viewer([out_dir])}


def figure5(
    out_dir: str | Path,
    *,
    iterations: int = 20000,
    seed: int = 0,
    hidden: int | None = None,
    overwrite: bool = False,
    resume: bool = False,
    progress: bool = False,
    handle_signals: bool = False,
) -> dict[str, Path]:
    """The paper's Figure 5 as the authors ran it: ERM (α = 0) and mixup (α = 0.2) on grid25 and
    ring8 with the ``paper-code`` preset; writes ``figure5.png`` in the paper's layout, one
    side-by-side GIF per dataset and the four runs' browser viewer (``out_dir/viewer``)."""
    out_dir = Path(out_dir)
    configs: dict[tuple[str, str], RunConfig] = {}
    for dataset in FIGURE5_DATASETS:
        for label, alpha in FIGURE5_OBJECTIVES.items():
            flags = {"dataset": dataset, "alpha": alpha, "iterations": iterations, "seed": seed}
            configs[(dataset, label)] = resolve(preset="paper-code", flags={**flags, **({"hidden": hidden} if hidden is not None else {})})
    for config in configs.values():
        check_config(config)
    labels = [f"{dataset}/{label}" for dataset, label in configs]
    with locked(out_dir):
        prepare_collection(out_dir, labels, overwrite=overwrite, resume=resume, dir_type="figure5")
        runs: dict[tuple[str, str], Path] = {}
        for (dataset, label), config in configs.items():
            run_dir = out_dir / member_subdir(f"{dataset}/{label}", "figure5")
            if progress:
                print(f"[{dataset}, {label}] {config.iterations} iterations -> {run_dir}")
            _train_member(config, run_dir, resume=resume, progress=progress, handle_signals=handle_signals)
            runs[(dataset, label)] = run_dir
        return {**render_figure5_runs(runs, out_dir), "viewer": write_viewer([out_dir])}


def render_figure5_runs(runs: dict[tuple[str, str], Path], out_dir: Path, *, fps: float = 10,
                        workers: int | None = None, max_frames: int | None = None, quiver: bool = True) -> dict[str, Path]:
    """``figure5.png`` in the paper's layout, and per dataset a side-by-side GIF of its runs."""
    outputs = {"figure5_png": render_figure5(runs, out_dir / "figure5.png")}
    for dataset in dict.fromkeys(ds for ds, _ in runs):
        pair = {label: run_dir for (ds, label), run_dir in runs.items() if ds == dataset}
        rendered = render_comparison(pair, out_dir / dataset, fps=fps, workers=workers, max_frames=max_frames, quiver=quiver)
        outputs.update({f"{dataset}_{name}": path for name, path in rendered.items()})
    return outputs


def _train_member(config: RunConfig, run_dir: Path, *, resume: bool, progress: bool, handle_signals: bool,
                  callbacks: Sequence[Callable[[dict[str, Any]], None]] = ()) -> None:
    """Train one run of a collection (the collection was cleared already when overwriting). With
    ``resume`` a member continues from its checkpoint, or starts when it has none."""
    train(config, run_dir, resume=resume, progress=progress, handle_signals=handle_signals, callbacks=callbacks)


def render_any(path: str | Path, *, fps: int = 10, workers: int | None = None,
               max_frames: int | None = None, quiver: bool = True) -> dict[str, Path]:
    """Re-render a run directory, or every run of a ``compare`` / ``figure5`` directory, from disk alone.

    A collection's members that have nothing to render yet (not trained, or stopped before their
    first snapshot) are left out of its pictures with a ``RenderWarning`` naming each; a figure5 row
    (dataset) missing one of its objectives is left out whole, since the figure compares them.
    ``NothingToRenderError`` when nothing is left. The directory's render lock is held throughout:
    a second render of it at the same time gets ``RunLockedError``. A bad ``fps``, ``workers`` or
    ``max_frames`` is a ``RenderError`` before anything is read or written.
    """
    path = Path(path)
    validate_options(fps=fps, workers=workers, max_frames=max_frames)
    if (path / CONFIG_FILE).is_file():
        return render_run(path, fps=fps, workers=workers, max_frames=max_frames, quiver=quiver)
    manifest = path / MANIFEST_FILE
    if not manifest.is_file():
        raise NotARunDirectoryError(f"{path} is neither a run directory (no {CONFIG_FILE}) nor a compare directory "
                                    f"(no {MANIFEST_FILE})")
    try:
        info = json.loads(manifest.read_text())
        runs = {str(label): path / sub for label, sub in info["runs"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise RenderError(f"{manifest} is damaged ({type(err).__name__}); it names the runs to render") from None
    figure = manifest_dir_type(info) == "figure5"
    with render_lock(path):
        outputs: dict[str, Path] = {}
        rendered: dict[str, Path] = {}
        left_out: dict[str, str] = {}  # label -> why
        for label, run_dir in runs.items():
            try:
                if not run_dir.exists():  # a member a killed compare never reached
                    raise NothingToRenderError(f"nothing to render yet: {run_dir} was not trained")
                member = render_run(run_dir, fps=fps, workers=workers, max_frames=max_frames, quiver=quiver)
            except NothingToRenderError as err:
                left_out[label] = str(err)
                continue
            outputs.update({f"{label}_{name}": p for name, p in member.items()})
            rendered[label] = run_dir
        if figure:
            keyed = {tuple(label.split("/", 1)): run_dir for label, run_dir in runs.items()}
            objectives = {objective for _, objective in keyed}
            complete = [ds for ds in dict.fromkeys(ds for ds, _ in keyed)
                        if all(f"{ds}/{o}" in rendered for o in objectives)]
            if not complete:
                raise NothingToRenderError(f"nothing to render yet: no dataset of {path} has snapshots of all its runs"
                                           + _first_reason(left_out))
            _warn_left_out(path, left_out)
            for dataset in dict.fromkeys(ds for ds, _ in keyed if ds not in complete):
                warnings.warn(f"{dataset!r} is left out of {path / FIGURE5_FILE}: not all of its runs have snapshots yet",
                              RenderWarning, stacklevel=2)
            outputs.update(render_figure5_runs({k: d for k, d in keyed.items() if k[0] in complete},  # type: ignore[misc]
                                               path, fps=fps, workers=workers, max_frames=max_frames, quiver=quiver))
        else:
            if not rendered:
                raise NothingToRenderError(f"nothing to render yet: no run of {path} has a snapshot" + _first_reason(left_out))
            _warn_left_out(path, left_out)
            outputs.update(render_comparison(rendered, path, fps=fps, workers=workers, max_frames=max_frames,
                                             quiver=quiver))
        return outputs


def _first_reason(left_out: dict[str, str]) -> str:
    """" (the first: WHY)" for the first run left out, '' when none was."""
    for why in left_out.values():
        return f" (the first: {why.removeprefix('nothing to render yet: ')})"
    return ""


def _warn_left_out(path: Path, left_out: dict[str, str]) -> None:
    for label, why in left_out.items():
        warnings.warn(f"{label!r} is left out of the pictures of {path}: {why}", RenderWarning, stacklevel=3)


def check_policy_read(base: RunConfig, configs: Sequence[RunConfig]) -> None:
    """Raise CompareError when ``base`` sets ``--diffaug-policy`` and none of ``configs`` (its members, from
    ``config_with_objective``) has a bare diffaug to read it: the flag would be ignored.

    Example:
        >>> check_policy_read(RunConfig(), [RunConfig()])  # no policy: nothing to read
    """
    if base.diffaug_policy is not None and not any(config.diffaug_policy is not None for config in configs):
        raise CompareError(f"--diffaug-policy {base.diffaug_policy} is the policy of a bare diffaug regularizer, and no "
                           "objective in --objectives has one: add it to those it is for, e.g. erm+diffaug")


def member_configs(base: RunConfig, specs: Sequence[str],
                   objective_options: Mapping[str, Any] | None = None) -> dict[str, RunConfig]:
    """Each spec of ``specs`` (``mixup``, ``erm+r1:10``, ...) -> its config from ``base``
    (``config_with_objective``), refusing a ``--diffaug-policy`` none of them reads (``check_policy_read``).

    Example:
        >>> list(member_configs(RunConfig(), ["erm", "mixup"]))
        ['erm', 'mixup']
    """
    configs = {spec: config_with_objective(base, spec, objective_options) for spec in specs}
    check_policy_read(base, list(configs.values()))
    return configs


def config_with_objective(base: RunConfig, spec: str, objective_options: Mapping[str, Any] | None = None) -> RunConfig:
    """``mixup`` or ``erm+r1:10+gp`` -> base config with that objective and regularizers, and
    ``objective_options`` (``--objective-option``) added to the base's, checked against that objective.

    A regularizer alone (``r1``, ``gp:5``) means the standard GAN with it, ``erm+r1``: the usual
    baseline it is compared as."""
    from gan_mixup.objectives import OBJECTIVES, options_of
    from gan_mixup.regularizers import REGULARIZERS

    name, *regularizers = spec.split("+")
    if name not in OBJECTIVES and name.partition(":")[0] in REGULARIZERS:
        name, regularizers = "erm", [name, *regularizers]
    alpha = base.alpha
    if name != "mixup" and name in OBJECTIVES and "alpha" in options_of(OBJECTIVES[name]):
        alpha = field_default("alpha")  # --alpha is mixup's; this objective's own α is --objective-option alpha
    regularizers = [*base.regularizers, *regularizers]
    # --diffaug-policy is the policy of a bare diffaug; a member without one has none to set.
    policy = base.diffaug_policy if "diffaug" in (spec.strip() for spec in regularizers) else None
    options = {**base.objective_options, **(objective_options or {})}
    return base.replace(objective=name, alpha=alpha, regularizers=tuple(regularizers), diffaug_policy=policy,
                        objective_options=options)



