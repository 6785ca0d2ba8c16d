"""Several toy runs trained as one batched computation: a sweep's seeds in lockstep.

At the toy sizes one run cannot fill the machine (width 128 runs at about a third of the matmul
limit: every op is small and the per-op overhead dominates). Here N runs of one setting that differ
only in their seed are trained together: their G and D weights are stacked
(``torch.func.stack_module_state``) and evaluated with ``torch.func.vmap`` over
``functional_call``, so each layer is one batched matmul for all N; one fused Adam updates the
stacked weights, which is N independent Adams (Adam is element-wise). Each member keeps its own
RunState: its own initial weights, data, noise and λ streams from its own seed, and its own run
directory with the same snapshots, metrics, checkpoints and lock as ``train`` writes.

Reproducibility: a batched member is a function of its seed alone (never of the other members), but
it is not bit-identical to the same run trained alone: batched matmuls sum in another order, so the
low bits differ and grow over a long run. Its checkpoint has the ordinary format, so ``train`` can
resume it (unbatched) and vice versa.

Example:
    >>> from gan_mixup import RunConfig
    >>> configs = [RunConfig(iterations=200, hidden=128, seed=s) for s in range(8)]
    >>> train_batched(configs, [f"runs/b/seed{s}" for s in range(8)])  # doctest: +SKIP
"""
from __future__ import annotations

import copy
from contextlib import ExitStack
from pathlib import Path
from typing import Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from gan_mixup.config import RunConfig
from gan_mixup.errors import GanMixupError
from gan_mixup.modalities import modality_of
from gan_mixup.objectives import OBJECTIVES, TermObjective
from gan_mixup.rundir import locked
from gan_mixup.training.opening import prepare_run_dir
from gan_mixup.training.outcomes import Callback, NonFiniteError, TrainingInterrupted
from gan_mixup.training.process import signals_to_flag, flush_denormals, keep_freed_memory
from gan_mixup.training.recorder import Recorder
from gan_mixup.training.schedule import Schedule, metric_schedule
from gan_mixup.training.state import RunState, build_state, make_adam
from gan_mixup.training.step import log_record


class BatchingError(GanMixupError, ValueError):
    """Configs that cannot be trained as one batch (they differ in more than the seed, or use a
    feature the batched path does not have)."""


# Wider networks fill the machine alone: in lockstep they train slower than one after another
# (0.94x at width 512 in benchmarks/sweep_throughput.py, against 2.0-2.4x at width 128).
MAX_BATCHED_WIDTH = 256


def batchable(config: RunConfig) -> str | None:
    """Why ``config`` cannot be trained batched, or ``None`` when it can: a modality that trains in
    lockstep (toy points), an objective whose D loss is all terms (every built-in one but wgan-gp,
    whose penalty needs D's input gradient), no regularizers, no spectral
    norm, no EMA, no --amp, width at most ``MAX_BATCHED_WIDTH``."""
    modality = modality_of(config.dataset)
    if not modality.lockstep:
        return f"{modality.name} runs train one at a time"
    if config.hidden > MAX_BATCHED_WIDTH:
        return f"width {config.hidden} fills the machine alone (batching pays up to width {MAX_BATCHED_WIDTH})"
    if OBJECTIVES[config.objective].discriminator_penalty is not TermObjective.discriminator_penalty:
        return f"{config.objective}'s gradient penalty is not batched"
    if OBJECTIVES[config.objective].not_in_lockstep:
        return OBJECTIVES[config.objective].not_in_lockstep
    if config.regularizers:
        return "regularizers are not batched"
    if config.spectral_norm:
        return "spectral norm is not batched"
    if config.g_ema:
        return "an EMA generator is not batched"
    if config.on_nonfinite != "stop":
        return "--on-nonfinite skip is not batched"
    if config.amp:
        return "--amp (bfloat16 autocast) is not batched"
    return None


def same_setting(a: RunConfig, b: RunConfig) -> bool:
    """Whether two configs differ at most in their seed."""
    return a.replace(seed=0) == b.replace(seed=0)


