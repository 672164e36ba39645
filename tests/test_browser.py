"""The kit as a person meets it, in a real browser: JupyterLab, started as ``./run_all.sh lab`` starts it, on a
copy of the repository (a user's clone), runs the quickstart through its UI on the kit's kernel "Python
(pml-kit)"; the explorer shows characters, training curves and links to the run folder; saving leaves no
committed file changed (``git status`` of the copy); an executed report opens in Lab; the reports' landing
page and the rendered notebooks link only to files that exist.

Needs Debian's chromium and chromedriver plus selenium (``./run_all.sh setup --browser``); skipped with
the reason when any is missing. Installs nothing and reaches no network: JupyterLab listens on a free
localhost port with a token, on the temporary copy, with the kernel spec, settings and data root in
temporary folders. Screenshots go to the test's tmp folder and, when ``PML_SCREENSHOTS`` names a folder,
are copied there.
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

PARAMETER_EDITS = {"profile": '"tiny"', "method": '"arcface"', "dim": "8", "seed": "0"}  # trains one tiny run


# -- fixtures ----------------------------------------------------------------------------------------


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def _set_parameters(path: Path, edits: dict[str, str]) -> None:
    notebook = nbformat.read(path, as_version=4)
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    lines = cell.source.splitlines()
    for name, value in edits.items():
        matches = [i for i, line in enumerate(lines) if re.match(rf"{name}\s*=", line)]
        assert matches, f"{path.name}'s parameters cell has no {name} = ... line"
        lines[matches[0]] = f"{name} = {value}"
    cell.source = "\n".join(lines)
    nbformat.write(notebook, path)


@pytest.fixture(scope="module")
def repo(tmp_path_factory, data_root):
    """A user's clone: the repository's tracked and new files in a fresh git repository, quickstart's parameters
    set to the tiny profile's pfe-arcface (committed too), and what ``./run_all.sh tiny --only table_retrieval
    fig_erc`` writes (results/, reports/tiny/, paper_figures/tiny/: all git-ignored) inside it."""
    from pml_core.report import run_notebooks

    root = tmp_path_factory.mktemp("browser") / "repo"
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                            capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, root / name)
    _set_parameters(root / "notebooks" / "quickstart.ipynb", PARAMETER_EDITS)
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "-c", "user.email=test@example.org", "-c", "user.name=test", "commit", "-qm", "clone")
    status = run_notebooks.main(["--profile", "tiny", "--only", "table_retrieval", "fig_erc", "--methods", "pfe-arcface",
                                 "--data-root", str(data_root), "--results-root", str(root / "results"),
                                 "--reports-root", str(root / "reports"),
                                 "--figures-root", str(root / "paper_figures")])
    assert status == 0, "table_retrieval or fig_erc failed in the tiny profile"
    assert _git(root, "status", "--porcelain") == "", "./run_all.sh tiny must leave the clone clean"
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
def lab(repo, data_root, tmp_path_factory):
    """JupyterLab as ``./run_all.sh lab`` starts it (`pml_core.report.lab.server_command`), on the clone, with the
    kit's kernel registered in a temporary Jupyter path: ``(base_url, token, work folder)``."""
    from pml_core.report import kernel
    from pml_core.report.lab import server_command

    work = tmp_path_factory.mktemp("lab")
    kernel.install(kernels_dir=work / "jupyter" / "kernels")
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "PML_DATA_ROOT": str(data_root), "WANDB_MODE": "offline",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": str(repo), "JUPYTER_PATH": str(work / "jupyter"), "JUPYTER_RUNTIME_DIR": str(work / "runtime")}
    env.pop("MPLBACKEND", None)  # the notebook chooses the inline backend itself
    command = server_command(repo, port, token, [
        "--no-browser", "--ServerApp.open_browser=False", "--ServerApp.ip=127.0.0.1",
        f"--LabApp.user_settings_dir={_lab_settings(work / 'settings')}", f"--LabApp.workspaces_dir={work / 'workspaces'}"])
    log = open(work / "lab.log", "w")
    process = subprocess.Popen(command, cwd=repo, env=env, stdout=log, stderr=subprocess.STDOUT,
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


def _dialog_text(driver) -> str:
    from selenium.webdriver.common.by import By

    return "\n".join(d.text for d in driver.find_elements(By.CSS_SELECTOR, ".jp-Dialog"))


PROMPTS_JS = """
return [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputArea-prompt')].map(e => e.innerText.trim());
"""

ERRORS_JS = """
const bad = [];
for (const el of document.querySelectorAll('.jp-Notebook .jp-OutputArea-output')) {
  const text = el.innerText || '';
  const stderr = (el.getAttribute('data-mime-type') || '') === 'application/vnd.jupyter.stderr';
  if (/Traceback|Error displaying widget/.test(text) || (stderr && /^\\w*(Error|Exception)\\b/m.test(text)))
    bad.push(text.slice(Math.max(0, text.search(/Traceback|Error/) - 300), text.search(/Traceback|Error/) + 3000));
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


def _scroll_to(driver, element, block="start") -> None:
    driver.execute_script(f"arguments[0].scrollIntoView({{block: '{block}'}});", element)
    time.sleep(0.5)


def _test_characters(repo: Path) -> set[str]:
    """The characters of the tiny profile's glyphs test classes (the second half of its classes)."""
    import yaml

    from pml_core.data.glyphs import select_characters

    classes = yaml.safe_load((repo / "configs/profiles/tiny.yaml").read_text())["dataset_params"]["glyphs_params"][
        "num_classes"]
    return {char for char, _ in select_characters(classes)[classes // 2:]}


def _save(driver, path: Path) -> None:
    """File > Save Notebook, and wait until the file on disk is rewritten."""
    before = path.stat().st_mtime_ns
    _click_menu(driver, "File", "Save Notebook")
    _wait(driver, lambda d: path.stat().st_mtime_ns != before, 60, f"{path.name} to be saved")
    time.sleep(1)


def test_quickstart_in_jupyterlab_changes_no_committed_file(repo, lab, browser, screenshots):
    from selenium.webdriver.common.by import By

    base, token, work = lab
    started = time.monotonic()
    browser.get(f"{base}/lab/tree/notebooks/quickstart.ipynb?token={token}")
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-CodeCell"), 180,
          "the quickstart notebook to open")
    _wait(browser, lambda d: _kernel_idle(d) or _dialog_text(d), 180, "the kernel to start (idle)")
    assert not _dialog_text(browser), f"JupyterLab asked something instead of starting the kernel: {_dialog_text(browser)}"
    statusbar = browser.find_element(By.CSS_SELECTOR, "#jp-main-statusbar").text
    assert "Python (pml-kit)" in statusbar, f"the kit's kernel, not {statusbar!r}"
    with urllib.request.urlopen(f"{base}/api/sessions?token={token}", timeout=10) as reply:
        sessions = json.load(reply)
    assert [s["kernel"]["name"] for s in sessions] == ["pml-kit"]
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
        _wait(browser, _kernel_idle, 120, "the kernel to be idle again")
    else:
        pytest.fail("Run > Run All Cells did not start any cell")

    def finished(driver):
        prompts = driver.execute_script(PROMPTS_JS)
        if driver.execute_script(ERRORS_JS):
            return True  # stop waiting; asserted below
        return len(prompts) == count and all(re.fullmatch(r"\[\d+\]:", p) for p in prompts)

    _wait(browser, finished, 900, "every quickstart cell to run (no [*] or [ ] prompt left)", poll=2)
    errors = browser.execute_script(ERRORS_JS)
    _shot(browser, screenshots, "02_quickstart_ran")
    assert not errors, "a cell shows an error in JupyterLab:\n" + "\n---\n".join(errors)
    text = browser.find_element(By.CSS_SELECTOR, ".jp-Notebook").text
    assert re.search(r"\[1/1\] glyphs/arcface-8/seed-0: epoch 2/2, loss", text), "the training cell reports its progress"
    assert "Profile tiny" in text and "scratch/tiny" in text, "the profile note and where figures go"

    images = browser.execute_script(IMAGES_JS)
    assert images and all(i["width"] > 0 and i["height"] > 0 for i in images), f"broken output images: {images}"
    grid = browser.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-OutputArea-output img")[0]
    assert grid.get_property("naturalWidth") > 300, "the retrieval grid should be a full-size PNG"
    _scroll_to(browser, grid)
    _shot(browser, screenshots, "03_retrieval_grid")

    # the explorer ran in widget mode: profile, dataset, method, run and order dropdowns, links, pages, views
    selects = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".widget-dropdown select"), 60,
                    "the explorer's dropdowns")
    labels = [s.find_element(By.XPATH, "./..").text.split("\n")[0] for s in selects]
    assert labels[:5] == ["profile", "dataset", "method", "run", "order"], labels
    from selenium.webdriver.support.ui import Select

    assert Select(selects[0]).first_selected_option.text == "tiny"
    run_choice = Select(selects[3]).first_selected_option.text
    assert run_choice == "dim 8, seed 0", run_choice
    for select, label in zip(selects[:4], labels):  # no option is cut off
        room = browser.execute_script(FITS_JS, select)
        assert room >= 0, f"the {label} dropdown cuts its longest choice by {-room:.0f} px"
    assert [o.text for o in Select(selects[4]).options] == ["spread", "least-confident", "most-confident"]
    links = browser.find_elements(By.CSS_SELECTOR, ".pml-explorer-links a")
    assert {a.text for a in links} >= {"config.yaml", "metrics.json", "history.csv"}, [a.text for a in links]
    classes = [row.find_elements(By.TAG_NAME, "td")[0].text
               for row in browser.find_elements(By.CSS_SELECTOR, ".pml-explorer-table tbody tr")]
    assert classes and set(classes) <= _test_characters(repo), f"the class column shows characters: {classes}"
    curves = browser.find_elements(By.CSS_SELECTOR, ".pml-explorer-curves img")
    assert curves and curves[0].get_property("naturalWidth") > 300, "the training-curves view"
    erc = browser.find_elements(By.CSS_SELECTOR, ".pml-explorer-erc img")
    assert erc and erc[0].get_property("naturalWidth") > 300, "the run's ERC"
    status = browser.find_element(By.CSS_SELECTOR, ".widget-html").text
    assert re.search(r"page 1 of (\d+)", status), status
    slider = browser.find_element(By.CSS_SELECTOR, ".widget-slider .widget-readout").text
    assert slider.strip() == "1", f"the page slider starts at 1, shows {slider!r}"
    _scroll_to(browser, selects[0])
    _shot(browser, screenshots, "04_explorer")

    before = browser.find_element(By.CSS_SELECTOR, ".pml-explorer-grid img").get_attribute("src")
    nexts = [b for b in browser.find_elements(By.CSS_SELECTOR, "button.jupyter-button") if "next" in b.text]
    assert nexts, "a 'next queries' button"
    browser.execute_script("arguments[0].click();", nexts[0])

    def new_page(driver):
        imgs = driver.find_elements(By.CSS_SELECTOR, ".pml-explorer-grid img")
        return imgs and imgs[0].get_attribute("src") != before and imgs[0].get_property("naturalWidth") > 0

    _wait(browser, new_page, 120, "the explorer to draw the next queries")
    assert "page 2 of" in browser.find_element(By.CSS_SELECTOR, ".widget-html").text
    assert browser.find_element(By.CSS_SELECTOR, ".widget-slider .widget-readout").text.strip() == "2"
    _scroll_to(browser, selects[0])
    _shot(browser, screenshots, "05_explorer_next_queries")
    _scroll_to(browser, curves[0], "center")
    _shot(browser, screenshots, "06_explorer_training_curves")
    _scroll_to(browser, erc[0], "center")
    _shot(browser, screenshots, "07_explorer_erc")

    before = browser.find_element(By.CSS_SELECTOR, ".pml-explorer-grid img").get_attribute("src")
    Select(browser.find_elements(By.CSS_SELECTOR, ".widget-dropdown select")[2]).select_by_visible_text("arcface")
    _wait(browser, lambda d: d.execute_script(OPTIONS_JS)[4] == ["spread"], 120,
          "the order choice to drop the confidence orders (a deterministic run)")
    _wait(browser, lambda d: "no confidences" in d.find_element(By.CSS_SELECTOR, ".pml-explorer-erc").text, 120,
          "the ERC view to say the run has no confidences")
    _wait(browser, _kernel_idle, 120, "the explorer to finish drawing the deterministic run")
    problems = browser.find_element(By.CSS_SELECTOR, ".pml-explorer-problems").text
    assert not problems, problems
    _wait(browser, new_page, 60, "the query grid of the deterministic run")
    _scroll_to(browser, browser.find_elements(By.CSS_SELECTOR, ".widget-dropdown select")[0])
    _shot(browser, screenshots, "08_explorer_deterministic_run")
    _click_menu(browser, "View", "Show Log Console")
    logged = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".jp-LogConsolePanel"), 30, "the log console")
    time.sleep(1)
    _shot(browser, screenshots, "08b_log_console")
    strays = logged[0].find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output")
    assert not strays, "output that missed its widget reached the log console: " + logged[0].text[:2000]
    assert not browser.execute_script(ERRORS_JS)

    # saving (what autosave does) leaves every committed file as it was; figures went to scratch/tiny/
    notebook = repo / "notebooks" / "quickstart.ipynb"
    _save(browser, notebook)
    assert _git(repo, "status", "--porcelain") == "", _git(repo, "status", "--porcelain") + _git(repo, "diff")[:3000]
    assert (repo / "scratch" / "tiny" / "quickstart_retrieval_grid.png").is_file()
    assert not (repo / "paper_figures" / "tiny" / "quickstart_retrieval_grid.png").exists()

    # links lead to the run: config.yaml opens in a Lab tab
    config = next(a for a in browser.find_elements(By.CSS_SELECTOR, ".pml-explorer-links a") if a.text == "config.yaml")
    _scroll_to(browser, config, "center")
    browser.execute_script("arguments[0].click();", config)
    _wait(browser, lambda d: [t for t in d.find_elements(By.CSS_SELECTOR, ".lm-TabBar-tabLabel")
                              if t.text == "config.yaml"], 60, "config.yaml to open from the explorer's link")
    time.sleep(1)
    _shot(browser, screenshots, "09_run_config_opened")
    assert "without encryption" not in (work / "lab.log").read_text(), "kernel sockets are encrypted"
    print(f"quickstart through the JupyterLab UI: {time.monotonic() - started:.0f} s; dropdowns {labels}")


