"""Paired comparisons of a sweep's arms (gan_mixup.sweeps.paired), against p-values computed by hand."""
import math

import pytest

from gan_mixup.sweeps.paired import (PairingError, against_baseline, all_pairs, baseline_arm, compare_arms, holm,
                                     paired_markdown, sign_test, wilcoxon_test)


def _row(setting, seed, frechet, modes=10, *, status="finished", iteration=1000):
    return {"dataset": "mnist-5k", "setting": setting, "seed": seed, "run": f"{setting}-{seed}", "iteration": iteration,
            "frechet": frechet, "modes_covered": modes, "modes_total": 10, "status": status}


def test_sign_test_by_hand():
    # 5 wins, 1 loss under p = 1/2: P(X <= 1) = (1 + 6) / 64, doubled for two sides = 14 / 64.
    assert sign_test(5, 1) == pytest.approx(14 / 64, abs=1e-12)
    # 6 wins, 0 losses: 2 / 64.
    assert sign_test(0, 6) == pytest.approx(2 / 64, abs=1e-12)
    assert math.isnan(sign_test(0, 0))


def test_wilcoxon_by_hand():
    # |d| ranks 1..5; negative rank sum W- = 3. Subsets of {1..5} summing to <= 3: {}, {1}, {2}, {3}, {1,2}: 5 of 32,
    # two-sided 10 / 32.
    assert wilcoxon_test([1.0, 2.0, -3.0, 4.0, 5.0]) == pytest.approx(10 / 32, abs=1e-12)
    assert wilcoxon_test([0.0, 2.0, -3.0, 0.0, 1.0, 4.0, 5.0]) == pytest.approx(10 / 32, abs=1e-12)  # zeros dropped
    assert math.isnan(wilcoxon_test([0.0, 0.0]))


def test_pairs_by_seed_and_hyperparameters():
    # 6 pairs over 2 lr x 3 seeds: mixup is better (lower) in 5, worse in 1.
    rows = []
    erm = {("0.001", 0): 50, ("0.001", 1): 60, ("0.001", 2): 70, ("0.0002", 0): 40, ("0.0002", 1): 45, ("0.0002", 2): 30}
    diff = {("0.001", 0): -1, ("0.001", 1): -2, ("0.001", 2): -3, ("0.0002", 0): -4, ("0.0002", 1): -5, ("0.0002", 2): 6}
    for (lr, seed), value in erm.items():
        rows.append(_row(f"erm lr={lr}", seed, value))
        rows.append(_row(f"mixup α=0.2 lr={lr}", seed, value + diff[lr, seed]))
        rows.append(_row(f"mixup α=0.2 lr={lr}", seed, 999.0, iteration=10))  # an earlier snapshot: not the end
    c = compare_arms(rows, "mixup α=0.2", "erm", metric="frechet")
    assert (c.pairs, c.wins, c.losses, c.ties) == (6, 5, 1, 0)
    assert c.sign_p == pytest.approx(14 / 64, abs=1e-12)
    # differences -1 -2 -3 -4 -5 +6: W+ = 6 -> subsets of {1..6} summing to >= 15 ... by symmetry <= 6: 14 of 64
    # ({}, 1, 2, 3, 4, 5, 6, 12, 13, 14, 15, 23, 24, 123), two-sided 28 / 64.
    assert c.wilcoxon_p == pytest.approx(28 / 64, abs=1e-12)
    assert c.median_difference == pytest.approx(-2.5)


def test_a_diverged_run_loses_and_modes_count_higher_as_better():
    rows = [_row("erm", 0, 50.0, 10), _row("mixup α=0.2", 0, 80.0, 9),
            _row("erm", 1, 50.0, 7, status="diverged"), _row("mixup α=0.2", 1, 90.0, 8),
            _row("erm", 2, 50.0, 10, status="diverged"), _row("mixup α=0.2", 2, 60.0, 10, status="diverged"),
            _row("erm", 3, 50.0, 10)]  # no mixup run on seed 3: unpaired
    frechet = compare_arms(rows, "mixup α=0.2", "erm", metric="frechet")
    assert (frechet.pairs, frechet.wins, frechet.losses, frechet.ties) == (3, 1, 1, 1)
    modes = compare_arms(rows, "mixup α=0.2", "erm", metric="modes_covered")
    assert (modes.wins, modes.losses, modes.ties) == (1, 1, 1)


def test_baseline_and_all_pairs():
    rows = [_row(s, seed, 10.0 + k + seed) for k, s in enumerate(("erm", "mixup α=0.2", "wgan-gp")) for seed in range(3)]
    assert baseline_arm(rows) == "erm"
    against = against_baseline(rows, ["frechet"])
    assert [(c.arm, c.baseline, c.losses) for c in against] == [("mixup α=0.2", "erm", 3), ("wgan-gp", "erm", 3)]
    assert [(c.arm, c.baseline) for c in all_pairs(rows, ["frechet"])] == [
        ("erm", "mixup α=0.2"), ("erm", "wgan-gp"), ("mixup α=0.2", "wgan-gp")]
    assert [(c.arm, c.baseline, c.wins) for c in all_pairs(rows, ["frechet"], arm="mixup α=0.2")] == [
        ("mixup α=0.2", "erm", 0), ("mixup α=0.2", "wgan-gp", 3)]
    with pytest.raises(PairingError, match="no run of 'cutmix'"):
        compare_arms(rows, "cutmix", "erm", metric="frechet")
    with pytest.raises(PairingError, match="name the baseline"):
        baseline_arm([_row("mixup α=0.2", 0, 1.0)])


def test_holm_by_hand_and_in_the_table():
    # sorted 0.01, 0.03, 0.04 -> 3 x 0.01 = 0.03; 2 x 0.03 = 0.06; 1 x 0.04 = 0.04, raised to 0.06 (step-down).
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06], abs=1e-12)
    assert holm([0.2, math.nan, 0.6]) == pytest.approx([0.4, math.nan, 0.6], nan_ok=True)  # nan: not in the family
    # two arms against ERM, 6 pairs each: 6-0 (p = 2/64) and 5-1 (p = 14/64); Holm: 2 x 2/64, then max(14/64, 4/64).
    rows = [_row("erm", seed, 50.0) for seed in range(6)]
    rows += [_row("mixup α=0.2", seed, 40.0) for seed in range(6)]
    rows += [_row("wgan-gp", seed, 60.0 if seed == 0 else 40.0) for seed in range(6)]
    table = paired_markdown(against_baseline(rows, ["frechet"]))
    # Wilcoxon (exact): six equal differences p = 2/64, one of six the other way p = 14/64: Holm as for the sign test.
    assert "| mnist-5k | mixup α=0.2 | erm | Fréchet | 6 | 6 / 0 / 0 | -10 | 0.0312 | 0.0625 | 0.0312 | 0.0625 |" in table
    assert "| mnist-5k | wgan-gp | erm | Fréchet | 6 | 5 / 1 / 0 | -10 | 0.219 | 0.219 | 0.219 | 0.219 |" in table