class StackedModels:
    """N modules of one architecture as stacked weights: ``(N, B, ...) -> (N, B, ...)``.

    A plain MLP (``nn.Sequential`` of ``nn.Linear`` and ``nn.ReLU``, the toy G and D) runs as one
    ``torch.baddbmm`` per layer, the bias added inside the batched GEMM; any other module runs
    through ``vmap`` over ``functional_call``, which lowers each Linear to a ``bmm`` and a separate
    broadcast add. The two agree up to rounding, not bit for bit: the fused GEMM starts its sum
    from the bias, ``bmm`` adds it last, and which low bits that changes depends on the CPU's GEMM
    kernels (equal bits on an Intel Xeon with AMX up to width 256, not on an AMD EPYC). What the
    lockstep trainer promises rests on neither: a member depends only on its own seed, on one machine
    (CPU model) and thread count. The fused form is 1.2-2.5x faster at the toy sizes.
    """

    def __init__(self, modules: Sequence[nn.Module]) -> None:
        self.params, self.buffers = stack_module_state(list(modules))
        self.base = copy.deepcopy(modules[0]).to("meta")
        self._layers = _plain_mlp_layers(modules[0])

        def call(params: dict[str, Tensor], buffers: dict[str, Tensor], x: Tensor) -> Tensor:
            return functional_call(self.base, (params, buffers), (x,))

        self._call = vmap(call)

    def __call__(self, x: Tensor) -> Tensor:
        if self._layers is None:
            return self._call(self.params, self.buffers, x)
        for prefix, relu in self._layers:
            weight, bias = self.params[prefix + "weight"], self.params[prefix + "bias"]
            # A contiguous (N, in, out) weight: the layers with one or two outputs run 1.8x faster
            # than on the transposed view (same bits). ReLU in place: baddbmm's backward does not
            # need its output, so no second activation tensor is allocated.
            x = torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2).contiguous())
            if relu:
                x = torch.relu_(x)
        return x

    def parameters(self) -> list[Tensor]:
        return list(self.params.values())

    def requires_grad_(self, flag: bool) -> None:
        for p in self.params.values():
            p.requires_grad_(flag)

    @torch.no_grad()
    def copy_to(self, modules: Sequence[nn.Module]) -> None:
        for k, module in enumerate(modules):
            for name, p in module.named_parameters():
                p.copy_(self.params[name][k])


def _plain_mlp_layers(module: nn.Module) -> list[tuple[str, bool]] | None:
    """``[(parameter prefix, ReLU after it)]`` for an ``nn.Sequential`` of biased ``nn.Linear`` and
    ``nn.ReLU`` (no parametrizations, no buffers) on 2-D inputs; ``None`` for anything else."""
    if type(module) is not nn.Sequential or list(module.buffers()):
        return None
    layers: list[tuple[str, bool]] = []
    for name, child in module.named_children():
        if type(child) is nn.Linear and child.bias is not None:
            layers.append((f"{name}.", False))
        elif type(child) is nn.ReLU and layers and not layers[-1][1] and not child.inplace:
            layers[-1] = (layers[-1][0], True)
        else:
            return None
    return layers or None


def _stack_adam(optimizer: torch.optim.Adam, stacked: StackedModels, members: Sequence[torch.optim.Optimizer],
                modules: Sequence[nn.Module]) -> None:
    """Stack the members' Adam states (after a resume) into ``optimizer`` over the stacked weights."""
    names = [name for name, _ in modules[0].named_parameters()]
    first = members[0].state
    if not first:
        return
    for name in names:
        states = [opt.state[dict(module.named_parameters())[name]] for opt, module in zip(members, modules)]
        optimizer.state[stacked.params[name]] = {
            "step": states[0]["step"].clone(),
            "exp_avg": torch.stack([s["exp_avg"] for s in states]),
            "exp_avg_sq": torch.stack([s["exp_avg_sq"] for s in states]),
        }


@torch.no_grad()
def _unstack_adam(optimizer: torch.optim.Adam, stacked: StackedModels, members: Sequence[torch.optim.Optimizer],
                  modules: Sequence[nn.Module]) -> None:
    """Write the stacked Adam state back into each member's own optimizer (for its checkpoint)."""
    for k, (opt, module) in enumerate(zip(members, modules)):
        for name, p in module.named_parameters():
            state = optimizer.state.get(stacked.params[name])
            if state:
                opt.state[p] = {"step": state["step"].clone(), "exp_avg": state["exp_avg"][k].clone(),
                                "exp_avg_sq": state["exp_avg_sq"][k].clone()}


