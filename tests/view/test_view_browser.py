"""The viewer in a real browser: Debian's headless Chromium, driven by selenium through Debian's own
chromedriver (nothing is downloaded at test time), loads each viewer from file://.

Where no browser is installed these tests skip with one line naming the packages; in CI (``CI=true``)
they must run, so a missing browser fails them.
"""
from __future__ import annotations

import io
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from gan_mixup.rundir import snapshot_path
from gan_mixup.view import write_viewer
from view_runs import ITERATIONS, collection, erm_vs_mixup, images_run, points_run

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
INSTALL = "apt-get install chromium chromium-driver (Debian's browser and its driver) and pip install selenium"


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} is missing"
    return None


if _missing():
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests must run in CI: {_missing()}; {INSTALL}", pytrace=False)
    pytest.skip(f"no browser ({_missing()}): {INSTALL}", allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

WAIT_S = 20  # a generous ceiling on a loaded 2-core machine; every wait ends as soon as its condition holds


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1100",
                 "--force-device-scale-factor=1"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def viewers(tmp_path_factory) -> dict[str, Path]:
    """A compare (ERM diverges at 100, mixup does not), a run with a damaged and a missing snapshot, an image run."""
    root = tmp_path_factory.mktemp("viewers")
    cmp = erm_vs_mixup(root / "cmp")
    hurt = points_run(cmp / "hurt", seed=3)
    snapshot_path(hurt, 10).write_bytes(b"\x00 cut short")
    snapshot_path(hurt, 30).unlink()
    collection(cmp, "compare", {"erm": cmp / "erm", "mixup": cmp / "mixup", "hurt": hurt})
    images = images_run(root / "images")
    sweep = root / "sweep"
    sweep.mkdir()
    runs, members = {}, {}
    for objective in ("erm", "mixup"):
        for seed in (0, 1):
            name = f"ring8-{objective}-seed{seed}"
            runs[name] = points_run(sweep / name, objective=objective, seed=10 + seed, iterations=(1, 10, 100))
            members[name] = {"dataset": "ring8", "setting": objective, "objective": objective, "seed": seed}
    collection(sweep, "sweep", runs, members)
    (sweep / "scorecard.md").write_text("# Stability scorecard\n\n| dataset | setting | seeds |\n|---|---|---|\n"
                                        "| ring8 | erm | 2 |\n| ring8 | mixup | 2 |\n")
    return {"compare": write_viewer([cmp]), "images": write_viewer([images]), "sweep": write_viewer([sweep])}


def until(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def open_viewer(driver, page: Path, fragment: str = "") -> None:
    driver.get("about:blank")
    driver.get(page.as_uri() + fragment)
    until(lambda: driver.execute_script("return document.body.dataset.painted === '1'"), "the first paint")
    until(lambda: driver.execute_script("return document.body.dataset.curves === '1'"), "the charts")


def settled(driver) -> list[dict]:
    """Every panel once all have drawn the page's current iteration: [{run, iteration, state, pixels}]."""
    script = """
        const it = document.body.dataset.iteration;
        const panels = [...document.querySelectorAll('#panels .panel')];
        if (!panels.every(p => p.dataset.iteration === it && p.dataset.state !== 'loading')) return null;
        return panels.map(p => ({run: p.dataset.run, iteration: p.dataset.iteration, state: p.dataset.state,
                                 pixels: p.querySelector('canvas.frame').toDataURL()}));"""
    return until(lambda: driver.execute_script(script), "every panel to draw the current iteration")


def iteration(driver) -> int:
    return int(driver.execute_script("return document.body.dataset.iteration"))


def console_errors(driver) -> list[dict]:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def test_opens_from_file_without_console_errors_and_paints_fast(browser, viewers):
    browser.get_log("browser")
    open_viewer(browser, viewers["compare"])
    assert console_errors(browser) == []
    assert browser.execute_script("return window.GM_FIRST_PAINT_MS") < 5000  # a ceiling for CI; the docs give the real figure
    panels = settled(browser)
    assert [p["run"] for p in panels] == ["0", "1", "2"]
    assert iteration(browser) == ITERATIONS[-1]  # a viewer opens on the runs' last snapshot


def test_the_scrubber_moves_every_run_to_the_same_new_iteration_and_the_cursor_follows(browser, viewers):
    open_viewer(browser, viewers["compare"], "#it=100")
    before = {p["run"]: p["pixels"] for p in settled(browser)}
    cursor_before = browser.find_element(By.CSS_SELECTOR, ".chart .cursor").value_of_css_property("left")
    scrubber = browser.find_element(By.ID, "scrubber")
    browser.execute_script("arguments[0].value = '6'; arguments[0].dispatchEvent(new Event('input'))", scrubber)
    after = settled(browser)
    assert iteration(browser) == 1000 and {p["iteration"] for p in after} == {"1000"}
    assert all(p["pixels"] != before[p["run"]] for p in after if p["state"] == "ok")
    assert [p["state"] for p in after] == ["ok", "ok", "ok"]
    charts = browser.find_elements(By.CSS_SELECTOR, ".chart")
    assert len(charts) >= 8  # modes, KL, sliced W., ||grad D|| x 3, D and G losses, ...
    until(lambda: {c.get_attribute("data-cursor-iteration") for c in charts} == {"1000"}, "every chart's cursor at 1000")
    assert browser.find_element(By.CSS_SELECTOR, ".chart .cursor").value_of_css_property("left") != cursor_before
    assert browser.current_url.endswith("#it=1000&runs=0,1,2")


def test_hovering_a_curve_moves_the_pictures(browser, viewers):
    open_viewer(browser, viewers["compare"], "#it=1000")
    canvas = browser.find_element(By.CSS_SELECTOR, ".chart canvas")
    left_edge = -canvas.size["width"] // 2 + 36  # just inside the plot's left end: the first snapshot
    ActionChains(browser).move_to_element_with_offset(canvas, left_edge, 0).perform()
    until(lambda: iteration(browser) == 1, "the hover to move to iteration 1")
    assert {p["iteration"] for p in settled(browser)} == {"1"}


def test_keyboard_steps_and_plays(browser, viewers):
    open_viewer(browser, viewers["compare"], "#it=100")
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.ARROW_LEFT)
    until(lambda: iteration(browser) == 30, "← to step back one snapshot")
    body.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    until(lambda: iteration(browser) == 300, "→ → to step forward two")
    body.send_keys(Keys.SPACE)
    until(lambda: iteration(browser) == 1000, "space to play on to the end")
    until(lambda: "on" not in browser.find_element(By.ID, "play").get_attribute("class"), "play to stop at the end")


def test_a_link_with_a_position_opens_there(browser, viewers):
    open_viewer(browser, viewers["compare"], "#it=10&runs=1")
    assert iteration(browser) == 10
    assert browser.find_element(By.ID, "scrubber").get_attribute("value") == "2"
    assert [p["run"] for p in settled(browser)] == ["1"]
    open_viewer(browser, viewers["compare"], "#it=12000")  # between snapshots: the nearest one
    assert iteration(browser) == 1000
    browser.execute_script("location.hash = '#it=100&runs=0,2'")  # a link followed within the page
    until(lambda: iteration(browser) == 100 and [p["run"] for p in settled(browser)] == ["0", "2"], "the new position")


def test_a_damaged_or_missing_snapshot_shows_a_message_in_its_panel(browser, viewers):
    for it, words in ((10, "damaged"), (30, "missing")):
        open_viewer(browser, viewers["compare"], f"#it={it}")
        states = {p["run"]: p["state"] for p in settled(browser)}
        assert states == {"0": "ok", "1": "ok", "2": "error"}
        box = browser.find_element(By.CSS_SELECTOR, '.panel[data-run="2"] .message')
        assert box.is_displayed() and words in box.text and f"it_{it:08d}.npz" in box.text
        assert not browser.find_element(By.CSS_SELECTOR, '.panel[data-run="1"] .message').is_displayed()


def fake_pixels(element) -> int:
    """Pixels of the fake samples' dark green in a screenshot of ``element``."""
    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(element.screenshot_as_png)).convert("RGB")).astype(int)
    return int(((abs(rgb[..., 0] - 11) < 40) & (abs(rgb[..., 1] - 93) < 40) & (abs(rgb[..., 2] - 30) < 40)).sum())


