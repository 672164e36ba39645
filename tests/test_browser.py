"""The kit as a person meets it, in a real browser: JupyterLab runs the quickstart explorer through
its UI, and the rendered reports' landing page links only to files that exist.

Needs Debian's chromium and chromedriver plus selenium (``./run_all.sh setup --browser``); skipped with
the reason when any is missing. Installs nothing and reaches no network: JupyterLab listens on a free
localhost port with a token, on a temporary copy of notebooks/, with the run store, data root, settings
and figures in temporary folders. Screenshots go to the test's tmp folder and, when ``PML_SCREENSHOTS``
names a folder, are copied there.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlparse

import nbformat
import pytest

from conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path(shutil.which("chromedriver") or "/usr/bin/chromedriver")


def _missing() -> str | None:
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} is absent (./run_all.sh setup --browser installs Debian's chromium)"
    if not CHROMEDRIVER.is_file():
        return "chromedriver is absent (./run_all.sh setup --browser installs Debian's chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed in this environment (./run_all.sh setup --browser)"
    return None


pytestmark = [pytest.mark.browser, pytest.mark.skipif(_missing() is not None, reason=str(_missing())),
              pytest.mark.timeout(1500)]

PARAMETER_EDITS = {"profile": '"tiny"', "method": '"pfe-arcface"', "dim": "8", "seed": "0"}


# -- fixtures ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_reports(tmp_path_factory, data_root):
    """A tiny-profile run store with a probabilistic run (pfe-arcface, dim 8) and reports/tiny/index.html
    next to paper_figures/tiny/, as ``./run_all.sh tiny --only table_retrieval fig_erc`` writes them."""
    from pml_core.report import run_notebooks

    root = tmp_path_factory.mktemp("browser")
    status = run_notebooks.main(["--profile", "tiny", "--only", "table_retrieval", "fig_erc", "--methods", "pfe-arcface",
                                 "--data-root", str(data_root), "--results-root", str(root / "results"),
                                 "--reports-root", str(root / "reports"),
                                 "--figures-root", str(root / "paper_figures")])
    assert status == 0, "table_retrieval or fig_erc failed in the tiny profile"
    return root


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory):
    folder = tmp_path_factory.mktemp("screenshots")
    yield folder
    target = os.environ.get("PML_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        for shot in sorted(folder.glob("*.png")):
            shutil.copy2(shot, Path(target) / shot.name)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1000",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    os.environ.setdefault("SE_AVOID_STATS", "true")  # selenium manager is never needed: both paths are given
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(120)
    yield driver
    driver.quit()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _notebooks_copy(target: Path, results: Path, data_root: Path, figures: Path) -> Path:
    """notebooks/ copied to ``target`` with quickstart's parameters pointed at the tiny run store."""
    shutil.copytree(ROOT / "notebooks", target)
    path = target / "quickstart.ipynb"
    notebook = nbformat.read(path, as_version=4)
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    edits = {**PARAMETER_EDITS, "results_root": repr(str(results)), "data_root": repr(str(data_root)),
             "output_dir": repr(str(figures))}
    lines = cell.source.splitlines()
    for name, value in edits.items():
        matches = [i for i, line in enumerate(lines) if re.match(rf"{name}\s*=", line)]
        assert matches, f"quickstart's parameters cell has no {name} = ... line"
        lines[matches[0]] = f"{name} = {value}"
    cell.source = "\n".join(lines)
    nbformat.write(notebook, path)
    return path


def _lab_settings(folder: Path) -> Path:
    """User settings: every cell in the DOM (no windowing), no news or update checks, no toasts."""
    for plugin, values in {
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False,
                                                        "doNotDisturbMode": True},
    }.items():
        package, name = plugin.rsplit("/", 1)
        file = folder / package / f"{name}.jupyterlab-settings"
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(json.dumps(values))
    return folder


@pytest.fixture(scope="module")
def lab(tiny_reports, data_root, tmp_path_factory):
    """A JupyterLab server on a free localhost port with a token: ``(base_url, token)``."""
    work = tmp_path_factory.mktemp("lab")
    notebooks = work / "notebooks"
    _notebooks_copy(notebooks, tiny_reports / "results", data_root, work / "figures")
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "PML_DATA_ROOT": str(data_root), "WANDB_MODE": "offline",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": str(ROOT), "JUPYTER_RUNTIME_DIR": str(work / "runtime")}
    env.pop("MPLBACKEND", None)  # the notebook chooses the inline backend itself
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.open_browser=False",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
               f"--ServerApp.token={token}", f"--ServerApp.root_dir={notebooks}",
               f"--LabApp.user_settings_dir={_lab_settings(work / 'settings')}",
               f"--LabApp.workspaces_dir={work / 'workspaces'}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = open(work / "lab.log", "w")
    process = subprocess.Popen(command, cwd=notebooks, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not start:\n{(work / 'lab.log').read_text()[-3000:]}")
            time.sleep(1)
        yield base, token, work
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)  # the server and its kernels: the group this test started
            process.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log.close()


# -- helpers -----------------------------------------------------------------------------------------


