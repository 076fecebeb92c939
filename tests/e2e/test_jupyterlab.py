"""The notebooks in a real JupyterLab, in a real browser: what a learner clicks.

For each notebook: open it in JupyterLab (its kernel in ci mode), Edit > Clear Outputs of All Cells, Run >
Run All Cells, wait until every cell has run; then no cell may show an error, the explorers (the memory
explorer among them) must render, a slider above a figure, and in each one dragging a slider one step
must change the figure's PNG bytes.
The kernel is shut down after each notebook and the server at the end, whatever happened; the notebook
files on disk stay as they were (autosave is off). Screenshots go to tests/e2e/artifacts/ (git-ignored):
`NN_name-notebook.png` (the whole notebook after the run), `NN_name-explorerK.png` (explorer K after the
drag) or `NN_name-failure.png` (the page when the test failed), with the browser's console
(`NN_name-console.txt`) and the server's log (`jupyterlab.log`).

Run it with `make e2e` (also the last step of `make test`); see tests/e2e/README.md.
"""

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from lab_server import running_lab, shutdown_kernels

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
# The notebooks with slider explorers: the tour, segments and memory tokens (mask explorer), inside the memory.
NOTEBOOKS = ["00_tour.ipynb", "01_segments_and_memory.ipynb", "05_inside_the_memory.ipynb"]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
# Kernels inherit the server's environment. On a busy machine, OpenMP threads that spin while waiting make
# ci mode's two torch threads ~5-10x slower than one; passive waiting removes that (no effect when idle).
KERNEL_ENV = {"MINIRMT_MODE": "ci", "OMP_WAIT_POLICY": "PASSIVE"}
OPEN_TIMEOUT, RUN_TIMEOUT, REDRAW_TIMEOUT = 90, 300, 30  # seconds: failure limits, generous for a busy machine


@pytest.fixture(scope="module")
def lab(browser_available):
    """JupyterLab serving notebooks/ with its kernels in ci mode; stopped (kernels included) at the end.

    Its log is copied to the artifacts afterwards.
    """
    with tempfile.TemporaryDirectory(prefix="minirmt-e2e-") as work:
        try:
            with running_lab(NOTEBOOK_DIR, Path(work), KERNEL_ENV) as server:
                yield server
        finally:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(Path(work) / "jupyterlab.log", ARTIFACTS / "jupyterlab.log")


def tagged(path: Path, tag: str) -> set[int]:
    """The indices of the notebook's cells that carry `tag`."""
    cells = json.loads(path.read_text())["cells"]
    return {i for i, cell in enumerate(cells) if tag in cell.get("metadata", {}).get("tags", [])}


def run_all_cells(ui, page, path: Path) -> None:
    """Run the whole notebook from the menus; fail on any error output or a cell left unrun."""
    may_raise = tagged(path, "raises-exception")
    cells = ui.run_all(page, RUN_TIMEOUT, may_raise)
    errors = {c.index: c.errors()[0] for c in cells if c.errors() and c.index not in may_raise}
    if errors:
        page.locator(ui.CELLS).nth(min(errors)).scroll_into_view_if_needed()
        report = "\n".join(f"cell {i}:\n{text}" for i, text in errors.items())
        pytest.fail(f"{path.name}: cells show errors in JupyterLab:\n{report}", pytrace=False)
    unrun = [c.index for c in cells if c.code and not c.ran]
    assert not unrun, f"{path.name}: cells left unrun after Run All Cells: {unrun}"
    assert len(cells) == len(json.loads(path.read_text())["cells"]), f"{path.name}: the page lacks cells"


def drag_a_slider(ui, page, explorer, what: str) -> None:
    """Drag the explorer's first slider one step; its figure's PNG bytes must change."""
    slider, image = explorer.locator(".widget-slider").first, explorer.locator("img.widget-image")
    assert slider.is_visible(), f"{what}: the slider is not visible"
    before, src = ui.image_png(image), image.get_attribute("src")
    assert before.startswith(b"\x89PNG"), f"{what}: the figure is not a PNG image"
    label, old, new = ui.nudge(slider)
    assert old != new, f"{what}: dragging slider {label!r} left it at {old}"
    redrawn = ui.wait_for_new_image(image, src, REDRAW_TIMEOUT)
    assert redrawn, (f"{what}: the figure did not change within {REDRAW_TIMEOUT} s after slider {label!r} moved "
                     f"{old} -> {new} (an exception in the widget's callback shows in View > Show Log Console)")
    assert ui.image_png(image) != before, f"{what}: slider {label!r} moved {old} -> {new}, the figure's bytes did not"


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_learner_runs_notebook_and_drags_sliders(lab, page, name):
    import lab_page as ui  # needs playwright, which the fixtures have checked for

    path = NOTEBOOK_DIR / name
    assert path.exists(), f"{path} is missing"
    on_disk = path.read_bytes()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    console = []  # the browser's console, kept for diagnosis
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    try:
        ui.open_notebook(page, lab.notebook_url(name), OPEN_TIMEOUT)
        run_all_cells(ui, page, path)
        ui.screenshot_whole(page, ARTIFACTS / f"{path.stem}-notebook.png")
        explorers = page.locator(ui.EXPLORER)
        explorers.first.wait_for(state="visible", timeout=REDRAW_TIMEOUT * 1000)
        for k in range(explorers.count()):
            drag_a_slider(ui, page, explorers.nth(k), f"{name}, explorer {k}")
            ui.screenshot(page, ARTIFACTS / f"{path.stem}-explorer{k}.png", explorers.nth(k))
    except BaseException:
        ui.screenshot(page, ARTIFACTS / f"{path.stem}-failure.png")  # the page as it was when the test failed
        raise
    finally:
        shutdown_kernels(lab)
        (ARTIFACTS / f"{path.stem}-console.txt").write_text("\n".join(console) + "\n")
    assert lab.api("GET", "kernels") == [], f"{name}: a kernel still runs after the shutdown"
    assert path.read_bytes() == on_disk, f"{name} changed on disk while it ran in JupyterLab (autosave?)"
