"""The analyst's loop in a real JupyterLab 4 in headless Chromium.

A JupyterLab server on a free local port (no token, its own config, settings and kernel
folders under tmp) opens a working copy of ``notebooks/explorer.ipynb`` (as ``make lab``
does) on the registered ``territory-reports`` kernel. The browser runs all cells, changes
territory, cut and a fit-matrix box by clicking the widgets, saves, and the test diffs the
run profile: exactly the keys changed, the rest of the file byte for byte. Every wait is
bounded; the whole test takes well under 90 s.
"""
from __future__ import annotations

import difflib
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
SAVED = re.compile(r"^Saved ")
SCREENSHOTS = os.environ.get("LAB_SCREENSHOTS")  # a folder: save a screenshot of each step there

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (Debian package 'chromium')"),
    pytest.mark.skipif(importlib.util.find_spec("jupyterlab") is None,
                       reason="JupyterLab not installed (pip install -e '.[lab]')"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None, reason="playwright (python) not installed"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, seconds: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"JupyterLab did not answer {url} within {seconds} s")


@pytest.fixture()
def lab(tmp_path):
    """A running JupyterLab on a working copy of the explorer: {"url", "profile", "notebook", "log"}."""
    from analysis.contract.demo import generate, write
    from analysis.lab.workcopy import working_copy

    data = tmp_path / "data"
    write(generate(seed=3, n_regions=1, n_territories=2, n_customers=160), data)
    profile = tmp_path / "profile.yaml"
    shutil.copy(ROOT / "params" / "demo.yaml", profile)
    home = tmp_path / "jupyter"
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_DATA_DIR": str(home / "data"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"), "IPYTHONDIR": str(home / "ipython"),
           "JUPYTER_PATH": str(home / "prefix" / "share" / "jupyter"), "JUPYTER_PLATFORM_DIRS": "1",
           "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    subprocess.run([sys.executable, "-m", "ipykernel", "install", "--prefix", str(home / "prefix"),
                    "--name", "territory-reports", "--display-name", "Territory reports"],
                   check=True, capture_output=True, env=env, timeout=60)
    (home / "settings" / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
    (home / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false}')
    notebook = working_copy(ROOT / "notebooks" / "explorer.ipynb", tmp_path / ".lab",
                            {"data_path": str(data), "profile_path": str(profile), "territory_id": None})
    port = _free_port()
    log = (tmp_path / "lab.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}", "--ip=127.0.0.1",
         "--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.root_dir={notebook.parent}",
         "--ContentsManager.pre_save_hook=analysis.lab.workcopy.pre_save_hook",
         "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=notebook.parent)
    try:
        _wait_http(f"http://127.0.0.1:{port}/api/status", 40, proc)
        yield {"url": f"http://127.0.0.1:{port}", "profile": profile, "notebook": notebook,
               "log": tmp_path / "lab.log"}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _shot(page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


def _widget(page, kind: str, label: str):
    """The widget of class ``widget-<kind>`` whose label reads ``label``."""
    return page.locator(f".widget-{kind}").filter(has=page.locator("label", has_text=label)).first


def test_explorer_in_jupyterlab_saves_exactly_what_was_changed(lab):
    playwright = pytest.importorskip("playwright.sync_api")
    before = lab["profile"].read_text()
    tracked = {p: p.read_bytes() for p in (ROOT / "notebooks").glob("explorer.*")}
    errors: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(30_000)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{lab['url']}/lab/tree/{lab['notebook'].name}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=40_000)
            # the registered kernel starts, and opening the notebook does not modify it
            page.wait_for_selector(".jp-Toolbar-kernelName:has-text('Territory reports')", timeout=30_000)
            page.wait_for_function("window.jupyterapp && window.jupyterapp.shell.currentWidget"
                                   " && window.jupyterapp.shell.currentWidget.sessionContext"
                                   " && window.jupyterapp.shell.currentWidget.sessionContext.session"
                                   " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
                                   " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
                                   ".status === 'idle'", timeout=40_000)
            assert page.locator(".jp-mod-dirty").count() == 0, "the notebook is modified on open"
            _shot(page, "1-open")

            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            territory = _widget(page, "dropdown", "Territory").locator("select")
            territory.wait_for(timeout=40_000)
            assert territory.input_value() == "T01"
            cut = _widget(page, "toggle-buttons", "Cut")
            assert "mod-active" in cut.locator("button", has_text="quantile").get_attribute("class")  # T01 override
            _shot(page, "2-run")

            # T02: its own settings (median), not T01's quantile
            territory.select_option("T02")
            page.wait_for_function("""() => [...document.querySelectorAll('.widget-html-content')]
                .some(e => e.textContent.includes('T02: no unsaved changes'))""", timeout=20_000)
            assert "mod-active" in cut.locator("button", has_text="median").get_attribute("class")
            assert not page.locator(".widget-slider").filter(has=page.locator("label", has_text="Quantile")
                                                             ).first.is_visible()
            cut.locator("button", has_text="quantile").click()
            page.locator(".lm-TabBar-tab", has_text="Channel fit").click()
            grid = page.locator(".widget-gridbox").first
            grid.locator("input[type=checkbox]").nth(len_channels() * 5 + 1).click()  # loyal x phone: off
            page.wait_for_function("""() => [...document.querySelectorAll('.widget-html-content')]
                .some(e => e.textContent.includes('T02: unsaved') && e.textContent.includes('fit_matrix.loyal'))""",
                                   timeout=20_000)
            _shot(page, "3-changed")
            page.locator("button", has_text="Save as territory override").click()
            page.wait_for_function("""() => [...document.querySelectorAll('.widget-html-content')]
                .some(e => e.textContent.startsWith('Saved'))""", timeout=20_000)
            status = page.locator(".widget-html-content").filter(has_text=SAVED).first.inner_text()
            assert "segmentation.cut = quantile" in status and "fit_matrix.loyal" in status
            _shot(page, "4-saved")

            # back to T01: its quantile 0.6, the save message gone, nothing to save
            territory.select_option("T01")
            page.wait_for_function("""() => [...document.querySelectorAll('.widget-html-content')]
                .some(e => e.textContent.includes('T01: no unsaved changes'))""", timeout=20_000)
            assert page.locator(".widget-html-content").filter(has_text=SAVED).count() == 0
            assert "mod-active" in cut.locator("button", has_text="quantile").get_attribute("class")
            assert page.locator("button", has_text="Save as territory override").is_disabled()
            # saving the working copy strips its outputs (the pre-save hook)
            page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
            page.wait_for_function("!document.querySelector('.jp-mod-dirty')", timeout=15_000)
        finally:
            browser.close()

    saved = yaml.safe_load(lab["profile"].read_text())
    assert saved["overrides"]["T01"] == {"segmentation": {"cut": "quantile", "q": 0.6}}
    assert saved["overrides"]["T02"] == {"segmentation": {"cut": "quantile"},
                                         "fit_matrix": {"loyal": ["f2f_visit", "chat_app"]}}
    added = [line for line in difflib.ndiff(before.splitlines(), lab["profile"].read_text().splitlines())
             if line.startswith(("+", "-"))]
    assert added == ["+   T02:", "+     segmentation:", "+       cut: quantile", "+     fit_matrix:",
                     "+       loyal: [f2f_visit, chat_app]"], added
    import nbformat

    copy = nbformat.read(lab["notebook"], as_version=4)
    assert all(not c.get("outputs") for c in copy.cells if c.cell_type == "code")
    assert "widgets" not in copy.metadata
    assert {p: p.read_bytes() for p in tracked} == tracked  # the tracked notebook and its pair untouched
    assert errors == []
    assert "Traceback" not in lab["log"].read_text()


def len_channels() -> int:
    from analysis.contract.schema import CHANNELS

    return len(CHANNELS)