def test_executed_report_opens_in_jupyterlab(repo, lab, browser, screenshots):
    """The index's advice: open reports/<profile>/<name>.ipynb in JupyterLab (served from the repository root)."""
    from selenium.webdriver.common.by import By

    base, token, _ = lab
    shown = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"  # the tab in front (the quickstart may be open)
    browser.get(f"{base}/lab/tree/reports/tiny/table_retrieval.ipynb?token={token}")
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f"{shown} .jp-MarkdownCell"), 180,
          "the executed table_retrieval notebook to open")
    _wait(browser, lambda d: "all reports of the" in d.find_element(By.CSS_SELECTOR, shown).text, 60,
          "its header with the parameters")
    text = browser.find_element(By.CSS_SELECTOR, shown).text
    assert "pfe-arcface" in text and "outside root" not in text
    _shot(browser, screenshots, "10_executed_report_in_lab")
    assert _git(repo, "status", "--porcelain") == ""


FITS_JS = """
const select = arguments[0], context = document.createElement('canvas').getContext('2d');
context.font = getComputedStyle(select).font;
const widest = Math.max(...[...select.options].map(o => context.measureText(o.text).width));
return select.clientWidth - 28 - widest;  // 28 px: the padding and the arrow
"""

OPTIONS_JS = """
return [...document.querySelectorAll('.jp-Notebook .widget-dropdown select')].map(s => [...s.options].map(o => o.text));
"""

