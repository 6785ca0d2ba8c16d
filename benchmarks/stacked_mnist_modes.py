"""Stacked MNIST by the VEEGAN/PacGAN protocol: 26,000 samples of each trained G, every channel read by
the digit classifier, modes covered (of 1,000) and KL(p_fake || uniform), per run and per setting.

The sweep's own metrics use ``--metric-samples`` samples at every metric iteration; this reads each
run's final generator (``checkpoint.pt``) once more at the protocol's 26,000, which on a CPU would be
too slow at every metric iteration (precision/recall's k-NN grows with the square of the count).

    python benchmarks/stacked_mnist_modes.py runs/stacked-mnist --out samples/stacked-mnist

writes ``protocol.csv`` (one row per run), ``protocol.md`` (mean ± std over seeds per setting,
beside the published DCGAN numbers) and ``samples.png`` (each setting's last samples, first seed). The real data's own score at 26,000 (its 4,000 training digits
and its 1,000 held-out ones, stacked) is the first rows.

It refuses (exit 2) a sweep with unfinished members: their checkpoints are from part of the way. A member
that stopped on a non-finite loss has no final generator: ``protocol.csv`` scores its last checkpoint,
marked ``diverged``, and ``protocol.md`` leaves it out of the mean and counts it beside the seeds.
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gan_mixup.config import RunConfig  # noqa: E402
from gan_mixup.modalities import modality_of, training_of  # noqa: E402
from gan_mixup.modalities.images.data import get_image_dataset, images_to_uint8  # noqa: E402
from gan_mixup.modalities.images.metrics import judge_for, mode_metrics  # noqa: E402
from gan_mixup.rundir import load_checkpoint  # noqa: E402
from gan_mixup.sweeps import read_sweep  # noqa: E402
from gan_mixup.sweeps.directory import member_status  # noqa: E402
from gan_mixup.sweeps.survival import arm_of  # noqa: E402

SAMPLES = 26_000  # VEEGAN and PacGAN's count
NOISE_SEED = 2018  # the same noise for every run: the differences are the generators'
# Published DCGAN results on Stacked MNIST (full 60,000-digit MNIST, 28 px, their own lengths).
PUBLISHED = [
    ("DCGAN (VEEGAN, Srivastava et al. 2017)", "99", "3.40"),
    ("DCGAN (PacGAN, Lin et al. 2018)", "78.9 ± 6.5", "4.50"),
    ("PacDCGAN (PacGAN)", "1,000", "0.06"),
]


def real_scores(dataset, judge, samples: int = SAMPLES) -> list[dict]:
    """The classifier's score of real stacked triples: the training pool, and the held-out digits."""
    rows = []
    g = torch.Generator().manual_seed(NOISE_SEED)
    images, true = dataset.sample_with_modes(samples, g)
    modes, _ = judge.modes_and_features(images_to_uint8(images))
    rows.append({"run": "real: the 4,000 training digits, stacked", **mode_metrics(modes, 1000),
                 "true_label_modes": mode_metrics(true, 1000)["modes_covered"],
                 "true_label_kl": mode_metrics(true, 1000)["kl_modes"]})
    pixels, labels = dataset.held_out
    index = torch.randint(len(labels), (samples, 3), generator=g)
    held = pixels[index].flatten(1, 2)  # (N, 3, S, S) uint8
    true = (labels[index] * torch.tensor([100, 10, 1])).sum(dim=1)
    modes, _ = judge.modes_and_features(held)
    rows.append({"run": "real: the 1,000 held-out digits, stacked", **mode_metrics(modes, 1000),
                 "true_label_modes": mode_metrics(true, 1000)["modes_covered"],
                 "true_label_kl": mode_metrics(true, 1000)["kl_modes"]})
    return rows


