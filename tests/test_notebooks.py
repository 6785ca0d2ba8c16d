"""The notebooks in notebooks/: each runs top to bottom in the smoke setting, and each committed one
holds the outputs of a full-size run.

Every ``notebooks/*.ipynb`` is picked up, so a new notebook is tested by being there. What a notebook
declares through cell tags:

- ``parameters``: its first code cell, where every size lives; ``GAN_MIXUP_SMOKE=1`` shrinks it, and it
  prints ``full-size run: ...`` or ``smoke run: ...``;
- ``expect-figure``: the cell shows at least one picture (an ``image/png`` output);
- ``expect-table``: the cell shows a table (an HTML ``<table>``);
- ``expect-animation``: the cell shows an animated GIF (an ``<img>`` with a ``data:image/gif`` URI).

The smoke runs write their run directories to a temporary folder (``GAN_MIXUP_NOTEBOOK_RUNS``), so
they leave the checkout as it was.
"""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT = 300  # seconds per cell in the smoke setting: far above what any cell needs, so a hang fails


def _runner():
    spec = importlib.util.spec_from_file_location("run_notebooks", ROOT / "notebooks" / "run_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run_notebooks = _runner()


def tags(cell) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def output_text(cell) -> str:
    """Everything a code cell printed or displayed as text or HTML, joined."""
    parts = []
    for out in cell.get("outputs", []):
        parts.append(out.get("text", ""))
        data = out.get("data", {})
        parts += [data.get("text/html", ""), data.get("text/plain", "")]
    return "\n".join(p if isinstance(p, str) else "".join(p) for p in parts)


def mimetypes(cell) -> set[str]:
    return {mime for out in cell.get("outputs", []) for mime in out.get("data", {})}


def expectation_problems(nb) -> list[str]:
    """What the notebook's tagged cells promised and did not show, plus any error output."""
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        where = f"cell {index} ({cell.source.splitlines()[0][:50] if cell.source else 'empty'!r})"
        errors = [out for out in cell.get("outputs", []) if out.get("output_type") == "error"]
        if errors:
            problems.append(f"{where} raised {errors[0].get('ename')}: {errors[0].get('evalue')}")
        text = output_text(cell)
        if "expect-figure" in tags(cell) and "image/png" not in mimetypes(cell):
            problems.append(f"{where} is tagged expect-figure but shows no image/png")
        if "expect-table" in tags(cell) and "<table" not in text:
            problems.append(f"{where} is tagged expect-table but shows no HTML table")
        if "expect-animation" in tags(cell) and not re.search(r"<img [^>]*src=\"data:image/gif;base64,", text):
            problems.append(f"{where} is tagged expect-animation but shows no embedded GIF")
    return problems


def parameter_cell(nb):
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code_cells, "the notebook has no code"
    first = code_cells[0]
    assert "parameters" in tags(first), "the first code cell must be the parameter cell, tagged 'parameters'"
    assert "GAN_MIXUP_SMOKE" in first.source, "the parameter cell must read GAN_MIXUP_SMOKE"
    assert sum("parameters" in tags(cell) for cell in code_cells) == 1, "one parameter cell only"
    return first


def test_the_notebooks_are_there():
    names = {path.name for path in NOTEBOOKS}
    assert {"01_mixup_vs_erm_toy.ipynb", "02_drop_in.ipynb", "03_images.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_the_smoke_setting(path, tmp_path):
    nb = run_notebooks.execute(path, smoke=True, runs_dir=tmp_path / "runs", timeout=CELL_TIMEOUT)
    assert "smoke run" in output_text(parameter_cell(nb))
    declared = [cell for cell in nb.cells if tags(cell) & {"expect-figure", "expect-table", "expect-animation"}]
    assert declared, f"{path.name} declares no expected output (tag cells expect-figure / expect-table)"
    assert not expectation_problems(nb), "\n".join(expectation_problems(nb))
    if any("GAN_MIXUP_NOTEBOOK_RUNS" in cell.source for cell in nb.cells):
        assert (tmp_path / "runs").is_dir(), f"{path.name} did not write its runs to GAN_MIXUP_NOTEBOOK_RUNS"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_notebook_holds_a_full_size_run(path):
    size = path.stat().st_size
    assert size < run_notebooks.SIZE_LIMIT, f"{path.name} is {size / 2**20:.2f} MB; the limit is 2 MB"
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert "full-size run" in output_text(parameter_cell(nb)), (
        f"{path.name} was not saved from a full-size run: run `make notebooks`")
    counts = [cell.execution_count for cell in nb.cells if cell.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name} was not executed top to bottom in one kernel (execution counts {counts}): run `make notebooks`")
    assert not expectation_problems(nb), "\n".join(expectation_problems(nb))


def test_the_checks_catch_a_notebook_without_its_outputs():
    nb = nbformat.read(ROOT / "notebooks" / "01_mixup_vs_erm_toy.ipynb", as_version=4)
    assert not expectation_problems(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    problems = "\n".join(expectation_problems(nb))
    assert "expect-figure" in problems and "expect-table" in problems and "expect-animation" in problems
    nb.cells[next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")].outputs = [
        nbformat.v4.new_output("error", ename="ValueError", evalue="boom", traceback=[])]
    assert "raised ValueError: boom" in "\n".join(expectation_problems(nb))
