"""Data-parallel training over several processes with torch.distributed, as ``torchrun`` starts them.

``torchrun --nproc_per_node 2 -m gan_mixup.cli images ...`` starts two processes with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` set. ``process_group()`` joins
them (gloo for CPU tensors, NCCL for CUDA ones, each process on ``cuda:LOCAL_RANK``), and the trainer
then splits the global batch over the ranks. What every rank does differently lives here:

One ``World`` type describes the processes of a run, and its methods are the collectives:

- ``all_reduce_gradients`` averages a module's gradients over the ranks after each backward, in one
  flat all-reduce, the way NVlabs' StyleGAN2-ADA does it instead of wrapping G and D in
  ``DistributedDataParallel``: DDP's reducer supports neither the double backward of R1 and gradient
  penalties (``autograd.grad(create_graph=True)``) nor toggling ``requires_grad`` on D during the G
  step, and it would see G's parameters as unused in D's step. The loss rides along in the same
  buffer, so every rank gets the global mean loss and skips (or stops on) a NaN of any rank alike.
- ``agree``: stop decisions (SIGINT/SIGTERM, a due checkpoint) are taken together, so no rank waits
  in a collective that another rank never enters.
- ``main_decides``: rank 0 alone touches the run directory; the others receive its result, or its
  error, and raise the same error, so a user mistake ends every rank alike instead of hanging them.

A single process (``WORLD_SIZE`` unset or 1) is a world of one: ``this_world()`` and
``process_group()`` give ``SINGLE_PROCESS``, whose collectives do no communication, so the trainer
and the CLI have one code path.

Example (2 processes on one machine; ``--nnodes`` / ``--rdzv-endpoint`` for several)::

    torchrun --standalone --nproc_per_node 2 -m gan_mixup.cli images --dataset digits --out runs/ddp

    >>> this_world() is SINGLE_PROCESS  # a plain process: no process group
    True
"""
from __future__ import annotations

import importlib
import os
import pickle
import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor, nn

from gan_mixup.errors import GanMixupError

T = TypeVar("T")


class DistributedError(GanMixupError, RuntimeError):
    """Another rank stopped on a user mistake; this rank stops too (rank 0 reports it)."""


@dataclass(frozen=True)
class World:
    """The processes that train one run, seen from this one; its methods are the collectives.

    A world of one (``SINGLE_PROCESS``) communicates with nobody: a gradient average leaves the
    gradients as they are, an agreement is this process's own values, rank 0's work is just done.
    """

    rank: int  # 0 .. world_size - 1; rank 0 writes the run directory
    world_size: int
    local_rank: int  # the process's index on its machine: its GPU

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def alone(self) -> bool:
        """A world of one: every collective is a no-op."""
        return self.world_size == 1

    def all_reduce_gradients(self, module: nn.Module, loss: Tensor) -> Tensor:
        """Average ``module``'s gradients over the ranks in place; return the loss averaged likewise.

        One flat all-reduce per backward: gradients (those not ``None``; every rank runs the same
        graph, so the same ones) and the detached loss are concatenated, summed and divided by the
        world size. The averaged gradient is the gradient of the loss over the global batch (each
        rank's loss is a mean over an equal share). The returned loss is NaN/Inf when any rank's
        was, so a skip or stop decision made from it is the same on every rank. Alone: ``loss``.

        Example (any world, one process included)::

            d_loss.backward()
            d_loss = world.all_reduce_gradients(D, d_loss)
            optimizer.step()
        """
        if self.alone:
            return loss
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        flat = torch.cat([g.reshape(-1) for g in grads]
                         + [loss.detach().reshape(1).to(grads[0].dtype if grads else torch.float32)])
        dist.all_reduce(flat)
        flat.div_(self.world_size)
        offset = 0
        for g in grads:
            g.copy_(flat[offset: offset + g.numel()].view_as(g))
            offset += g.numel()
        return flat[-1].to(loss.dtype)

    def agree(self, values: list[int], device: torch.device) -> list[int]:
        """The element-wise maximum of ``values`` over the ranks, the same list on every rank.

        Example: ``world.agree([signal_number, checkpoint_due], device)`` gives every rank the signal
        any rank received and whether any rank's clock says a checkpoint is due.
        """
        if self.alone:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.int64, device=device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return [int(v) for v in tensor.tolist()]

    def broadcast_from_main(self, module: nn.Module, parameters: bool = True) -> None:
        """Copy rank 0's parameters (unless ``parameters=False``) and buffers into every rank's ``module``.

        At the start it makes every rank's model rank 0's (DDP does the same). At a checkpoint it
        equalises the buffers only (BatchNorm running statistics): training-mode forwards never read
        them, so each rank's copy drifts harmlessly, and afterwards every rank holds what the
        checkpoint holds, so a resume restores every rank exactly.
        """
        if self.alone:
            return
        with torch.no_grad():
            for tensor in [*(module.parameters() if parameters else ()), *module.buffers()]:
                dist.broadcast(tensor.detach(), src=0)

    def gather_to_main(self, obj: T) -> list[T] | None:
        """Every rank's ``obj`` as a list on rank 0 (in rank order); ``None`` on the other ranks."""
        if self.alone:
            return [obj]
        gathered: list[Any] | None = [None] * self.world_size if self.is_main else None
        dist.gather_object(obj, gathered, dst=0)
        return gathered

    def all_gather(self, obj: T) -> list[T]:
        """Every rank's ``obj``, in rank order, on every rank."""
        if self.alone:
            return [obj]
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, obj)
        return gathered

    def main_decides(self, work: Callable[[], T]) -> T:
        """Run ``work`` on rank 0 alone and give every rank its result, or raise its error everywhere.

        For what only rank 0 may do (read or create the run directory): the other ranks wait for the
        outcome instead of racing ahead into a collective rank 0 will never reach. An exception of
        rank 0 is re-raised on rank 0 unchanged and on the others as the same exception when it can
        be sent (``GanMixupError``s, ``OSError``, ``KeyboardInterrupt``), else as
        ``DistributedError``; so the CLI exits every rank with the same code.

        Example:
            >>> SINGLE_PROCESS.main_decides(lambda: 42)
            42
        """
        if self.alone:
            return work()
        outcome: list[Any] = [None]
        if not self.is_main:
            dist.broadcast_object_list(outcome, src=0)
            status, value = outcome[0]
            if status == "error":
                raise value
            return value
        try:
            result = work()
        except BaseException as err:
            outcome[0] = ("error", _sendable(err))
            dist.broadcast_object_list(outcome, src=0)
            raise
        outcome[0] = ("ok", result)
        dist.broadcast_object_list(outcome, src=0)
        return result


