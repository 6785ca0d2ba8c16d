"""``--amp`` on the CPU: float32 vs bfloat16 autocast, the DCGAN and the toy GAN, side by side; and,
with ``--effect``, what bfloat16 does to the results.

Run:  .venv/bin/python benchmarks/amp_cpu.py [--threads T] [--json PATH]     # ~3 minutes on 2 cores
      .venv/bin/python benchmarks/amp_cpu.py --effect                        # + ~5 minutes of short trainings
      .venv/bin/python benchmarks/amp_cpu.py --quick                         # a ~30 s smoke run

Speed. Two settings, each trained by ``gan_mixup.training.train_step`` (the trainer's own step, inside
``flush_denormals`` as ``train`` runs it) on two states built from one config and one seed, one with
``amp=False`` and one with ``amp=True``:

- images: DCGAN on the bundled digits at 32 px, base width 64 (``--hidden 64``: G 100→256→128→64→1,
  D 1→64→128→256→1 channels), batch 64, 1 D step, mixup α = 0.2 (``gan-mixup images`` defaults);
- toy: the paper's GAN, G and D MLPs of 3×512 ReLU, batch 128, 5 D steps per G step, mixup α = 0.2, ring8.

Each state is warmed up, then timed in blocks of the same iteration count, float32 and bfloat16 in
alternation (``harness.alternate``: the order flips every round), so a slow minute on a shared machine
slows both members of a pair. The ratio is taken per pair (bfloat16 rate / float32 rate of the adjacent
blocks) and the table reports the median pair, with the median rates and how many pairs ran while other
processes kept less than 0.1 core busy (``harness.OtherLoad``).

Effect (``--effect``): the toy GAN where precision matters most, ring8 (σ = 0.01) with the authors'
``paper-code`` preset at width 128 for 2,000 iterations, float32 vs bfloat16, per seed: modes covered
and high-quality rate (within 3σ) of G(fixed noise) evaluated in float32 and under autocast; and the
digits at 16 px, width 32, 300 iterations: ``frechet_digits`` and modes of the last snapshot.
"""
from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

import torch

from harness import CLEAN, SIDE_BY_SIDE, alternate, cpu_line, machine, write_json

from gan_mixup import precision
from gan_mixup.config import RunConfig
from gan_mixup.metrics import mode_metrics
from gan_mixup.presets import load_preset
from gan_mixup.rundir import read_records
from gan_mixup.training import RunState, build_state, check_nonfinite, flush_denormals, train, train_step

SETTINGS = {
    "images": {"dataset": "digits", "image_size": 32, "hidden": 64, "batch_size": 64, "d_steps": 1},
    "toy": {"dataset": "ring8", "hidden": 512, "layers": 3, "batch_size": 128, "d_steps": 5},
}


def speed_config(setting: str, amp: bool) -> RunConfig:
    return RunConfig(**SETTINGS[setting], objective="mixup", alpha=0.2, iterations=100_000, seed=0, device="cpu", amp=amp)


def with_amp(state: RunState, amp: bool) -> RunState:
    """``state`` training with ``amp`` whatever ``run_device`` allows, so the benchmark also times a
    setting the trainer refuses (the step only reads ``config.amp``)."""
    state.config = state.config.replace(amp=amp)
    return state


def block(state: RunState, iterations: int) -> float:
    """Generator iterations per second of ``iterations`` more steps (the losses synced at the end)."""
    start = time.perf_counter()
    for _ in range(iterations):
        train_step(state)
    check_nonfinite(state, "stop")  # the one host sync, as at a log record
    return iterations / (time.perf_counter() - start)