def misread_effect(dataset, judge, covered=(10, 100, 500, 1000), samples: int = SAMPLES) -> list[dict]:
    """What the classifier's errors do to the count: a 'generator' that draws real held-out triples of
    only ``k`` modes (chosen at random), scored as a run's samples are."""
    pixels, labels = dataset.held_out
    by_class = [torch.nonzero(labels == digit).flatten() for digit in range(10)]
    g = torch.Generator().manual_seed(NOISE_SEED)
    rows = []
    for k in covered:
        chosen = torch.randperm(1000, generator=g)[:k]
        modes = chosen[torch.randint(k, (samples,), generator=g)]
        digits = torch.stack([modes // 100, modes // 10 % 10, modes % 10], dim=1)  # (N, 3)
        index = torch.empty_like(digits)
        for digit in range(10):
            where = digits == digit
            pool = by_class[digit]
            index[where] = pool[torch.randint(len(pool), (int(where.sum()),), generator=g)]
        read, _ = judge.modes_and_features(pixels[index].flatten(1, 2))
        rows.append({"true_modes": k, **mode_metrics(read, 1000), "true_kl": mode_metrics(modes, 1000)["kl_modes"],
                     "misread": float((read != modes).float().mean())})
    return rows


@torch.no_grad()
def run_scores(run_dir: Path, judge, dataset, arm: str, samples: int = SAMPLES, status: str = "finished") -> dict:
    config = RunConfig.from_json((run_dir / "config.json").read_text())
    checkpoint, _ = load_checkpoint(run_dir)
    G, _ = training_of(modality_of(config.dataset)).build_models(config, dataset)
    G.load_state_dict(checkpoint["ema"] if "ema" in checkpoint else checkpoint["generator"])
    G.eval()
    noise = torch.randn(samples, config.latent_dim, generator=torch.Generator().manual_seed(NOISE_SEED))
    fake = torch.cat([G(part) for part in noise.split(256)])
    modes, _ = judge.modes_and_features(images_to_uint8(fake))
    return {"run": run_dir.name, "arm": arm, "objective": config.objective, "preset": config.preset or "", "seed": config.seed,
            "iterations": checkpoint["iteration"], "status": status, **mode_metrics(modes, 1000)}


def picture(runs: list[Path], arms: dict[str, str], path: Path) -> None:
    """The last snapshot (64 fixed-noise samples) of each setting's first seed, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from torchvision.utils import make_grid

    from gan_mixup.rundir import list_snapshots, read_snapshot

    firsts: dict[str, Path] = {}
    for run in runs:
        firsts.setdefault(arms[run.name], run)
    # 8 x 8 samples of 32 px (265 px) at about one screen pixel each: 3.2 in at 90 dpi.
    fig, axes = plt.subplots(1, len(firsts), figsize=(3.2 * len(firsts), 3.4), dpi=90, squeeze=False)
    for ax, (name, run) in zip(axes[0], firsts.items()):
        snapshot = read_snapshot(list_snapshots(run)[-1])
        grid = make_grid(torch.as_tensor(snapshot.fake[:64]), nrow=8, padding=1)  # (3, H, W) uint8
        ax.imshow(grid.permute(1, 2, 0).numpy())
        ax.set_title(f"{name}, seed 0, it. {snapshot.iteration:,}", fontsize=8)
        ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _mean_std(values: list[float], fmt: str) -> str:
    """``mean ± std``; the value alone for one run, ``–`` for none."""
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:{fmt}}"
    return f"{statistics.mean(values):{fmt}} ± {statistics.stdev(values):{fmt}}"


def summary(rows: list[dict]) -> list[tuple[str, str, str, str]]:
    """Per arm: modes and KL as mean ± std over its finished runs, and the runs (``2 (+1 diverged)``)."""
    settings: dict[str, list[dict]] = {}
    for row in rows:
        settings.setdefault(row["arm"], []).append(row)
    out = []
    for arm, group in settings.items():
        finished = [r for r in group if r["status"] == "finished"]
        diverged = len(group) - len(finished)
        out.append((arm, _mean_std([r["modes_covered"] for r in finished], ".1f"),
                    _mean_std([r["kl_modes"] for r in finished], ".2f"),
                    f"{len(finished)}" + (f" (+{diverged} diverged)" if diverged else "")))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path, help="the sweep directory (gan-mixup sweep --dataset stacked-mnist-5k)")
    parser.add_argument("--out", type=Path, required=True, help="where protocol.csv and protocol.md go")
    parser.add_argument("--samples", type=int, default=SAMPLES,
                        help=f"samples per generator (default {SAMPLES:,}, the published protocol's; fewer only to try it)")
    args = parser.parse_args()
    runs = sorted(p.parent for p in args.sweep.glob("*/checkpoint.pt"))
    if not runs:
        raise SystemExit(f"no runs with a checkpoint.pt under {args.sweep}")
    manifest = read_sweep(args.sweep)
    status = {run.name: member_status(run, int(manifest[run.name]["iterations"])) for run in runs}
    unfinished = [name for name, state in status.items() if state == "unfinished"]
    if unfinished or len(runs) < len(manifest):
        print(f"stacked_mnist_modes: error: {len(manifest) - len(runs) + len(unfinished)} of the sweep's "
              f"{len(manifest)} runs have not finished (their checkpoints are from part of the way): "
              f"finish it first (gan-mixup sweep ... --out {args.sweep} --resume)", file=sys.stderr)
        sys.exit(2)
    first = RunConfig.from_json((runs[0] / "config.json").read_text())
    dataset = get_image_dataset(first.dataset, image_size=first.image_size)
    judge = judge_for(dataset)
    reals = real_scores(dataset, judge, args.samples)
    # Each run's arm (objective with its regularizers, preset and α) from its sweep's setting, so erm and
    # erm+r1:10 are two rows of the table.
    arms = {name: arm_of(info["setting"]) for name, info in manifest.items()}
    rows = [run_scores(run, judge, dataset, arms[run.name], args.samples, status[run.name]) for run in runs]
    args.out.mkdir(parents=True, exist_ok=True)
    columns = ["run", "arm", "objective", "preset", "seed", "iterations", "status", "modes_covered", "kl_modes"]
    with (args.out / "protocol.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    lines = [f"# Stacked MNIST ({first.dataset}, {first.image_size} px, DCGAN width {first.hidden}, "
             f"D with {'spectral norm, no BatchNorm' if first.spectral_norm else 'BatchNorm'}, "
             f"{int(manifest[runs[0].name]['iterations']):,} iterations of batch {first.batch_size}): "
             f"{args.samples:,} samples, each "
             "channel read by the digit classifier",
             "", f"Classifier: {judge.accuracy:.1%} on the 1,000 held-out real digits.", "",
             "Mean ± std over each setting's finished runs (a run stopped on a non-finite loss has no final "
             "generator: counted beside the seeds, scored in protocol.csv at its last checkpoint, marked diverged).", "",
             "| setting | modes (of 1,000) | KL(p ‖ uniform) | seeds |", "|---|---|---|---|"]
    lines += [f"| {name} | {modes} | {kl} | {n} |" for name, modes, kl, n in summary(rows)]
    lines += [f"| {r['run']} | {r['modes_covered']} | {r['kl_modes']:.3f} | (true labels: {r['true_label_modes']}, "
              f"{r['true_label_kl']:.3f}) |" for r in reals]
    lines += ["", "What the classifier's errors do: real held-out triples of only k modes, scored the same way:", "",
              "| true modes k | counted | KL counted | KL true | triples misread |", "|---|---|---|---|---|"]
    lines += [f"| {r['true_modes']} | {r['modes_covered']} | {r['kl_modes']:.3f} | {r['true_kl']:.3f} | {r['misread']:.1%} |"
              for r in misread_effect(dataset, judge, samples=args.samples)]
    lines += ["", "Published, for scale (full MNIST, 28 px, their own training lengths):", "",
              "| model | modes | KL |", "|---|---|---|"]
    lines += [f"| {name} | {modes} | {kl} |" for name, modes, kl in PUBLISHED]
    (args.out / "protocol.md").write_text("\n".join(lines) + "\n")
    picture(runs, arms, args.out / "samples.png")
    print("\n".join(lines))
    print(json.dumps({"classifier_accuracy": judge.accuracy, "runs": len(rows)}))


if __name__ == "__main__":
    main()
