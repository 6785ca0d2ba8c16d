"""Where a training step's time goes: torch.profiler's self-CPU time per op, grouped into GEMMs,
optimizer, elementwise, reductions and losses, sampling, and the rest (Python, autograd, copies).

Run:  .venv/bin/python benchmarks/step_profile.py                         # the paper's toy GAN, width 512
      .venv/bin/python benchmarks/step_profile.py --preset paper-code --threads 1
      .venv/bin/python benchmarks/step_profile.py --lockstep 8 --width 128 # a sweep's 8 seeds in lockstep
      make bench-profile

Steady state: the models train ``--warmup`` iterations first (flush-to-zero on, as ``train`` runs),
then ``--iterations`` are profiled. The profiler adds a few microseconds to every op, so the small
ops' shares are overstated; the GEMM share is a lower bound of what an unprofiled step spends in
GEMMs (``toy_throughput.py`` measures that directly, against the GEMMs timed alone).
"""
from __future__ import annotations

import argparse
from collections import defaultdict

import torch
from torch.profiler import ProfilerActivity, profile

from harness import cpu_line

from gan_mixup import RunConfig
from gan_mixup.presets import load_preset
from gan_mixup.training import Lockstep, build_state, flush_denormals, keep_freed_memory, lockstep_step, train_step

# Op-name prefixes of each group (the first match counts); everything else is "other".
GROUPS = {
    "GEMM (mm, addmm, bmm, baddbmm)": ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"),
    "Adam (fused kernel)": ("aten::_fused_adam",),
    "Adam's Python and small ops (step counters, found_inf, zero_grad)": ("Optimizer.step", "Optimizer.zero_grad", "aten::add_", "aten::sub_",
                                                "aten::_to_copy", "aten::isfinite", "aten::bitwise_not"),
    "copies (mostly each bias, written into its GEMM's output)": ("aten::copy_",),
    "ReLU forward and backward": ("aten::clamp_min", "aten::relu", "aten::threshold_backward"),
    "bias gradients, means, losses": ("aten::sum", "aten::mean", "aten::binary_cross_entropy", "aten::sigmoid",
                                      "aten::mul", "aten::div", "aten::neg", "aten::exp", "aten::log"),
    "sampling (noise, data, λ, shuffles)": ("aten::randn", "aten::normal_", "aten::rand", "aten::uniform_",
                                           "aten::randint", "aten::random_", "aten::randperm", "aten::_standard_gamma",
                                           "aten::index", "aten::lerp", "aten::cat", "aten::stack"),
}


def group_of(name: str) -> str:
    for group, prefixes in GROUPS.items():
        if name.startswith(prefixes):
            return group
    return "other (autograd, views, allocation, Python)"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="none", help="paper-text, paper-code or none (the defaults)")
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--alpha", type=float, help="mixup's α (paper-code with --alpha 0: the authors' ERM batch)")
    parser.add_argument("--lockstep", type=int, default=0, help="profile N seeds in lockstep instead of one run")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--iterations", type=int, default=30)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    keep_freed_memory()
    fields = load_preset(args.preset) if args.preset != "none" else {}
    fields.update(hidden=args.width, iterations=10**6)
    if args.alpha is not None:
        fields["alpha"] = args.alpha
    configs = [RunConfig.from_dict({**fields, "seed": s}) for s in range(max(args.lockstep, 1))]
    with flush_denormals(True):
        if args.lockstep:
            group = Lockstep([build_state(c) for c in configs])

            def step() -> None:
                lockstep_step(group)
        else:
            state = build_state(configs[0])

            def step() -> None:
                train_step(state)
                if len(state.pending_losses) > 100:
                    state.pending_losses.clear()
        for _ in range(args.warmup):
            step()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(args.iterations):
                step()
    totals: dict[str, float] = defaultdict(float)
    for event in prof.key_averages():
        totals[group_of(event.key)] += event.self_cpu_time_total
    whole = sum(totals.values())
    what = f"{args.lockstep} seeds in lockstep" if args.lockstep else "one run"
    print(f"{what}, width {args.width}, preset {args.preset}{'' if args.alpha is None else f', alpha {args.alpha}'}, "
          f"{cpu_line(args.threads)}: {whole / args.iterations / 1e3:.1f} ms of self-CPU "
          "time per iteration under the profiler")
    print("| where | share |\n|---|---|")
    shares = {group: totals[group] / whole for group in sorted(totals, key=totals.get, reverse=True)}
    for group, share in shares.items():
        print(f"| {group} | {100 * share:.1f}% |")
    return shares


if __name__ == "__main__":
    main()