class Lockstep:
    """N RunStates of one setting and their stacked models and optimisers."""

    def __init__(self, states: list[RunState]) -> None:
        self.states = states
        self.G = StackedModels([s.generator for s in states])
        self.D = StackedModels([s.discriminator for s in states])
        config = states[0].config
        # The members' own optimiser (make_adam: fused Adam is element-wise), over the stacked weights.
        self.opt_g = make_adam(self.G.parameters(), config)
        self.opt_d = make_adam(self.D.parameters(), config)
        _stack_adam(self.opt_g, self.G, [s.opt_g for s in states], [s.generator for s in states])
        _stack_adam(self.opt_d, self.D, [s.opt_d for s in states], [s.discriminator for s in states])

    def sync_members(self) -> None:
        """Copy the stacked weights and Adam states into each member's own models and optimisers."""
        self.G.copy_to([s.generator for s in self.states])
        self.D.copy_to([s.discriminator for s in self.states])
        _unstack_adam(self.opt_g, self.G, [s.opt_g for s in self.states], [s.generator for s in self.states])
        _unstack_adam(self.opt_d, self.D, [s.opt_d for s in self.states], [s.discriminator for s in self.states])


def lockstep_step(lockstep: Lockstep) -> tuple[Tensor, Tensor]:
    """One generator iteration of every member, as ``train_step`` does it for one: ``d_steps`` D
    updates on fakes from one G forward, then one G update. Returns the last D and the G losses,
    ``(N,)`` each, detached. The losses are each member's objective's own, derived from its terms
    by ``TermObjective.stacked_losses`` as for a single run (each member draws its λ and shuffles
    from its own stream), with one batched D forward for all. A member whose loss turns NaN/Inf
    only poisons its own slice of the stacked weights (its gradients touch nothing else); the loop
    stops recording it."""
    states = lockstep.states
    cfg = states[0].config
    objectives = [s.objective for s in states]
    objective = objectives[0]
    batch = cfg.batch_size * objective.batches_per_step
    with torch.no_grad():
        fakes = lockstep.G(torch.stack([s.sample_noise(cfg.d_steps * batch) for s in states]))
    reals = torch.stack([s.sample_real(cfg.d_steps * batch) for s in states])
    for step in range(cfg.d_steps):
        part = slice(step * batch, (step + 1) * batch)
        d_losses = objective.stacked_losses(lockstep.D, objectives, reals[:, part], fakes[:, part])
        lockstep.opt_d.zero_grad(set_to_none=True)
        d_losses.sum().backward()
        lockstep.opt_d.step()
    fake = lockstep.G(torch.stack([s.sample_noise(cfg.batch_size) for s in states]))
    real = torch.stack([s.sample_real(cfg.batch_size) for s in states])
    lockstep.D.requires_grad_(False)
    try:
        g_losses = objective.stacked_losses(lockstep.D, objectives, real, fake, generator=True)
        lockstep.opt_g.zero_grad(set_to_none=True)
        g_losses.sum().backward()
    finally:
        lockstep.D.requires_grad_(True)
    lockstep.opt_g.step()
    for s in states:
        s.iteration += 1
    return d_losses.detach(), g_losses.detach()