def compare_speed(setting: str, warmup: int, rounds: int, block_seconds: float, max_seconds: float) -> dict:
    states = {amp: with_amp(build_state(speed_config(setting, False)), amp) for amp in (False, True)}
    with flush_denormals():
        for state in states.values():
            block(state, warmup)
        per_second = block(states[False], max(2, warmup // 4))
        iterations = max(2, round(per_second * block_seconds))
        blocks = alternate({amp: (lambda amp=amp: block(states[amp], iterations)) for amp in (False, True)},
                           rounds=rounds, max_rounds=rounds, max_seconds=max_seconds)
        pairs = [{"fp32": fp32, "bf16": bf16, "ratio": bf16 / fp32, "other_cores": max(fp32_other, bf16_other)}
                 for (fp32, fp32_other), (bf16, bf16_other) in zip(blocks[False], blocks[True])]
    clean = [p for p in pairs if p["other_cores"] < CLEAN]
    use = clean or pairs
    return {"setting": SETTINGS[setting], "warmup": warmup, "iterations_per_block": iterations, "pairs": pairs,
            "clean_pairs": len(clean), "ratio_median": statistics.median(p["ratio"] for p in use),
            "ratio_all_median": statistics.median(p["ratio"] for p in pairs),
            "fp32_median": statistics.median(p["fp32"] for p in use), "bf16_median": statistics.median(p["bf16"] for p in use)}


# ----- effect on results ----------------------------------------------------------------------

def toy_effect(seeds: list[int], iterations: int, width: int) -> list[dict]:
    """ring8 paper-code at ``width``: float32 vs bfloat16 training, each seed; G(fixed noise) scored in
    float32 and under autocast."""
    out = []
    fields = {**load_preset("paper-code"), "hidden": width, "iterations": iterations, "device": "cpu"}
    for seed in seeds:
        for amp in (False, True):
            state = with_amp(build_state(RunConfig(**fields, seed=seed)), amp)
            start = time.perf_counter()
            with flush_denormals():
                for _ in range(iterations):
                    train_step(state)
                check_nonfinite(state, "stop")
            seconds = time.perf_counter() - start
            reference = state.reference
            row = {"seed": seed, "amp": amp, "seconds": seconds}
            with torch.no_grad():
                for evaluated, enabled in (("fp32", False), ("bf16", True)):
                    with precision.autocast(state.fixed_noise.device, enabled):
                        fake = state.generator(state.fixed_noise)
                    row[f"output_dtype_{evaluated}"] = str(fake.dtype).removeprefix("torch.")
                    m = mode_metrics(fake.float().numpy(), reference.modes, reference.std)
                    row[evaluated] = {k: m[k] for k in ("modes_covered", "high_quality", "modes_near", "mean_mode_distance")}
            out.append(row)
            print(f"  toy seed {seed} {'bf16' if amp else 'fp32'}: {row['fp32']} (bf16 eval {row['bf16']}) "
                  f"{seconds:.0f} s", flush=True)
    return out


def image_effect(seeds: list[int], iterations: int) -> list[dict]:
    """Digits at 16 px, width 32: the last snapshot's metrics, float32 vs bfloat16 training."""
    out = []
    with tempfile.TemporaryDirectory(prefix="gan-mixup-amp-") as tmp:
        for seed in seeds:
            for amp in (False, True):
                config = RunConfig(dataset="digits", image_size=16, hidden=32, iterations=iterations, seed=seed,
                                   snapshot_frames=1, metric_frames=1, device="cpu", amp=amp)
                result = train(config, Path(tmp) / f"{seed}-{amp}", overwrite=True)
                last = read_records(Path(tmp) / f"{seed}-{amp}", "snapshot")[-1]
                row = {"seed": seed, "amp": amp, "iteration": last["iteration"], "seconds": result.seconds,
                       **{k: last[k] for k in ("frechet_digits", "modes_covered", "kl_modes") if k in last}}
                out.append(row)
                print(f"  digits seed {seed} {'bf16' if amp else 'fp32'}: {row}", flush=True)
    return out


def bf16_spacing() -> dict:
    """The gap between adjacent bfloat16 numbers just below and above 1 (where ring8's modes lie)."""
    one = torch.tensor(1.0, dtype=torch.bfloat16)
    below = torch.nextafter(one, torch.tensor(0.0, dtype=torch.bfloat16))
    above = torch.nextafter(one, torch.tensor(2.0, dtype=torch.bfloat16))
    return {"below_1": float(one - below), "above_1": float(above - one),
            "at_0.707": float(torch.nextafter(torch.tensor(0.707, dtype=torch.bfloat16), one) - torch.tensor(0.707, dtype=torch.bfloat16))}


# ----- the run --------------------------------------------------------------------------------

FULL = {"images": {"warmup": 10, "rounds": 10, "block_seconds": 4.0, "max_seconds": 70.0},
        "toy": {"warmup": 100, "rounds": 12, "block_seconds": 2.0, "max_seconds": 45.0}}
QUICK = {"images": {"warmup": 2, "rounds": 2, "block_seconds": 1.0, "max_seconds": 4.0},
         "toy": {"warmup": 10, "rounds": 2, "block_seconds": 0.5, "max_seconds": 2.0}}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a ~30 s smoke run (few short blocks); its numbers mean nothing")
    parser.add_argument("--effect", action="store_true", help="also train short runs in both precisions and compare their metrics (~5 minutes)")
    parser.add_argument("--seeds", type=int, default=2, help="seeds of the --effect runs (default 2)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's default)")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    wall = time.perf_counter()
    capabilities = torch.cpu.get_capabilities() if hasattr(torch.cpu, "get_capabilities") else {}
    native = ([name for name in precision.NATIVE_BF16 if capabilities.get(name) is True] if capabilities
              else [name for name in [precision.cpu_native_bf16()] if name])
    result: dict = {**machine(), "native_bf16": native, "amp_refusal": precision.amp_refusal(torch.device("cpu")),
                    "quick": args.quick, "bf16_spacing": bf16_spacing()}
    plan = QUICK if args.quick else FULL
    for setting in ("images", "toy"):
        result[setting] = compare_speed(setting, **plan[setting])
        r = result[setting]
        print(f"{setting} on {result['cpu']}: fp32 {r['fp32_median']:.2f} it/s, bf16 {r['bf16_median']:.2f} it/s, bf16/fp32 {r['ratio_median']:.2f}× "
              f"(median of {r['clean_pairs'] or len(r['pairs'])} {'undisturbed ' if r['clean_pairs'] else ''}pairs of "
              f"{len(r['pairs'])})", flush=True)
    if args.effect:
        seeds = list(range(args.seeds))
        result["effect"] = {"toy": toy_effect(seeds, 200 if args.quick else 2000, 128),
                            "images": image_effect(seeds, 20 if args.quick else 300)}
    result["wall_seconds"] = time.perf_counter() - wall
    print_table(result)
    write_json(args.json, result)
    return result


def print_table(r: dict) -> None:
    print("\ngan-mixup --amp on the CPU: float32 vs bfloat16 autocast" + ("   [--quick: a smoke run, not a measurement]" if r["quick"] else ""))
    print(f"{cpu_line(r['threads'])}; native bfloat16: {', '.join(r['native_bf16']) or 'none'}"
          + (f"; the trainer refuses --amp here: {r['amp_refusal']}" if r["amp_refusal"] else ""))
    head = f"{'setting':<52} {'fp32 it/s':>9} {'bf16 it/s':>9} {'bf16/fp32':>9} {'pairs':>11}"
    print(head)
    print("-" * len(head))
    names = {"images": "DCGAN digits 32 px, width 64, batch 64, 1 D step", "toy": "toy GAN 3×512, batch 128, 5 D steps"}
    for setting in ("images", "toy"):
        s = r[setting]
        print(f"{names[setting]:<52} {s['fp32_median']:>9.2f} {s['bf16_median']:>9.2f} {s['ratio_median']:>8.2f}× "
              f"{s['clean_pairs']:>4} clean/{len(s['pairs']):<3}")
    print(f"(medians; ratio per adjacent pair of blocks, {SIDE_BY_SIDE}; over all pairs: images {r['images']['ratio_all_median']:.2f}×, "
          f"toy {r['toy']['ratio_all_median']:.2f}×; target for images ≥ 1.8×)")
    sp = r["bf16_spacing"]
    print(f"bfloat16 spacing: {sp['below_1']:.4f} below 1, {sp['above_1']:.4f} above 1, {sp['at_0.707']:.4f} at 0.707 "
          f"(ring8: σ = 0.01, high quality within 3σ = 0.03)")
    if "effect" in r:
        print("\neffect, toy ring8 paper-code width 128 (G(fixed noise) evaluated in float32 | under autocast):")
        for row in r["effect"]["toy"]:
            a, b = row["fp32"], row["bf16"]
            print(f"  seed {row['seed']} trained {'bf16' if row['amp'] else 'fp32'}: modes {a['modes_covered']}/8 "
                  f"high-quality {a['high_quality']:.1%} | modes {b['modes_covered']}/8 high-quality {b['high_quality']:.1%} "
                  f"(output {row['output_dtype_bf16']}), {row['seconds']:.0f} s")
        print("effect, digits 16 px width 32 (last snapshot):")
        for row in r["effect"]["images"]:
            print(f"  seed {row['seed']} {'bf16' if row['amp'] else 'fp32'}: frechet_digits {row.get('frechet_digits', math.nan):.2f}, "
                  f"modes {row.get('modes_covered')}, KL {row.get('kl_modes', math.nan):.3f}, {row['seconds']:.0f} s")
    print(f"script wall time {r['wall_seconds']:.0f} s\n")


if __name__ == "__main__":
    main()
