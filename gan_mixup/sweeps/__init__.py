"""Many runs over seeds and settings, and the stability scorecard over them.

A sweep is a collection directory (``gan_mixup.collection``): one ordinary run directory per
member (``render`` and ``metrics`` work on each), a ``runs.json`` manifest, ``results.csv`` (one row
per run x snapshot iteration), ``scorecard.md``, ``scorecard.png`` (modes covered against
iteration, a band over seeds, one panel per setting) and ``gradients.png`` (D's input-gradient
norms). The modules: ``plan`` (the members), ``run`` (training them, resuming), ``jobs`` (worker
processes and lockstep groups), ``cluster`` (Slurm or local tasks through submitit),
``directory`` (reading a sweep folder and each member's state), ``progress`` (how far a sweep has come,
without a result: ``gan-mixup status``), ``scorecard`` (results.csv, the
scorecard and the robustness report), ``survival`` (Kaplan–Meier time to failure per arm) and
``paired`` (each arm against ERM seed by seed: sign and Wilcoxon tests).

Example:
    >>> from gan_mixup import RunConfig
    >>> members = sweep_members({("ring8", ""): RunConfig(iterations=200, hidden=32)},
    ...                         objectives=["erm", "mixup"], alphas=[0.2], seeds=[0, 1])
    >>> [m.name for m in members]
    ['ring8-erm-seed0', 'ring8-erm-seed1', 'ring8-mixup-a0.2-seed0', 'ring8-mixup-a0.2-seed1']
    >>> run_sweep(members, "runs/sweep", workers=2)  # doctest: +SKIP
"""
from gan_mixup.sweeps.directory import DamagedManifestError, SweepError, SweepMember, member_status, read_sweep
from gan_mixup.sweeps.jobs import MAX_WORKERS, SweepInterrupted
from gan_mixup.sweeps.plan import (AUTHORS_ALPHAS, AUTHORS_LATENT_DIMS, HYPERPARAMETER_AXES, MAX_SEEDS, SweepGrid,
                                   authors_grid, parse_seeds, sweep_bases, sweep_members)
from gan_mixup.sweeps.run import SweepResult, run_sweep
from gan_mixup.sweeps.scorecard import robustness, write_scorecard

__all__ = ["AUTHORS_ALPHAS", "AUTHORS_LATENT_DIMS", "DamagedManifestError", "HYPERPARAMETER_AXES", "MAX_SEEDS", "MAX_WORKERS",
           "SweepError", "SweepGrid", "SweepInterrupted", "SweepMember", "SweepResult", "authors_grid", "member_status",
           "parse_seeds", "read_sweep", "robustness", "run_sweep", "sweep_bases", "sweep_members", "write_scorecard"]
