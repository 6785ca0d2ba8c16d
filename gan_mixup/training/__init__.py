"""The one training loop, for toy points and images alike: D steps per G step, snapshots, metrics,
checkpoints, resume, a locked run directory.

``gan_mixup.train`` is the function (``from gan_mixup import train``); its parts live here:
``state`` (RunState, building a run), ``step`` (one G iteration), ``loop`` (``train``),
``recorder`` (records, snapshots, checkpoints), ``checkpoint`` (the run directory), ``distributed``
(data-parallel ranks), ``process`` (process settings while training), ``batched`` (seeds in lockstep).
"""
from gan_mixup.training.errors import (
    NonFiniteError,
    ResumeError,
    StopTraining,
    TrainingInterrupted,
    TrainingSetupError,
    TrainResult,
)
from gan_mixup.training.loop import train
from gan_mixup.training.state import RunState, build_objective, build_state, check_config

__all__ = ["NonFiniteError", "ResumeError", "RunState", "StopTraining", "TrainResult", "TrainingInterrupted",
           "TrainingSetupError", "build_objective", "build_state", "check_config", "train"]
