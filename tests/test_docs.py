"""The documentation: the site builds offline and strictly, the README stays short, and every command
the README and docs/ show is either run by a named test or marked long-running."""
from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = REPO / "docs"
README_MAX_LINES = 250

# A command too long for the suite says so in a trailing comment, e.g. `make figure5   # long-running: ~1 h`.
LONG_RUNNING = re.compile(r"long-running:\s*\S")
COMMAND_WORDS = ("gan-mixup", "make", "torchrun")

# Each documented command that is not marked long-running, and the test that runs it: the same
# subcommand with the same flags, at a tiny size where the command as shown would train for long.
COVERED_BY = {
    "gan-mixup render runs/x": "test_cli.py::test_render_rerenders_from_snapshots_alone",
    "gan-mixup metrics runs/x": "test_sweep.py::test_cli_sweep_metrics_and_resume",
    "gan-mixup view runs/cmp": "view/test_view_data.py::test_cli_view_of_a_compare_writes_into_its_viewer_folder",
    "gan-mixup view runs/x runs/y --out runs/x-vs-y": "view/test_view_data.py::test_cli_view_writes_several_runs_into_one_viewer",
    "gan-mixup view runs/f5-short --out samples/figure5-viewer --max-frames 40":
        "view/test_view_data.py::test_cli_view_max_frames_thins_each_run",
    "gan-mixup objectives": "test_cli.py::test_objectives_lists_objectives_and_regularizers",
    "gan-mixup render runs/demo-images": "training/test_loop_images.py::test_compare_on_digits_then_render_from_the_snapshots_alone",
    "gan-mixup figure5 --iterations 200 --out runs/f5-quick": "test_cli.py::test_figure5_runs_the_four_runs_and_writes_the_figure",
    "gan-mixup metrics runs/scorecard": "test_sweep.py::test_cli_sweep_metrics_and_resume",
    "gan-mixup status runs/sweep": "test_sweep_progress.py::test_status_tells_done_training_interrupted_and_not_started_members_apart",
    "gan-mixup status runs/scorecard": "test_sweep_progress.py::test_status_tells_done_training_interrupted_and_not_started_members_apart",
    "gan-mixup metrics samples/scorecard-full/results.csv": "test_survival.py::test_the_report_from_a_results_csv_alone",
    "gan-mixup toy --dataset ring8 --out runs/x --no-render":
        "training/test_reliability.py::test_signal_saves_a_checkpoint_and_prints_the_resume_command",
    "gan-mixup toy --out runs/x --resume": "training/test_reliability.py::test_sigkill_at_an_arbitrary_point_then_resume_is_bit_identical",
    "gan-mixup toy --out runs/x --resume --iterations 40000":
        "training/test_reliability.py::test_resume_with_more_iterations_continues_to_the_new_length",
    "torchrun --standalone --nproc_per_node 2 -m gan_mixup.cli images --dataset digits --objective mixup --out runs/ddp":
        "training/test_distributed.py::test_rank_zero_alone_writes_a_complete_run_directory",
    "make docs": "test_docs.py::test_the_site_builds_strictly_and_offline",
}


def documented_pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def code_blocks(text: str) -> list[tuple[str, list[str]]]:
    """The fenced code blocks of a Markdown text, as (info string, lines)."""
    blocks, fence, info, lines = [], None, "", []
    for line in text.splitlines():
        stripped = line.strip()
        if fence is None:
            match = re.match(r"(`{3,}|~{3,})\s*(\S*)", stripped)
            if match:
                fence, info, lines = match[1], match[2], []
        elif stripped.startswith(fence):
            blocks.append((info, lines))
            fence = None
        else:
            lines.append(line)
    return blocks


def shown_commands(text: str) -> list[tuple[str, str]]:
    """Every gan-mixup / make / torchrun command in the shell blocks of ``text``, as (command, trailing
    comment); continued lines are joined, comment lines and output are skipped."""
    commands = []
    for info, lines in code_blocks(text):
        if info in ("python", "text"):
            continue
        joined, pending = [], ""
        for line in lines:
            line = line.strip()
            if pending:
                line = pending + " " + line
                pending = ""
            if line.endswith("\\"):
                pending = line[:-1].strip()
                continue
            joined.append(line)
        for line in joined:
            line = re.sub(r"^\$\s+", "", line)
            command, _, comment = re.split(r"(\s+#\s*)", line, maxsplit=1) if re.search(r"\s#", line) else (line, "", "")
            words = command.split()
            while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):  # OMP_NUM_THREADS=1 gan-mixup ...
                words = words[1:]
            if words and words[0] in COMMAND_WORDS:
                commands.append((" ".join(words), comment))
    return commands


