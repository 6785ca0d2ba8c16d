"""One generator iteration: D steps, the G step, EMA, the queue of losses to check for NaN/Inf."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import torch
from torch import Tensor, nn

from gan_mixup import precision
from gan_mixup.training.objective import latent_term
from gan_mixup.training.outcomes import NonFiniteError
from gan_mixup.training.state import RunState


def train_step(state: RunState) -> tuple[Tensor, Tensor]:
    """One generator iteration: ``d_steps`` discriminator updates, then one generator update.

    Returns the last D loss and the G loss as detached tensors. No host sync happens here: an update
    whose loss is NaN/Inf is skipped on the device by fused Adam's ``found_inf`` input (the same
    mechanism ``torch.amp.GradScaler`` uses), and the iteration's losses are queued in
    ``state.pending_losses``; ``check_nonfinite`` inspects them all with one sync at the next log,
    snapshot or checkpoint, and records skips or stops the run (``on_nonfinite``) there.
    """
    cfg, G, D, objective = state.config, state.generator, state.discriminator, state.objective
    batch_size = state.batch_size  # per process: the global batch over the world size
    batch = batch_size * objective.batches_per_step
    objective.begin_iteration(state.iteration, cfg.iterations)  # e.g. instance noise annealing

    autocast = precision.autocast(state.device, cfg.amp)

    if cfg.d_steps == 1 and batch == batch_size:
        # One D step (DCGAN's setting): G runs once with grad, D trains on the detached fakes, and
        # G's loss reuses them through the updated D, as pytorch/examples' dcgan does; this saves
        # one G forward per iteration. G did not change in between, so the fakes are exactly what a
        # second forward on the same noise would give.
        with autocast:
            # Under autocast G's last layer gives bfloat16; the objectives take real and fake of one dtype.
            z = state.sample_noise(batch)
            fake = G(z).float()
        losses = [_d_step(state, state.sample_real(batch), fake.detach(), autocast, z)]
    else:
        # (1) Update D on the objective's batch, d_steps times. G does not change during these steps,
        # so one G forward for all of them gives exactly the fakes d_steps separate forwards would
        # (a G with BatchNorm normalises over all of them: one batch of d_steps x batch noise).
        with torch.no_grad(), autocast:
            zs = state.sample_noise(cfg.d_steps * batch)
            fakes = G(zs).float()
        reals = state.sample_real(cfg.d_steps * batch)
        losses = [_d_step(state, real, fake_batch, autocast, z)
                  for real, fake_batch, z in zip(reals.split(batch), fakes.split(batch), zs.split(batch))]
        fake = None

    # (2) Update G through D. D's weights need no gradient here, which saves one of D's backward GEMMs.
    D.requires_grad_(False)
    try:
        with autocast, _running_batchnorm(D, cfg.g_step_batchnorm == "running"):
            if fake is None:
                z = state.sample_noise(batch_size)
                fake = G(z).float()
            g_loss = objective.generator_loss(D, fake, state.sample_real(batch_size)).float()
            latent = latent_term(objective, D, G, z, fake, generator_step=True)  # zCR's G term, else None
            if latent is not None:
                g_loss = g_loss + latent.float()
        state.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
    finally:
        D.requires_grad_(True)
    g_loss = state.world.all_reduce_gradients(G, g_loss)  # the mean over the ranks (none to average alone)
    step_unless_nonfinite(state.opt_g, g_loss)
    if state.ema is not None:
        update_ema(state.ema, G, cfg.g_ema)
    losses.append(g_loss.detach())
    state.iteration += 1
    state.pending_losses.append((state.iteration, torch.stack(losses)))
    return losses[-2], losses[-1]


@contextmanager
def _running_batchnorm(D: nn.Module, running: bool) -> Iterator[None]:
    """With ``running``, D's BatchNorm layers normalise by their running statistics (eval mode)
    for the block and update none; their own modes are restored after."""
    layers = [m for m in D.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training] if running else []
    for layer in layers:
        layer.eval()
    try:
        yield
    finally:
        for layer in layers:
            layer.train()


def _d_step(state: RunState, real: Tensor, fake: Tensor, autocast: Any, z: Tensor) -> Tensor:
    """One discriminator update on ``real`` and (detached) ``fake`` = G(``z``); returns the detached loss."""
    with autocast:
        d_loss = state.objective.discriminator_loss(state.discriminator, real, fake).float()
        latent = latent_term(state.objective, state.discriminator, state.generator, z, fake)  # zCR's D term, else None
        if latent is not None:
            d_loss = d_loss + latent.float()
    state.opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    d_loss = state.world.all_reduce_gradients(state.discriminator, d_loss)
    step_unless_nonfinite(state.opt_d, d_loss)
    return d_loss.detach()


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema ← decay·ema + (1 − decay)·model for the weights; buffers (BatchNorm statistics) copied."""
    torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1.0 - decay)
    for ema_buffer, buffer in zip(ema.buffers(), model.buffers()):
        ema_buffer.copy_(buffer)


def step_unless_nonfinite(optimizer: torch.optim.Optimizer, loss: Tensor) -> None:
    """``optimizer.step()``, skipped on the device when ``loss`` is NaN/Inf, without a host sync.

    Fused Adam reads ``found_inf`` (a 0-dim float tensor, non-zero = skip) as GradScaler sets it:
    the parameters, moments and step count stay as they were.
    """
    optimizer.found_inf = (~torch.isfinite(loss.detach())).float().reshape(())  # type: ignore[attr-defined]
    try:
        optimizer.step()
    finally:
        del optimizer.found_inf  # type: ignore[attr-defined]


def check_nonfinite(state: RunState, on_nonfinite: str, checkpoint_iteration: int | None = None) -> list[tuple[int, str, float]]:
    """Inspect the losses queued since the last check (one host sync for all of them).

    Returns ``(iteration, "discriminator loss" | "generator loss", value)`` for every skipped update;
    with ``on_nonfinite="stop"`` raises ``NonFiniteError`` at the first instead (naming
    ``checkpoint_iteration``, the newest checkpoint on disk).
    """
    if not state.pending_losses:
        return []
    iterations = [it for it, _ in state.pending_losses]
    values = torch.stack([losses for _, losses in state.pending_losses]).float().cpu()  # (n, d_steps + 1)
    state.pending_losses.clear()
    bad = (~torch.isfinite(values)).nonzero().tolist()
    skipped = []
    for row, col in bad:
        what = "generator loss" if col == values.shape[1] - 1 else "discriminator loss"
        skipped.append((iterations[row], what, float(values[row, col])))
    if skipped and on_nonfinite == "stop":
        it, what, value = skipped[0]
        raise NonFiniteError(f"the {what} became {value} at iteration {it}", it, checkpoint_iteration, on_nonfinite)
    return skipped


def log_record(state: RunState, d_loss: Tensor, g_loss: Tensor) -> dict[str, Any]:
    """The ``metrics.jsonl`` record of one logged iteration (the only host syncs of the hot loop)."""
    stats = state.objective.last_stats
    record: dict[str, Any] = {"kind": "train", "iteration": state.iteration, "d_loss": d_loss.item(), "g_loss": g_loss.item()}
    for name in ("lam_mean", "d_real", "d_fake"):
        value = getattr(stats, name, None)
        if value is not None:
            record[name] = value.item()
    return record
