"""The explorer in a real browser: JupyterLab runs the notebook, Chromium moves the slider.

Needs Debian's ``chromium`` (``apt-get install chromium``) and the ``playwright`` Python package
(never ``playwright install``: it downloads a browser). Skipped with the reason when either is
missing. Screenshots go to ``outputs/browser/`` for a person to look at. Run alone with
``pytest -m browser``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from test_explorer import NON_MONOTONE_NT, SECOND_NT, make_explorer_runs, name_of

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"]
SCREENSHOTS = REPO / "outputs" / "browser"
STARTUP_S, KERNEL_S = 120, 240  # generous: a loaded 2-core machine needs a minute to import the stack


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium) to run browser tests")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield b
        b.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _notebook(root: Path, runs: str) -> Path:
    """The explorer notebook as .ipynb with the python3 kernel, its ``runs`` parameter overridden as papermill would."""
    import jupytext
    import nbformat

    nb = jupytext.read(REPO / "notebooks" / "05_profile_explorer.py")
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(f"runs = {runs!r}"))
    path = root / "explorer.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture()
def jupyter(tmp_path: Path) -> Iterator[dict]:
    """JupyterLab on 127.0.0.1 with a token, serving a folder with the notebook and small fake runs."""
    pytest.importorskip("jupyterlab", reason="jupyterlab is not installed")
    pytest.importorskip("jupytext", reason="jupytext is not installed")
    made = make_explorer_runs(tmp_path / "work")
    _notebook(tmp_path / "work", made["runs"])
    port, token = _free_port(), "atlib-browser-test"
    config = tmp_path / "jupyter-config"
    settings = config / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "JUPYTER_CONFIG_DIR": str(config), "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"),
           "IPYTHONDIR": str(tmp_path / "ipython"), "ATLIB_CACHE": str(tmp_path / "atlib-cache")}
    log = open(tmp_path / "jupyter.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         "--ServerApp.port_retries=0", "--ServerApp.allow_root=True", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={tmp_path / 'work'}"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start; log:\n{(tmp_path / 'jupyter.log').read_text()[-3000:]}")
                time.sleep(0.5)
        yield {"url": url, "token": token, "made": made, "log": tmp_path / "jupyter.log"}
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


CAPTION = "CIFAR-10 test index "  # how every chart caption starts (then the record row, then the true class)


def _chart_captions(page) -> list[str]:
    return [t for t in page.locator("svg text").all_text_contents() if t.startswith(CAPTION)]


def _true_classes_drawn(page) -> set[str]:
    """The classes the Fig 6 panels draw at the bottom of the stack (their ARIA labels carry each area's fields)."""
    labels = page.locator("svg [aria-label*='stack_order: −1']").evaluate_all("els => els.map(e => e.ariaLabel)")
    return {label.split("class_name: ")[1].split(";")[0] for label in labels}


def _wait_for_caption(page, prefix: str, timeout_s: float) -> None:
    """Wait until the chart (SVG renderer: its text is in the DOM) shows a caption starting with ``prefix``."""
    script = f"[...document.querySelectorAll('svg text')].some(t => t.textContent.startsWith({json.dumps(prefix)}))"
    page.wait_for_function(script, timeout=timeout_s * 1000)


def test_notebook_slider_moves_the_chart_in_jupyterlab(browser, jupyter):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1600, "height": 1300})
    try:
        page.goto(f"{jupyter['url']}/lab/tree/explorer.ipynb?token={jupyter['token']}", timeout=STARTUP_S * 1000)
        page.wait_for_function("document.body.innerText.includes('| Idle')", timeout=KERNEL_S * 1000)
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

        first = f"{name_of(NON_MONOTONE_NT)} · "  # the designed non-monotone image sorts first
        _wait_for_caption(page, first, KERNEL_S)
        assert _chart_captions(page)[0].startswith(first)
        assert any(t.startswith("1 of 20 images") for t in page.locator(".widget-html-content").all_text_contents())

        page.locator(".widget-slider .noUi-handle").first.click()
        page.keyboard.press("ArrowRight")
        second = f"{name_of(SECOND_NT)} · "
        _wait_for_caption(page, second, 60)
        assert _chart_captions(page)[0].startswith(second)
        assert any(t.startswith("2 of 20 images") for t in page.locator(".widget-html-content").all_text_contents())
        assert _true_classes_drawn(page) == {"frog"}  # SECOND_NT is a frog; the panels show it under NT and AT
        output = page.locator(".jp-OutputArea-output:has(.widget-slider)")
        output.scroll_into_view_if_needed()
        output.screenshot(path=str(SCREENSHOTS / "explorer_notebook.png"))
    finally:
        page.screenshot(path=str(SCREENSHOTS / "explorer_jupyterlab_page.png"))
        page.close()


def test_static_export_opens_offline_and_its_slider_works(browser, tmp_path):
    from atlib.explorer import export_html

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    made = make_explorer_runs(tmp_path)
    html = export_html(made["runs"], tmp_path / "report.html", per_category=1, max_images=6)
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    try:
        page.goto(html.as_uri())
        _wait_for_caption(page, CAPTION, 60)
        assert _chart_captions(page)[0].startswith(f"{name_of(NON_MONOTONE_NT)} · ")
        slider = page.locator("input[type=range]")
        slider.focus()
        page.keyboard.press("ArrowRight")
        _wait_for_caption(page, f"{name_of(SECOND_NT)} · ", 30)
        assert slider.input_value() == "1"
        assert any(t.startswith("NT: non-monotone · total drop 1.2") for t in page.locator("svg text").all_text_contents())
        assert _true_classes_drawn(page) == {"frog"}  # both Fig 6 panels stack the new image's true class at the bottom
        page.screenshot(path=str(SCREENSHOTS / "explorer_export.png"), full_page=True)
    finally:
        page.close()
    assert errors == []
    assert all(r.startswith(("file:", "data:")) for r in requests), requests  # nothing fetched from a network