def defined_tests() -> set[str]:
    """Every test as ``FILE::NAME``, the file relative to tests/ (e.g. ``training/test_loop.py::test_x``)."""
    names = set()
    for path in (REPO / "tests").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_"):
                names.add(f"{path.relative_to(REPO / 'tests').as_posix()}::{node.name}")
    return names


def test_the_site_builds_strictly_and_offline(tmp_path):
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent)) or shutil.which("mkdocs")
    if mkdocs is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[docs]'; `make test` installs it)")
    site = tmp_path / "site"
    # No proxy and no reachable network: the build must not need the internet.
    env = {"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin", "HOME": str(tmp_path), "NO_MKDOCS_2_WARNING": "1",
           "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
           "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
    proc = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(site)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    for name in ("gan_mixup.MixupGAN", "gan_mixup.get_objective", "gan_mixup.with_regularizers", "gan_mixup.train",
                 "gan_mixup.RunConfig", "gan_mixup.metrics.evaluate_run", "gan_mixup.experiments.compare",
                 "gan_mixup.sweeps.run_sweep"):
        assert f'id="{name}"' in api, f"the API page lost {name}"
    assert (site / "samples" / "figure5.png").is_file(), "pictures the pages link to are copied into the site"
    viewer = site / "samples" / "figure5-viewer"
    assert (viewer / "viewer.js").is_file() and (viewer / "data" / "run_003.js").is_file(), "a linked viewer brings its files"
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "fonts.googleapis.com" not in index, "the theme must not load web fonts"


def test_readme_is_short_and_starts_with_the_two_commands():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move details into docs/"
    first_block = next(i for i, line in enumerate(lines) if line.startswith("```"))
    assert all(not line.strip() or line.startswith("#") for line in lines[:first_block]), \
        "nothing but the title may come before the first code block"
    block = lines[first_block + 1:first_block + 3]
    assert [line.split("#")[0].strip() for line in block] == ["make demo", "make test"]


def test_every_shown_command_is_run_by_a_test_or_marked_long_running():
    tests = defined_tests()
    shown, unaccounted = set(), []
    for page in documented_pages():
        for command, comment in shown_commands(page.read_text(encoding="utf-8")):
            shown.add(command)
            if not LONG_RUNNING.search(comment) and command not in COVERED_BY:
                unaccounted.append(f"{page.relative_to(REPO)}: {command}")
    assert not unaccounted, ("commands neither run by a test (add them to COVERED_BY) nor marked "
                             "`# long-running: ...`:\n" + "\n".join(unaccounted))
    stale = sorted(set(COVERED_BY) - shown)
    assert not stale, f"COVERED_BY names commands no page shows any more: {stale}"
    missing = sorted(f"{command} -> {test}" for command, test in COVERED_BY.items() if test not in tests)
    assert not missing, f"COVERED_BY names tests that do not exist under tests/: {missing}"


def test_every_make_target_shown_exists():
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", (REPO / "Makefile").read_text(encoding="utf-8"), re.M))
    for page in documented_pages():
        for command, _ in shown_commands(page.read_text(encoding="utf-8")):
            if command.startswith("make "):
                assert set(command.split()[1:]) <= targets, f"{page.name}: `{command}` names a target the Makefile lacks"


def test_readme_links_resolve():
    text = README.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)\s#]+)(?:#[^)]*)?\)", text):
        if "://" not in target:
            assert (REPO / target).exists(), f"README.md links to {target}, which does not exist"


def test_the_command_parser_sees_continuations_comments_and_markers():
    text = "```sh\n# a comment: gan-mixup toy\ngan-mixup sweep --a \\\n    --b   # long-running: ~1 h\nOMP_NUM_THREADS=1 make demo\n```\n"
    assert shown_commands(text) == [("gan-mixup sweep --a --b", "long-running: ~1 h"), ("make demo", "")]
