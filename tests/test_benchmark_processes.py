"""The benchmarks' process timing (benchmarks/harness.py): a process timed from its own progress bar,
start-up cancelled, then killed; authors_toy_loop.py refuses to run without the authors' checkout;
the harness's hook into train() keeps up with it."""
from __future__ import annotations

import subprocess
import sys

from cli_helpers import REPO, subprocess_env

sys.path.insert(0, str(REPO / "benchmarks"))
from harness import rate_table, timed_progress, tqdm_count  # noqa: E402

# A slow start, then 20 iterations of 50 ms drawn as a tqdm bar on stderr, then it would run for a minute.
FAKE_TRAINING = """
import sys, time
time.sleep(0.5)
for i in range(1, 1200):
    sys.stderr.write(f"\\rtrain:  {i // 12}%|#   | {i}/1200 [00:01<00:10, 20.0it/s]")
    sys.stderr.flush()
    time.sleep(0.05)
"""


def test_tqdm_count_reads_the_bars_count():
    assert tqdm_count(" 10%|█         | 120/1200 [00:06<00:54, 20.00it/s, d_loss=0.693]") == 120
    assert tqdm_count("Loss_D: 0.3") is None


def test_timed_progress_times_the_window_and_kills_the_process():
    result = timed_progress([sys.executable, "-c", FAKE_TRAINING], subprocess_env(), tqdm_count, 5, 25, timeout=60)
    assert (result["from"], result["to"]) == (5, 25)
    assert 5 < result["it_s"] < 25  # 20 it/s at most; a loaded machine only slows the sleeps
    assert result["startup_s"] > 0.5  # the sleep before the first iteration is not in the rate


def test_authors_benchmark_without_the_checkout_is_one_error(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "authors_toy_loop.py"), "--authors", str(tmp_path)],
                          env=subprocess_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "example_gan.py is missing" in done.stderr.strip().splitlines()[-1] and "Traceback" not in done.stderr


def test_the_harness_lends_the_state_train_builds():
    # benchmarks/toy_throughput.py reads the RunState inside train() through this hook; it must keep
    # up with build_state's signature, or `make bench` fails before it times anything.
    import harness

    from conftest import make_tiny_config
    from gan_mixup.training import train

    with harness.lend_state() as captured:
        result = train(make_tiny_config(iterations=4), None)
    assert len(captured) == 1 and captured[0].iteration == result.iteration == 4


def test_dcgan_benchmark_reads_the_examples_progress_line():
    import dcgan_vs_examples

    assert dcgan_vs_examples.example_count("[0/1][11/128] Loss_D: 1.2 Loss_G: 3.4 D(x): 0.5 D(G(z)): 0.4 / 0.3") == 12
    assert dcgan_vs_examples.example_count("Random Seed:  0") is None


def test_rate_table_prints_each_contenders_median_and_best(capsys):
    runs = {"example": [{"it_s": 1.0}, {"it_s": 3.0}, {"it_s": 2.0}], "ours": [{"it_s": 4.0}]}
    median, best = rate_table(runs, digits=1)
    assert median == {"example": 2.0, "ours": 4.0} and best == {"example": 3.0, "ours": 4.0}
    assert capsys.readouterr().out.splitlines()[2:] == ["| example | 2.0 | 3.0 |", "| ours | 4.0 | 4.0 |"]


def test_dcgan_benchmark_runs_the_example_without_loader_processes_by_default(tmp_path):
    # Its default 2 data-loader processes would compete for the cores both contenders are timed on.
    import dcgan_vs_examples

    command = dcgan_vs_examples.example_command(tmp_path / "main.py", tmp_path / "data", tmp_path / "out")
    assert command[command.index("--workers") + 1] == "0"
    again = dcgan_vs_examples.example_command(tmp_path / "main.py", tmp_path / "data", tmp_path / "out", workers=2)
    assert again[again.index("--workers") + 1] == "2"
    import harness

    assert harness.cpu_features() in harness.cpu_line()  # every figure names the CPU with its AVX-512/BF16/AMX