SINGLE_PROCESS = World(rank=0, world_size=1, local_rank=0)


def launched_size() -> int:
    """The world size torchrun set in ``WORLD_SIZE`` (1 when unset: a plain process)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def this_world() -> World:
    """The world this process trains in: its process group, or ``SINGLE_PROCESS`` (no group, or a
    group of one).

    Example:
        >>> this_world() is SINGLE_PROCESS  # a plain process
        True
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return SINGLE_PROCESS
    rank = dist.get_rank()
    return World(rank, dist.get_world_size(), int(os.environ.get("LOCAL_RANK", rank)))


def is_main_process() -> bool:
    """Whether this process reports and writes: rank 0, or a single process.

    Works before the process group exists too (from torchrun's ``RANK``), so the CLI can print a
    start-up mistake once instead of once per process.
    """
    world = this_world()
    if not world.alone:
        return world.is_main
    return os.environ.get("RANK", "0") == "0"


@contextmanager
def process_group() -> Iterator[World]:
    """Join torchrun's process group for the block and leave it after; yields the ``World``.

    With ``WORLD_SIZE`` unset or 1 nothing happens and the block gets ``SINGLE_PROCESS``. With CUDA
    present each process works on ``cuda:LOCAL_RANK`` (so ``--device auto`` and ``cuda`` mean that
    GPU) and CUDA tensors go through NCCL, CPU tensors through gloo; without CUDA everything uses
    gloo. A group the caller already made is used as it is and left open. When the block ends
    normally every rank waits for the others (a barrier) before the group is destroyed; after an
    exception it is destroyed at once.
    """
    if launched_size() < 2 or dist.is_initialized():
        yield this_world()
        return
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        backend = "cpu:gloo,cuda:nccl"
    else:
        backend = "gloo"
    # torch.distributed.nn evaluates ``group.WORLD`` into default arguments when first imported,
    # and torch._dynamo imports it (torch.optim does, on the first optimiser). Imported while the
    # group exists, it would hold the group past destroy_process_group, and gloo's worker threads
    # with it: at interpreter shutdown such a thread, letting go of the last collective's tensors,
    # takes the GIL of a finalizing interpreter, and the process aborts ("terminate called without
    # an active exception"). Imported before the group, it binds None.
    importlib.import_module("torch.distributed.nn")

    dist.init_process_group(backend)
    try:
        yield this_world()
        # No rank leaves while another may still exchange data with it (a closed connection can
        # cut off data not yet read). Not after an exception: that rank may have failed alone,
        # with the others in another collective, which a barrier would be matched with.
        dist.barrier()
    finally:
        dist.destroy_process_group()


def ignore_sigterm_while_exiting() -> None:
    """Ignore SIGTERM from now on, so that this process ends with the exit code it already decided.

    For a process about to exit under torchrun, which sends SIGTERM to every rank still running as
    soon as one rank exits with a non-zero code, and reports those ranks as killed by it. When the
    ranks stop on one decision (rank 0 refuses the run, a NaN, Ctrl-C) the first one out would have
    the others killed while they leave the group or shut down; ignoring it, each finishes (torchrun
    waits 30 s before a SIGKILL) and torchrun reports every rank's own code. The CLI calls it only
    when it runs as the program, which ends right after. Does nothing off the main thread.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _sendable(err: BaseException) -> BaseException:
    """``err`` itself when it survives pickling, else a ``DistributedError`` carrying its message."""
    try:
        copy = pickle.loads(pickle.dumps(err))
        if type(copy) is type(err) and str(copy) == str(err):
            return err
    except Exception:
        pass
    return DistributedError(f"rank 0 stopped: {type(err).__name__}: {err}")