LINKS_JS = """
return [...document.querySelectorAll('a[href]')].map(a => a.href)
  .concat([...document.querySelectorAll('img[src]')].map(i => i.src));
"""


def _local_links_resolve(browser) -> list[str]:
    links = browser.execute_script(LINKS_JS)
    for link in links:
        parsed = urlparse(link)
        if parsed.scheme != "file":
            continue  # checked by the caller where it matters
        target = Path(unquote(parsed.path))
        assert target.is_file(), f"{link} does not resolve to a file"
    return links


def test_reports_index_links_resolve(repo, browser, screenshots):
    from selenium.webdriver.common.by import By

    index = repo / "reports" / "tiny" / "index.html"
    browser.set_window_size(1400, 2000)
    browser.get(index.resolve().as_uri())
    _wait(browser, lambda d: d.execute_script("return document.readyState") == "complete", 60, "index.html")
    _shot(browser, screenshots, "11_reports_index")

    heading = browser.find_element(By.TAG_NAME, "h1").text
    assert "tiny" in heading
    meta = browser.find_element(By.CSS_SELECTOR, "table.meta").text
    assert re.search(r"git commit\s+([0-9a-f]{40}|unknown)", meta) and re.search(r"run date\s+\d{4}-\d\d-\d\d", meta)

    links = _local_links_resolve(browser)
    assert all(urlparse(link).scheme == "file" for link in links), "links must be relative to the page"
    assert any(link.endswith("table_retrieval.html") for link in links), "the rendered notebook is linked"
    assert any(link.endswith("table_retrieval.csv") for link in links), "the table's files are linked"

    # the table is readable on the page itself, and every figure decodes
    cells = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "table:not(.meta) td")]
    assert any(c == "PFE (ArcFace)" for c in cells), "the retrieval table is rendered as an HTML table (paper names)"
    images = browser.find_elements(By.TAG_NAME, "img")
    assert any("fig_erc.png" in img.get_attribute("src") for img in images), "figures are shown on the page"
    for img in images:
        assert img.get_property("naturalWidth") > 0, img.get_attribute("src")

    # a rendered notebook: its parameters, and a link back to the index
    browser.get(index.with_name("table_retrieval.html").resolve().as_uri())
    _wait(browser, lambda d: d.execute_script("return document.readyState") == "complete", 60,
          "the rendered table_retrieval notebook")
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "pfe-arcface" in body or "PFE" in body
    assert "Profile tiny" in body and "With the smoke profile" not in body
    parameters = {row.find_elements(By.TAG_NAME, "td")[0].text: row.find_elements(By.TAG_NAME, "td")[1].text
                  for row in browser.find_elements(By.CSS_SELECTOR, "table tbody tr")
                  if len(row.find_elements(By.TAG_NAME, "td")) == 3}
    assert parameters.get("profile") == '"tiny" (given)', parameters
    back = [a for a in browser.find_elements(By.TAG_NAME, "a") if "all reports" in a.text]
    assert back and back[0].get_attribute("href").endswith("/reports/tiny/index.html")
    _local_links_resolve(browser)
    _shot(browser, screenshots, "12_rendered_table_retrieval")
    back[0].click()
    _wait(browser, lambda d: d.find_elements(By.TAG_NAME, "h1") and "tiny" in d.find_element(By.TAG_NAME, "h1").text,
          30, "the back link to reach the index")
    browser.set_window_size(1400, 1000)