def test_screenshot_the_diverged_run_is_empty_of_fakes_where_the_healthy_one_is_not(browser, viewers):
    open_viewer(browser, viewers["compare"], "#it=1000")
    settled(browser)
    erm = browser.find_element(By.CSS_SELECTOR, '.panel[data-run="0"] canvas.frame')
    mixup = browser.find_element(By.CSS_SELECTOR, '.panel[data-run="1"] canvas.frame')
    assert fake_pixels(erm) < 20 < 200 < fake_pixels(mixup)
    badge = browser.find_element(By.CSS_SELECTOR, '.panel[data-run="0"] .badge')
    assert badge.is_displayed() and badge.text == "diverged"
    marks = browser.find_elements(By.CSS_SELECTOR, "#events .event.diverged")
    assert marks and "iteration 100" in marks[0].get_attribute("title")


def test_blink_toggles_between_two_runs_at_the_same_iteration(browser, viewers):
    open_viewer(browser, viewers["compare"], "#it=1000&runs=0,1&blink=0,1")
    seen = set()
    until(lambda: seen.update(p["run"] for p in settled(browser) if p["iteration"] == "1000") or seen == {"0", "1"},
          "the blink panel to show both runs")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#panels .panel")) == 1


def test_clicking_an_image_sample_enlarges_it_across_runs_and_iterations(browser, viewers):
    open_viewer(browser, viewers["images"])
    settled(browser)
    canvas = browser.find_element(By.CSS_SELECTOR, "canvas.frame.images")
    ActionChains(browser).move_to_element_with_offset(canvas, -canvas.size["width"] // 2 + 10,
                                                      -canvas.size["height"] // 2 + 10).click().perform()
    zoom = until(lambda: browser.find_element(By.ID, "zoom").is_displayed() and browser.find_element(By.ID, "zoom"),
                 "the enlarged sample")
    assert "sample 1 of the fixed noise batch" in zoom.text
    assert console_errors(browser) == []


def test_a_sweep_chooses_its_members_by_field_and_by_a_scorecard_row(browser, viewers):
    open_viewer(browser, viewers["sweep"])
    assert [p["run"] for p in settled(browser)] == ["0", "2"]  # one seed of each scorecard row
    rows = browser.find_elements(By.CSS_SELECTOR, "#tables tr.link")
    assert [r.text.split() for r in rows] == [["ring8", "erm", "2"], ["ring8", "mixup", "2"]]
    rows[1].click()
    until(lambda: [p["run"] for p in settled(browser)] == ["2", "3"], "the mixup row to show its two seeds")
    assert browser.current_url.endswith("&runs=2,3")
    browser.find_element(By.CSS_SELECTOR, 'input[data-field="seed"][value="1"]').click()
    until(lambda: [p["run"] for p in settled(browser)] == ["0", "2"], "seed 1 to leave")
    assert browser.find_element(By.CSS_SELECTOR, "#chooser .note").text == "showing 2 of 4 runs"


def test_the_charts_follow_the_metric_registry_a_new_metric_included(browser, tmp_path, monkeypatch):
    from gan_mixup.metric_registry import METRICS, Metric

    metric = Metric("origin_distance", "mean distance to the origin", "lower", ("toy",),
                    compute=lambda fake, real: float(np.abs(fake[np.isfinite(fake).all(1)]).sum(1).mean()))
    monkeypatch.setitem(METRICS, metric.name, metric)  # registered in this one place
    page = write_viewer([points_run(tmp_path / "run")], tmp_path / "viewer")
    open_viewer(browser, page)
    charts = browser.execute_script(
        "return [...document.querySelectorAll('#curves .chart')].map(c => [c.dataset.metric, "
        "c.querySelector('.ctitle').textContent, c.querySelector('.ctitle').title]);")
    names = [c[0] for c in charts]
    assert ["origin_distance", "mean distance to the origin", "lower is better"] in charts
    assert ["sliced_wasserstein", "sliced Wasserstein", "lower is better"] in charts
    assert names.index("modes_covered") < names.index("sliced_wasserstein") < names.index("origin_distance")


def test_the_calibration_chart_draws_each_runs_probe_curve_at_the_shown_iteration(browser, tmp_path):
    from conftest import make_tiny_config
    from gan_mixup.training import train

    for objective in ("erm", "mixup"):
        # long enough for ERM's D and mixup's to part, so neither curve hides the other
        train(make_tiny_config(objective=objective, iterations=300, hidden=32), tmp_path / objective)
    page = write_viewer([tmp_path / "erm", tmp_path / "mixup"], tmp_path / "viewer")
    script = """
        const c = document.querySelector('#curves .chart[data-metric="calibration_curve"]');
        if (!c) return null;
        const ctx = c.querySelector('canvas').getContext('2d'), {width, height} = c.querySelector('canvas');
        const px = ctx.getImageData(0, 0, width, height).data;
        const near = (i, [r, g, b]) => Math.abs(px[i] - r) + Math.abs(px[i + 1] - g) + Math.abs(px[i + 2] - b) < 60;
        let blue = 0, red = 0;
        for (let i = 0; i < px.length; i += 4) { blue += near(i, [31, 119, 180]); red += near(i, [214, 39, 40]); }
        return [c.dataset.cursorIteration, c.dataset.shownIterations, blue, red, c.querySelector('canvas').toDataURL()];"""
    drawn = {}
    for fragment, shown in (("", "300,300"), ("#it=10", "10,10")):
        open_viewer(browser, page, fragment)
        cursor, iterations, blue, red, drawn[shown] = until(lambda: browser.execute_script(script), "the calibration chart")
        assert (cursor, iterations) == (shown.split(",")[0], shown)
        assert red > 20  # mixup's curve, drawn last
        if shown == "300,300":
            assert blue > 20  # and ERM's, apart from it by the end
    assert drawn["300,300"] != drawn["10,10"]  # the chart follows the shown iteration
    assert console_errors(browser) == []
