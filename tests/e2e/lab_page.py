"""What a learner does in JupyterLab, as Playwright steps: open a notebook, run every cell, read the results.

The notebook on screen is read from the page's DOM, cell by cell in notebook order: its input prompt (`[ ]:`
not run, `[*]:` queued or running, `[7]:` done) and its outputs. JupyterLab draws an error, like text written
to stderr, as an output of mime type `application/vnd.jupyter.stderr`; an error's text holds its traceback.
An explorer from `minirmt.course.widgets` is an ipywidgets VBox with sliders (noUiSlider handles, `role="slider"`)
above an <img> whose `src` is a blob URL of the figure's PNG bytes.
"""

import base64
import time
from collections.abc import Container
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Locator, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

STDERR = "application/vnd.jupyter.stderr"
NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook on screen
CELLS = f"{NOTEBOOK} .jp-Notebook .jp-Cell"
EXPLORER = f"{NOTEBOOK} .jupyter-widgets.widget-vbox:has(.widget-slider):has(img.widget-image)"
KERNEL_GONE = ("dead", "restarting", "autorestarting", "terminating")

# One record per cell: its type, prompt and the (mime type, text) of its outputs.
READ_CELLS = """selector => [...document.querySelectorAll(selector)].map(cell => ({
    code: cell.classList.contains('jp-CodeCell'),
    prompt: (cell.querySelector('.jp-InputArea-prompt')?.textContent ?? '').trim(),
    outputs: [...cell.querySelectorAll('.jp-OutputArea-output')].map(out => [out.dataset.mimeType ?? '',
                                                                           out.textContent]),
}))"""

READ_IMAGE = """img => fetch(img.src).then(reply => reply.blob()).then(blob => new Promise(done => {
    const reader = new FileReader();
    reader.onload = () => done(reader.result.split(',')[1]);
    reader.readAsDataURL(blob);
}))"""


@dataclass
class Cell:
    """One cell as the page shows it. prompt: "[3]:", "[*]:" or "[ ]:" for code cells, "" otherwise."""

    index: int
    code: bool
    prompt: str
    outputs: list[tuple[str, str]]

    @property
    def ran(self) -> bool:
        return self.prompt[1:-2].isdigit()

    def errors(self) -> list[str]:
        """The texts of this cell's error outputs (stderr text holding a traceback)."""
        return [text for mime, text in self.outputs if mime == STDERR and "Traceback" in text]


def read_cells(page: Page) -> list[Cell]:
    return [Cell(i, c["code"], c["prompt"], c["outputs"]) for i, c in enumerate(page.evaluate(READ_CELLS, CELLS))]


def kernel_status(page: Page) -> str:
    """The notebook toolbar's kernel status: "idle", "busy", "starting", ..."""
    return page.locator(f"{NOTEBOOK} .jp-Notebook-ExecutionIndicator").get_attribute("data-status")


def open_notebook(page: Page, url: str, timeout: float) -> None:
    """Open a notebook page and wait until its kernel (the notebook's own, Python 3) has started and is idle."""
    page.goto(url)
    try:
        page.locator(CELLS).first.wait_for(timeout=timeout * 1000)
        page.locator(f"{NOTEBOOK} .jp-KernelName", has_text="Python").wait_for(timeout=timeout * 1000)
        page.locator(f"{NOTEBOOK} .jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(
            timeout=timeout * 1000)
    except PlaywrightTimeout:
        dialogs = page.locator(".jp-Dialog").all_inner_texts()
        raise AssertionError(f"the notebook did not open with an idle Python kernel within {timeout:.0f} s"
                             + (f"; a dialog asks: {dialogs}" if dialogs else "")) from None


def menu(page: Page, *path: str) -> None:
    """Click through the menu bar, e.g. menu(page, "Run", "Run All Cells")."""
    for label in path:
        page.get_by_role("menuitem", name=label, exact=True).click()


def run_all(page: Page, timeout: float, may_raise: Container[int] = ()) -> list[Cell]:
    """Edit > Clear Outputs of All Cells, Run > Run All Cells; wait until every code cell ran or one failed.

    Clearing first matters: a committed notebook already shows execution counts. Cells whose index is in
    `may_raise` (tagged raises-exception) may show an error. Returns the cells as they are at the end.
    Raises TimeoutError (naming the cells still waiting) if the run takes longer than `timeout` seconds.
    """
    menu(page, "Edit", "Clear Outputs of All Cells")
    menu(page, "Run", "Run All Cells")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cells = read_cells(page)
        code = [cell for cell in cells if cell.code]
        status = kernel_status(page)
        if status in KERNEL_GONE:
            raise RuntimeError(f"the kernel went {status!r} during Run All Cells (out of memory? a crash?)")
        if any(cell.errors() for cell in code if cell.index not in may_raise):
            return cells
        if all(cell.ran for cell in code) and status == "idle":
            return cells
        time.sleep(0.5)
    waiting = [cell for cell in read_cells(page) if cell.code and not cell.ran]
    if waiting:
        page.locator(CELLS).nth(waiting[0].index).scroll_into_view_if_needed()  # for the screenshot
    names = [f"cell {cell.index} {cell.prompt}" for cell in waiting]
    raise TimeoutError(f"Run All Cells did not finish within {timeout:.0f} s; still waiting: {names}")


def image_png(image: Locator) -> bytes:
    """The bytes behind an <img> (its `src` is a blob: or data: URL), read inside the page."""
    return base64.b64decode(image.evaluate(READ_IMAGE))


def nudge(slider: Locator) -> tuple[str, int, int]:
    """Drag a slider's handle with the mouse by one step: right, or left when it sits at its maximum.

    Returns the slider's label, its value before and its value after.
    """
    handle, track = slider.locator(".noUi-handle"), slider.locator(".noUi-base")
    low, value, high = (float(handle.get_attribute(f"aria-value{a}")) for a in ("min", "now", "max"))
    handle.hover()  # scrolls it into view and checks that nothing covers it
    step = track.bounding_box()["width"] / max(high - low, 1) * (1 if value < high else -1)
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    mouse = slider.page.mouse
    mouse.move(x, y)
    mouse.down()
    mouse.move(x + step, y, steps=5)
    mouse.up()
    label = slider.locator(".widget-label").text_content()
    return label, int(value), int(float(handle.get_attribute("aria-valuenow")))


def wait_for_new_image(image: Locator, old_src: str, timeout: float) -> bool:
    """Wait until the <img> shows a different `src` (the widget replaced its figure); False if it never does."""
    try:
        image.page.wait_for_function("([img, src]) => img.src && img.src !== src",
                                     arg=[image.element_handle(), old_src], timeout=timeout * 1000)
    except PlaywrightTimeout:
        return False
    return True


def screenshot(page: Page, path: Path, target: Locator | None = None) -> None:
    """Save what the learner sees, with the top of `target` (if given) at the top of the notebook."""
    if target is not None:
        target.evaluate("el => el.scrollIntoView({block: 'start'})")
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=path)


def screenshot_whole(page: Page, path: Path, max_height: int = 16000) -> None:
    """Save the whole notebook in one image: the window grows to the notebook's height, then shrinks back."""
    scroller = page.locator(f"{NOTEBOOK} .jp-WindowedPanel-outer")
    hidden = scroller.evaluate("el => el.scrollHeight - el.clientHeight")
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": min(size["height"] + hidden, max_height)})
    try:
        scroller.evaluate("el => el.scrollTo(0, 0)")
        page.wait_for_timeout(500)  # let JupyterLab lay the taller window out
        screenshot(page, path)
    finally:
        page.set_viewport_size(size)