def _wait(driver, condition, timeout: float, what: str, poll: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition(driver)
        if value:
            return value
        time.sleep(poll)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def _shot(driver, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def _click_menu(driver, menu: str, item: str) -> None:
    from selenium.webdriver.common.by import By

    bar = [e for e in driver.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-itemLabel") if e.text.strip() == menu]
    assert bar, f"no '{menu}' menu in JupyterLab's menu bar"
    bar[0].click()
    entry = _wait(driver, lambda d: [e for e in d.find_elements(By.CSS_SELECTOR, ".lm-Menu-itemLabel")
                                     if e.text.strip() == item], 20, f"the '{menu} > {item}' menu entry")
    entry[0].click()


def _kernel_idle(driver) -> bool:
    """The status bar names a kernel (not "No Kernel") and says it is idle, and no dialog is open."""
    from selenium.webdriver.common.by import By

    bar = driver.find_elements(By.CSS_SELECTOR, "#jp-main-statusbar")
    text = bar[0].text if bar else ""
    return bool(re.search(r"Python[^|\n]*\|\s*Idle", text)) and "No Kernel" not in text and \
        not driver.find_elements(By.CSS_SELECTOR, ".jp-Dialog")


def _answer_kernel_dialog(driver) -> bool:
    """If JupyterLab asks which kernel to start, pick the notebook's own (python3) and confirm; False."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    for dialog in driver.find_elements(By.CSS_SELECTOR, ".jp-Dialog"):
        if "Select Kernel" not in dialog.text:
            continue
        for element in dialog.find_elements(By.TAG_NAME, "select"):
            choices = [o.text for o in Select(element).options]
            wanted = [c for c in choices if c.startswith("Python 3")] or [c for c in choices if "pml-kit" in c]
            if wanted:
                Select(element).select_by_visible_text(wanted[0])
        buttons = [b for b in dialog.find_elements(By.CSS_SELECTOR, "button") if b.text.strip() == "Select"]
        if buttons:
            buttons[0].click()
    return False


PROMPTS_JS = """
return [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputArea-prompt')].map(e => e.innerText.trim());
"""

ERRORS_JS = """
const bad = [];
for (const el of document.querySelectorAll('.jp-Notebook .jp-OutputArea-output')) {
  const text = el.innerText || '';
  const stderr = (el.getAttribute('data-mime-type') || '') === 'application/vnd.jupyter.stderr';
  if (/Traceback|Error displaying widget/.test(text) || (stderr && /^\\w*(Error|Exception)\\b/m.test(text)))
    bad.push(text.slice(0, 600));
}
return bad;
"""

IMAGES_JS = """
return [...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output img')].map(img => ({
  width: img.naturalWidth, height: img.naturalHeight, src: img.src.slice(0, 80),
  widget: !!img.closest('.jupyter-widgets, .widget-output, .jp-OutputArea-child .jp-OutputArea .jp-OutputArea')
}));
"""


# -- tests -------------------------------------------------------------------------------------------


def test_quickstart_runs_in_jupyterlab(lab, browser, screenshots):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    base, token, work = lab
    started = time.monotonic()
    browser.get(f"{base}/lab/tree/quickstart.ipynb?token={token}")
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-CodeCell"), 180,
          "the quickstart notebook to open")
    _wait(browser, lambda d: _kernel_idle(d) or _answer_kernel_dialog(d), 180, "the kernel to start (idle)")
    _wait(browser, _kernel_idle, 180, "the kernel to start (idle)")
    _shot(browser, screenshots, "01_quickstart_opened")

    count = len(browser.execute_script(PROMPTS_JS))
    for attempt in range(3):  # a click that lands while JupyterLab is still settling can be lost: retry
        _click_menu(browser, "Run", "Run All Cells")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and all(p in ("[ ]:", "") for p in browser.execute_script(PROMPTS_JS)):
            time.sleep(1)
        if not all(p in ("[ ]:", "") for p in browser.execute_script(PROMPTS_JS)):
            break
        _shot(browser, screenshots, f"01_run_all_not_started_{attempt}")
        _answer_kernel_dialog(browser)
        if not browser.find_elements(By.CSS_SELECTOR, ".jp-Dialog"):
            ActionChains(browser).send_keys(Keys.ESCAPE).perform()
        _wait(browser, _kernel_idle, 120, "the kernel to be idle again")
    else:
        pytest.fail("Run > Run All Cells did not start any cell")

    def finished(driver):
        prompts = driver.execute_script(PROMPTS_JS)
        errors = driver.execute_script(ERRORS_JS)
        if errors:
            return True  # stop waiting; asserted below
        return len(prompts) == count and all(re.fullmatch(r"\[\d+\]:", p) for p in prompts)

    _wait(browser, finished, 900, "every quickstart cell to run (no [*] or [ ] prompt left)", poll=2)
    errors = browser.execute_script(ERRORS_JS)
    _shot(browser, screenshots, "02_quickstart_ran")
    assert not errors, "a cell shows an error in JupyterLab:\n" + "\n---\n".join(errors)

    images = browser.execute_script(IMAGES_JS)
    assert images and all(i["width"] > 0 and i["height"] > 0 for i in images), f"broken output images: {images}"
    grid = browser.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-OutputArea-output img")[0]
    assert grid.get_property("naturalWidth") > 300, "the retrieval grid should be a full-size PNG"
    browser.execute_script("arguments[0].scrollIntoView({block: 'start'});", grid)
    time.sleep(0.5)
    _shot(browser, screenshots, "03_retrieval_grid")

    # the explorer ran in widget mode: three dropdowns, a query slider, a next button, and its own images
    selects = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".widget-dropdown select"), 60,
                    "the explorer's dropdowns")
    assert len(selects) >= 3, "dataset, method and run dropdowns"
    labels = [s.find_element(By.XPATH, "./..").text for s in selects]
    run_options = [o.text for o in selects[2].find_elements(By.TAG_NAME, "option")]
    assert any("dim 8" in o for o in run_options), run_options
    nexts = [b for b in browser.find_elements(By.CSS_SELECTOR, "button.jupyter-button") if "next" in b.text]
    assert nexts, "a 'next queries' button"
    outputs = browser.find_elements(By.CSS_SELECTOR, ".widget-output img, .jupyter-widgets-output-area img")
    assert len(outputs) >= 2 and all(o.get_property("naturalWidth") > 0 for o in outputs), \
        "the explorer shows its query grid and the run's ERC curve"
    before = outputs[0].get_attribute("src")
    browser.execute_script("arguments[0].scrollIntoView({block: 'start'});", selects[0])
    time.sleep(0.5)
    _shot(browser, screenshots, "04_explorer")

    browser.execute_script("arguments[0].click();", nexts[0])

    def new_page(driver):
        imgs = driver.find_elements(By.CSS_SELECTOR, ".widget-output img, .jupyter-widgets-output-area img")
        return imgs and imgs[0].get_attribute("src") != before and imgs[0].get_property("naturalWidth") > 0

    _wait(browser, new_page, 120, "the explorer to draw the next queries")
    assert "page 2 of" in browser.find_element(By.CSS_SELECTOR, ".widget-html").text
    browser.execute_script("arguments[0].scrollIntoView({block: 'start'});", selects[0])
    time.sleep(0.5)
    _shot(browser, screenshots, "05_explorer_next_queries")
    erc = browser.find_elements(By.CSS_SELECTOR, ".widget-output img, .jupyter-widgets-output-area img")[-1]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", erc)
    time.sleep(0.5)
    _shot(browser, screenshots, "06_explorer_erc")
    assert not browser.execute_script(ERRORS_JS)
    print(f"quickstart through the JupyterLab UI: {time.monotonic() - started:.0f} s; dropdowns {labels}")


LINKS_JS = """
return [...document.querySelectorAll('a[href]')].map(a => a.href)
  .concat([...document.querySelectorAll('img[src]')].map(i => i.src));
"""


def test_reports_index_links_resolve(tiny_reports, browser, screenshots):
    from selenium.webdriver.common.by import By

    index = tiny_reports / "reports" / "tiny" / "index.html"
    browser.set_window_size(1400, 2000)
    browser.get(index.resolve().as_uri())
    _wait(browser, lambda d: d.execute_script("return document.readyState") == "complete", 60, "index.html")
    _shot(browser, screenshots, "07_reports_index")

    heading = browser.find_element(By.TAG_NAME, "h1").text
    assert "tiny" in heading
    meta = browser.find_element(By.CSS_SELECTOR, "table.meta").text
    assert re.search(r"git commit\s+([0-9a-f]{40}|unknown)", meta) and re.search(r"run date\s+\d{4}-\d\d-\d\d", meta)

    links = browser.execute_script(LINKS_JS)
    assert any(link.endswith("table_retrieval.html") for link in links), "the rendered notebook is linked"
    assert any(link.endswith("table_retrieval.csv") for link in links), "the table's files are linked"
    for link in links:
        parsed = urlparse(link)
        assert parsed.scheme == "file", f"{link}: links must be relative to the page"
        target = Path(unquote(parsed.path))
        assert target.is_file(), f"{link} does not resolve to a file"

    # the table is readable on the page itself, and every figure decodes
    cells = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "table:not(.meta) td")]
    assert any(c == "PFE (ArcFace)" for c in cells), "the retrieval table is rendered as an HTML table (paper names)"
    images = browser.find_elements(By.TAG_NAME, "img")
    assert any("fig_erc.png" in img.get_attribute("src") for img in images), "figures are shown on the page"
    for img in images:
        assert img.get_property("naturalWidth") > 0, img.get_attribute("src")

    browser.get(index.with_name("table_retrieval.html").resolve().as_uri())
    _wait(browser, lambda d: d.execute_script("return document.readyState") == "complete", 60,
          "the rendered table_retrieval notebook")
    assert "pfe-arcface" in browser.find_element(By.TAG_NAME, "body").text
    _shot(browser, screenshots, "08_rendered_table_retrieval")
    browser.set_window_size(1400, 1000)
