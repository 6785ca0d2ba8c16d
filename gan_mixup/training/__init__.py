"""The one training loop, for toy points and images alike: D steps per G step, snapshots, metrics,
checkpoints, resume, a locked run directory.

``gan_mixup.train`` is the function (``from gan_mixup import train``); its parts live here:
``state`` (``RunState``: building a run, a rank's share of it, saving and loading it), ``step`` (one
generator iteration), ``schedule`` (what an iteration records, and its one agreed decision),
``loop`` (``train``), ``recorder`` (the sink of records, snapshots and checkpoints), ``checkpoint``
(opening a run directory), ``process`` (process settings while training), ``batched`` (a sweep's
seeds in lockstep), ``outcomes`` (what ``train`` raises and returns). The collectives of a
data-parallel run are ``gan_mixup.distributed``'s.
"""
from gan_mixup.training.loop import train
from gan_mixup.training.outcomes import (
    NonFiniteError,
    ResumeError,
    StopTraining,
    TrainingInterrupted,
    TrainingSetupError,
    TrainResult,
)
from gan_mixup.training.state import RunState, build_objective, build_state, check_config

__all__ = ["NonFiniteError", "ResumeError", "RunState", "StopTraining", "TrainResult", "TrainingInterrupted",
           "TrainingSetupError", "build_objective", "build_state", "check_config", "train"]