def train_batched(
    configs: Sequence[RunConfig],
    run_dirs: Sequence[str | Path],
    *,
    resume: bool = False,
    overwrite: bool = False,
    callbacks: Sequence[Sequence[Callback]] | None = None,
    handle_signals: bool = False,
    flush_denormal: bool = True,
) -> list[str]:
    """Train ``configs`` (one setting, different seeds) in lockstep into ``run_dirs``.

    Each member's run directory is what ``train`` would write (locked while training), on the same
    schedule (``Schedule``) and through the same recorder. With ``resume`` each member continues
    from its own checkpoint; members at different iterations are trained in separate lockstep
    groups. ``callbacks[k]`` are member k's callbacks; one that raises ``StopTraining`` ends that
    member (checkpointed, ``done``) and the others go on. Returns each member's status: ``done`` or
    ``diverged`` (stopped on a non-finite loss; the others go on). SIGINT/SIGTERM
    (``handle_signals``) checkpoint every member and raise ``TrainingInterrupted``.
    """
    if len(configs) != len(run_dirs) or not configs:
        raise BatchingError("train_batched needs one run directory per config, and at least one config")
    for config in configs:
        why = batchable(config)
        if why:
            raise BatchingError(f"cannot train {config.objective} on {config.dataset} batched: {why}")
        if not same_setting(config, configs[0]):
            raise BatchingError("batched runs must differ only in their seed")
    callbacks = callbacks or [[] for _ in configs]
    keep_freed_memory()
    states = [build_state(c) for c in configs]
    dirs = [Path(d) for d in run_dirs]
    statuses = ["done"] * len(configs)
    with flush_denormals(flush_denormal), ExitStack() as stack:
        for d in dirs:  # every lock before any directory is touched: a refused member leaves the others as they were
            stack.enter_context(locked(d))
        recorders = []
        for d, s, cb in zip(dirs, states, callbacks):
            checkpoint = prepare_run_dir(d, s.config, s, resume=resume, overwrite=overwrite)
            if checkpoint is not None:
                s.load_state_dict(checkpoint)
            recorders.append(stack.enter_context(Recorder.for_rank(d, s, checkpoint, cb, record=True)))
        by_iteration: dict[int, list[int]] = {}
        for k, s in enumerate(states):
            by_iteration.setdefault(s.iteration, []).append(k)
        with signals_to_flag(handle_signals) as signalled:
            for members in by_iteration.values():
                _run_group([states[k] for k in members], [recorders[k] for k in members], dirs[members[0]],
                           signalled, statuses, members)
    return statuses


def _run_group(states: list[RunState], recorders: list[Recorder], first_dir: Path, signalled: list[str],
               statuses: list[str], indices: list[int]) -> None:
    """Train one lockstep group to the end, on ``train``'s schedule: each iteration records what the
    schedule says, then checkpoints when it decides; a member whose loss turned non-finite, or whose
    callback asked to stop, leaves the group."""
    config = states[0].config
    if states[0].iteration >= config.iterations:
        return
    lockstep = Lockstep(states)
    schedule = Schedule(config, metric_iterations=metric_schedule(config))
    alive = list(range(len(states)))
    if states[0].iteration == 0:
        for k in alive:
            recorders[k].snapshot(states[k], with_metrics=schedule.metrics_at(0))
    while states[0].iteration < config.iterations and alive:
        d_losses, g_losses = lockstep_step(lockstep)
        it = states[0].iteration
        due = schedule.records(it)
        synced = False
        if due.check:
            _drop_diverged(d_losses, g_losses, alive, recorders, statuses, indices, it)
        if due.log:
            for k in alive:
                recorders[k].emit(log_record(states[k], d_losses[k], g_losses[k]))
        if due.snapshot:
            lockstep.sync_members()
            synced = True
            for k in alive:
                recorders[k].snapshot(states[k], with_metrics=due.metrics)
        decision = schedule.decide(it, signalled[0] if signalled else None, stop_requested=False)
        leaving = [k for k in alive if recorders[k].stop_requested]
        if decision.checkpoint or leaving:
            if not due.check:
                _drop_diverged(d_losses, g_losses, alive, recorders, statuses, indices, it)
            if not synced:
                lockstep.sync_members()
            for k in [k for k in alive if decision.checkpoint or k in leaving]:
                try:
                    recorders[k].checkpoint(states[k].checkpoint(recorders[k].checkpoint_iteration), states[k].iteration)
                except NonFiniteError as err:
                    alive.remove(k)
                    statuses[indices[k]] = "diverged"
                    recorders[k].event(err.iteration, "nonfinite", str(err))
            alive[:] = [k for k in alive if k not in leaving]
        if decision.signal_name is not None:
            raise TrainingInterrupted(first_dir, it, decision.signal_name)


def _drop_diverged(d_losses: Tensor, g_losses: Tensor, alive: list[int], recorders: list[Recorder],
                   statuses: list[str], indices: list[int], iteration: int) -> None:
    """Stop recording the members whose last D or G loss is non-finite (one sync for all members)."""
    finite = torch.isfinite(torch.stack([d_losses, g_losses])).all(0).tolist()
    for k in [k for k in alive if not finite[k]]:
        alive.remove(k)
        statuses[indices[k]] = "diverged"
        recorders[k].event(iteration, "nonfinite", f"a loss became non-finite by iteration {iteration} (batched run)")
