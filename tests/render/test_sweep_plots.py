"""A sweep's scorecard.png and gradients.png keep their shape when the sweep has hyperparameter axes:
one row per hyperparameter setting, an arm in one column (mode bands) or one line (gradients)."""
from __future__ import annotations

from pathlib import Path

from PIL import Image

from gan_mixup.render import plot_gradient_norms, plot_mode_bands
from gan_mixup.render.plots import GRADIENT_LEGEND_INSIDE
from gan_mixup.sweeps.scorecard import summarise
from gan_mixup.sweeps.survival import arm_of, hyperparameters_of

SETTINGS = ("lr=0.0002 β1=0", "lr=0.0002 β1=0.5", "lr=0.001 β1=0")


def _rows(arms: list[str], settings: tuple[str, ...] = SETTINGS, *, skip: tuple[str, str] | None = None) -> list[dict]:
    rows = []
    for a, arm in enumerate(arms):
        for h, hyper in enumerate(settings):
            if (arm, hyper) == skip:
                continue
            setting = f"{arm} {hyper}".strip()
            for seed in range(2):
                for it in (0, 10, 100, 1000):
                    rows.append({"dataset": "mnist-5k", "setting": setting, "run": f"{setting} s{seed}", "iteration": it,
                                 "status": "finished", "modes_total": 10, "modes_covered": 10 - (it % 3),
                                 "d_grad_fake": 1.0 + a + h + seed, "d_grad_real": 2.0 + a, "d_grad_mixed": 0.5 + h})
    return rows


def _panels(path: Path, *, panel: float, left: float, gap: float, right: float, top: float = 0.45,
            bottom: float = 0.45) -> tuple[int, int]:
    """(columns, rows) of a ``panel_grid`` picture at 100 dpi, from its size in pixels."""
    width, height = Image.open(path).size
    cols = (width / 100 - left - right + gap) / (panel + gap)
    rows = (height / 100 - top - bottom + gap) / (panel + gap)
    assert abs(cols - round(cols)) < 0.02 and abs(rows - round(rows)) < 0.02, (width, height)
    return round(cols), round(rows)


def test_a_setting_splits_into_its_arm_and_its_hyperparameters():
    setting = "mixup[paper-code] α=0.2 lr=0.001 β1=0.5 dsteps=2"
    assert (arm_of(setting), hyperparameters_of(setting)) == ("mixup[paper-code] α=0.2", "lr=0.001 β1=0.5 dsteps=2")
    assert hyperparameters_of("erm+r1:10") == ""
    summary = summarise(_rows(["erm+r1:10"]))[0]
    assert (summary.arm, summary.hyperparameters) == ("erm+r1:10", "lr=0.0002 β1=0")


def test_mode_bands_put_each_hyperparameter_setting_in_a_row_and_each_arm_in_a_column(tmp_path):
    arms = ["erm", "mixup α=0.2", "wgan-gp"]
    # One setting missing from one arm: its panel stays empty rather than shifting the arms after it.
    path = plot_mode_bands(summarise(_rows(arms, skip=("mixup α=0.2", SETTINGS[1]))), tmp_path / "scorecard.png")
    assert _panels(path, panel=2.4, left=0.55, gap=0.62, right=0.08) == (3, 3)
    # Without hyperparameter axes (the toy sweeps) each dataset is one row of its settings, as before.
    path = plot_mode_bands(summarise(_rows(arms, ("",))), tmp_path / "toy.png")
    assert _panels(path, panel=2.4, left=0.55, gap=0.62, right=0.08) == (3, 1)


def test_gradient_norms_draw_one_row_per_hyperparameter_setting_and_the_legend_beside_many_arms(tmp_path):
    few = plot_gradient_norms(summarise(_rows(["erm", "mixup α=0.2"])), tmp_path / "few.png")
    assert _panels(few, panel=2.8, left=0.6, gap=0.62, right=0.08) == (3, 3)
    arms = [f"erm+r1:{k}" for k in range(GRADIENT_LEGEND_INSIDE + 1)]
    many = plot_gradient_norms(summarise(_rows(arms, SETTINGS[:2])), tmp_path / "many.png")
    assert _panels(many, panel=2.8, left=0.6, gap=0.62, right=2.1) == (3, 2)


def test_the_calibration_legend_moves_beside_the_gap_curves_past_a_few_arms(tmp_path):
    from gan_mixup.render import plot_calibration
    from gan_mixup.render.plots import CALIBRATION_LEGEND_INSIDE
    from gan_mixup.sweeps.calibration import arm_calibrations

    def width(n_arms: int) -> int:
        rows = [{**row, "calibration_gap": 0.1, "frechet": 100.0}
                for row in _rows([f"erm+r1:{k}" for k in range(n_arms)], SETTINGS[:1])]
        return Image.open(plot_calibration(arm_calibrations(rows, {"mnist-5k": "frechet"}), tmp_path / "c.png")).size[0]

    assert width(CALIBRATION_LEGEND_INSIDE) == 5.0 * 90
    assert width(CALIBRATION_LEGEND_INSIDE + 1) == 7.0 * 90


def test_the_legend_beside_the_gradient_norms_names_an_arm_missing_from_the_first_row(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    drawn = []
    original = Axes.legend
    monkeypatch.setattr(Axes, "legend", lambda self, *a, **k: drawn.append(original(self, *a, **k)) or drawn[-1])
    arms = [f"erm+r1:{k}" for k in range(GRADIENT_LEGEND_INSIDE + 1)]
    plot_gradient_norms(summarise(_rows(arms, SETTINGS[:2], skip=(arms[-1], SETTINGS[0]))), tmp_path / "g.png")
    assert len(drawn) == 1 and [t.get_text() for t in drawn[0].get_texts()][-1] == arms[-1]
    assert len(drawn[0].get_texts()) == len(arms)
