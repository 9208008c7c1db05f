"""The notebooks and the explorer in a real browser, as a reader meets them.

JupyterLab is started at a repository-like root (``notebooks/``, ``atlib/``, and fake runs where ``make demo``
writes them: ``outputs/demo/runs``, tests/demoruns.py) with the settings override ``make setup`` installs; the
test double-clicks ``notebooks/05_profile_explorer.py``, runs all cells with no variable set, moves the slider,
checks that the legend and every visible panel lie inside a 1,280 x 800 viewport, then opens the executed
(papermill, signed) notebook and checks that the explorer shows from its saved state without running a cell.
Each analysis notebook (01-04, 06, 07) is opened the same way and run all: every code cell runs, with no error
output. The static export is opened from disk and driven through its controls.

Needs Debian's ``chromium`` (``apt-get install chromium``) and the ``playwright`` Python package
(never ``playwright install``: it downloads a browser); skipped with the reason when either is missing.
Screenshots go to ``outputs/browser/``. Run alone with ``pytest -m browser`` (scripts/browser_test.sh).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from demoruns import make_demo_runs
from test_explorer import NON_MONOTONE_NT, SECOND_NT, make_explorer_runs, name_of

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"]
SCREENSHOTS = REPO / "outputs" / "browser"
STARTUP_S, KERNEL_S = 120, 240  # generous: a loaded 2-core machine needs a minute to import the stack
VIEWPORT = {"width": 1280, "height": 800}
CAPTION = "CIFAR-10 test index "  # how every chart caption starts (then the record row, then the true class)


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


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """JupyterLab on 127.0.0.1 (token) at a repository-like root holding the demo's runs, with the settings
    override of ``make setup`` (scripts/jupyterlab_settings.py) and its own config, data and runtime folders."""
    pytest.importorskip("jupyterlab", reason="jupyterlab is not installed")
    pytest.importorskip("jupytext", reason="jupytext is not installed")
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "atlib-clone"
    shutil.copytree(REPO / "notebooks", root / "notebooks")
    (root / "atlib").mkdir()  # the marker repo_root looks for; the code itself comes from PYTHONPATH
    make_demo_runs(root)
    prefix = tmp / "prefix"
    subprocess.run([sys.executable, str(REPO / "scripts" / "jupyterlab_settings.py"), str(prefix)], check=True,
                   capture_output=True)
    config = tmp / "jupyter-config"
    settings = config / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    tracker = config / "lab" / "user-settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))  # every cell in the DOM
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "JUPYTER_CONFIG_DIR": str(config), "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
           "JUPYTER_DATA_DIR": str(tmp / "data"), "IPYTHONDIR": str(tmp / "ipython"), "ATLIB_CACHE": str(tmp / "cache")}
    env.pop("ATLIB_DATA", None)
    port, token = _free_port(), "atlib-browser-test"
    log = open(tmp / "jupyter.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         "--ServerApp.port_retries=0", "--ServerApp.allow_root=True", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={root}", f"--LabApp.app_settings_dir={prefix / 'share/jupyter/lab/settings'}"],
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
                    pytest.fail(f"JupyterLab did not start; log:\n{(tmp / 'jupyter.log').read_text()[-3000:]}")
                time.sleep(0.5)
        yield {"url": url, "token": token, "root": root, "env": env, "log": tmp / "jupyter.log"}
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _captions(page) -> list[str]:
    return [t for t in page.locator("svg text").all_text_contents() if t.startswith(CAPTION)]


def _wait_for_caption(page, prefix: str, timeout_s: float) -> None:
    """Wait until a chart (SVG renderer: its text is in the DOM) shows a caption starting with ``prefix``."""
    script = f"[...document.querySelectorAll('svg text')].some(t => t.textContent.startsWith({json.dumps(prefix)}))"
    page.wait_for_function(script, timeout=timeout_s * 1000)


def _outside_viewport(page, scope: str) -> list[str]:
    """Legends and axes (every panel has them) under ``scope`` that are on screen vertically but cross its sides."""
    return page.evaluate("""([scope, width, height]) => [...document.querySelectorAll(scope + ' svg g.role-legend, '
                              + scope + ' svg g.role-axis')]
        .map(e => [e.getAttribute('class'), e.getBoundingClientRect()])
        .filter(([, r]) => r.bottom > 0 && r.top < height && r.width > 0)
        .filter(([, r]) => r.left < 0 || r.right > width)
        .map(([c, r]) => c + ' ' + Math.round(r.left) + '..' + Math.round(r.right))""",
                         [scope, VIEWPORT["width"], VIEWPORT["height"]])


def _error_outputs(page) -> list[str]:
    return page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").all_text_contents() \
        + page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']").all_text_contents()


def test_explorer_notebook_opens_by_double_click_and_runs_with_no_variable_set(browser, lab):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport=VIEWPORT)
    try:
        page.goto(f"{lab['url']}/lab/tree/notebooks?token={lab['token']}", timeout=STARTUP_S * 1000)
        item = page.locator(".jp-DirListing-item", has_text="05_profile_explorer.py")
        item.wait_for(timeout=STARTUP_S * 1000)
        item.dblclick()
        page.wait_for_selector(".jp-Notebook", timeout=STARTUP_S * 1000)  # a notebook, not a text editor
        page.wait_for_function("document.body.innerText.includes('| Idle')", timeout=KERNEL_S * 1000)
        page.keyboard.press("Control+b")  # the file browser's sidebar closes: the notebook gets the width
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        _wait_for_caption(page, CAPTION, KERNEL_S)
        page.wait_for_function("document.body.innerText.includes('| Idle')", timeout=KERNEL_S * 1000)
        text = page.locator(".jp-Notebook").inner_text()
        assert "runs: outputs/demo/runs (the most recently written runs folder" in text
        assert "missing (have" not in text  # the runs' plan is met: no seed reported missing
        assert _error_outputs(page) == []

        first = _captions(page)[0]
        page.locator(".widget-slider .noUi-handle").first.click()
        page.keyboard.press("ArrowRight")
        page.wait_for_function(f"[...document.querySelectorAll('svg text')].some(t => t.textContent.startsWith('{CAPTION}')"
                               f" && t.textContent !== {json.dumps(first)})", timeout=60_000)
        assert any(t.startswith("2 of ") for t in page.locator(".widget-html-content").all_text_contents())

        output = page.locator(".jp-OutputArea-output:has(.widget-slider)")
        output.locator("svg").first.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        assert _outside_viewport(page, ".jp-OutputArea-output") == []
        assert page.locator(".jp-OutputArea-output svg g.role-legend").count() >= 2  # classes and settings
        page.screenshot(path=str(SCREENSHOTS / "explorer_notebook_1280.png"))
    finally:
        page.screenshot(path=str(SCREENSHOTS / "explorer_jupyterlab_page.png"))
        page.close()
        _shut_down_kernel(lab, "notebooks/05_profile_explorer.py")


ANALYSIS_NOTEBOOKS = ("01_entropy", "02_point_categories", "03_cifar10_neg", "04_synthesized_data", "06_claims",
                      "07_training_dynamics")
RUN_ALL_S = 300  # one analysis notebook: import the stack, read the runs, draw and save its figures
# True once Run All has ended: the kernel idle, no cell queued or running ([*]), and either every code cell
# numbered or an error shown (Run All stops at an error and leaves the cells after it unnumbered).
RUN_ALL_ENDED = """(cells) => {
    const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
    if (!panel || !document.body.innerText.includes('| Idle')) return false;
    const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.textContent);
    if (prompts.some(p => p.includes('[*]'))) return false;
    return prompts.filter(p => /\\[\\d+\\]/.test(p)).length >= cells
        || panel.querySelector("[data-mime-type='application/vnd.jupyter.error']") !== null;
}"""


def _code_cells(path: Path) -> int:
    """Code cells with a source in the notebook JupyterLab makes of ``path`` (an empty cell gets no number)."""
    import jupytext

    return sum(1 for c in jupytext.read(path).cells if c.cell_type == "code" and c.source.strip())


def _shut_down_kernel(lab: dict, path: str) -> None:
    """End the session (and its kernel) of the notebook at ``path``: the next notebook gets the cores and memory."""
    auth = {"Authorization": f"token {lab['token']}"}
    with urllib.request.urlopen(urllib.request.Request(f"{lab['url']}/api/sessions", headers=auth), timeout=30) as r:
        sessions = json.load(r)
    for s in sessions:
        if s["path"] == path:
            urllib.request.urlopen(urllib.request.Request(f"{lab['url']}/api/sessions/{s['id']}", headers=auth,
                                                          method="DELETE"), timeout=60)


@pytest.mark.parametrize("stem", ANALYSIS_NOTEBOOKS)
def test_analysis_notebook_opens_by_double_click_and_runs_all_without_error(browser, lab, stem):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    cells = _code_cells(REPO / "notebooks" / f"{stem}.py")
    page = browser.new_page(viewport=VIEWPORT)
    try:  # a workspace of its own: no notebook of an earlier test is restored beside this one
        page.goto(f"{lab['url']}/lab/workspaces/{stem}/tree/notebooks?token={lab['token']}", timeout=STARTUP_S * 1000)
        item = page.locator(".jp-DirListing-item", has_text=f"{stem}.py")
        item.wait_for(timeout=STARTUP_S * 1000)
        item.dblclick()
        page.wait_for_selector(".jp-Notebook", timeout=STARTUP_S * 1000)
        page.wait_for_function("document.body.innerText.includes('| Idle')", timeout=KERNEL_S * 1000)
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        page.wait_for_function(RUN_ALL_ENDED, arg=cells, timeout=RUN_ALL_S * 1000)
        assert _error_outputs(page) == []
        notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
        prompts = notebook.locator(".jp-CodeCell .jp-InputPrompt").all_text_contents()
        assert sum(1 for p in prompts if p.strip("[]: ").isdigit()) == cells, prompts
        text = notebook.inner_text()
        assert "runs: outputs/demo/runs (the most recently written runs folder" in text
        assert "missing (have" not in text
    finally:
        page.screenshot(path=str(SCREENSHOTS / f"{stem}_jupyterlab_page.png"))
        page.close()
        _shut_down_kernel(lab, f"notebooks/{stem}.py")


def test_executed_explorer_notebook_shows_the_explorer_without_running(browser, lab):
    from atlib.notebooks import run_notebook

    executed = lab["root"] / "outputs" / "demo" / "notebooks" / "05_profile_explorer.ipynb"
    env = {k: lab["env"][k] for k in ("JUPYTER_DATA_DIR", "IPYTHONDIR")}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # sign into the same notary store the server reads
    try:
        run_notebook("05_profile_explorer", {"runs": str(lab["root"] / "outputs" / "demo" / "runs")}, executed)
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    page = browser.new_page(viewport=VIEWPORT)
    try:
        page.goto(f"{lab['url']}/lab/tree/outputs/demo/notebooks/05_profile_explorer.ipynb?token={lab['token']}",
                  timeout=STARTUP_S * 1000)
        _wait_for_caption(page, CAPTION, STARTUP_S)  # drawn from the saved widget state: no cell runs here
        page.get_by_role("menuitem", name="Kernel", exact=True).click()
        page.get_by_role("menuitem", name="Shut Down Kernel", exact=True).click()
        page.wait_for_function("document.body.innerText.includes('No Kernel')", timeout=60_000)
        assert not page.locator(".jp-OutputArea-output", has_text="VBox(children=").count()
        assert _captions(page) and page.locator(".widget-slider").count() >= 1  # still there, with no kernel
        output = page.locator(".jp-OutputArea-output:has(.widget-slider)")
        output.locator("svg").first.scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / "explorer_executed_no_kernel.png"))
    finally:
        page.close()


def test_static_export_opens_offline_and_its_controls_work(browser, tmp_path):
    from atlib.explorer import export_html

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    made = make_explorer_runs(tmp_path)
    html = export_html(made["runs"], tmp_path / "report.html", per_category=1, max_images=6)
    page = browser.new_page(viewport=VIEWPORT)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    try:
        page.goto(html.as_uri())
        _wait_for_caption(page, CAPTION, 60)
        assert _captions(page)[0].startswith(f"{name_of(NON_MONOTONE_NT)} · ")
        slider = page.locator("input[type=range]")
        assert slider.bounding_box()["y"] < 100  # the controls sit above the charts
        slider.focus()
        page.keyboard.press("ArrowRight")
        _wait_for_caption(page, f"{name_of(SECOND_NT)} · ", 30)
        assert slider.input_value() == "1"
        assert any(t.startswith("NT: non-monotone · total drop 1.2") for t in page.locator("svg text").all_text_contents())
        page.select_option("select[name=category]", "easy")  # the category filter: the first easy image under NT
        page.wait_for_function("[...document.querySelectorAll('svg text')].some(t => t.textContent.startsWith('NT: easy'))",
                               timeout=30_000)
        assert _outside_viewport(page, "body") == []
        page.screenshot(path=str(SCREENSHOTS / "explorer_export.png"), full_page=True)
    finally:
        page.close()
    assert errors == []
    assert all(r.startswith(("file:", "data:")) for r in requests), requests  # nothing fetched from a network
