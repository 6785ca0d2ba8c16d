"""The one training loop, for toy points and images alike: D steps per G step, snapshots, metrics,
checkpoints, resume, a locked run directory.

``gan_mixup.train`` is the function (``from gan_mixup import train``); its parts live here:
``state`` (``RunState``: building a run, saving and loading it, taking its checkpoint), ``device``
(where it trains), ``objective`` (the objective its config names), ``checks`` (what start-up
refuses), ``parallel`` (a rank's share of a data-parallel run), ``step`` (one generator
iteration), ``schedule`` (what an iteration records, and its one agreed decision), ``loop``
(``train``), ``recorder`` (the sink of records, snapshots and checkpoints), ``opening`` (opening a
run directory: new, resumed or replaced), ``process`` (process settings while training),
``batched`` (a sweep's seeds in lockstep), ``outcomes`` (what ``train`` raises and returns). The collectives of a
data-parallel run are ``gan_mixup.distributed``'s. The parts that benchmarks and tools drive directly
(one step, a snapshot, the process settings, a lockstep group) are exported here too.
"""
from gan_mixup.training.batched import Lockstep, lockstep_step
from gan_mixup.training.loop import train
from gan_mixup.training.outcomes import (
    NonFiniteError,
    ResumeError,
    StopTraining,
    TrainingInterrupted,
    TrainingSetupError,
    TrainResult,
)
from gan_mixup.training.process import denormals_flushed, flush_denormals, keep_freed_memory
from gan_mixup.training.recorder import take_snapshot
from gan_mixup.training.schedule import metric_schedule
from gan_mixup.training.checks import check_config
from gan_mixup.training.objective import build_objective
from gan_mixup.training.state import RunState, build_state
from gan_mixup.training.step import check_nonfinite, log_record, train_step

__all__ = ["Lockstep", "NonFiniteError", "ResumeError", "RunState", "StopTraining", "TrainResult", "TrainingInterrupted",
           "TrainingSetupError", "build_objective", "build_state", "check_config", "check_nonfinite",
           "denormals_flushed", "flush_denormals", "keep_freed_memory", "lockstep_step", "log_record",
           "metric_schedule", "take_snapshot", "train", "train_step"]
