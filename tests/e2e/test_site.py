"""The course website in a real browser: built from the committed notebooks (`notebooks/site/build.py`, as
`make docs` does), served over HTTP on localhost and opened in headless Chromium.

- every lesson page loads with all its figures (one <img> per PNG output of the committed notebook, each decoded),
  its solutions and its answer key folded away, its launch bar opening the learner copy (Colab, Binder, a
  download that is the learner copy, and a JupyterHub button that asks for the hub and goes to an nbgitpuller
  link);
- the API pages show the library's classes; the home page lists every lesson;
- every link, image, script and stylesheet inside the site resolves (the whole site is crawled), anchors included.

Requests leaving localhost are blocked in the browser; links to other sites are checked for their form only.
Screenshots go to tests/e2e/artifacts/site-*.png.
"""

import functools
import http.server
import importlib.util
import os
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from minirmt.course import exercises

ROOT = Path(__file__).resolve().parents[2]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
HUB = "https://hub.example.edu"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site built into a temporary folder (launch links at `main`), served on a free localhost port."""
    if importlib.util.find_spec("myst_nb") is None:
        reason = "the docs extra builds the site: pip install -e '.[docs]' (make e2e installs it)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"the site test cannot run in CI: {reason}", pytrace=False)
        pytest.skip(reason)
    out = tmp_path_factory.mktemp("site") / "site"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, str(ROOT / "notebooks" / "site" / "build.py"), "--out", str(out)], check=True,
                   timeout=300)
    handler = functools.partial(Quiet, directory=str(out))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield f"http://127.0.0.1:{server.server_address[1]}"
        server.shutdown()


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def local_page(page, site):
    """A browser tab that may reach the site only."""
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(site) else route.abort())
    return page


def expected_figures(path: Path) -> int:
    """The figures of the committed notebook: its PNG outputs and the images in its text (the Colab badge makes way
    for the launch bar)."""
    notebook = nbformat.read(path, as_version=4)
    outputs = sum("image/png" in output.get("data", {}) for cell in notebook.cells if cell.cell_type == "code"
                  for output in cell.outputs)
    return outputs + sum(cell.source.count("![") for cell in notebook.cells
                         if cell.cell_type == "markdown" and not cell.source.startswith(exercises.BADGE))


def figures(page) -> tuple[int, list[str]]:
    """The number of images in the page's article, and the sources of those that did not decode."""
    return page.eval_on_selector_all("article img", """imgs => [imgs.length,
        imgs.filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.src)]""")


@pytest.mark.e2e
@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_page_shows_its_figures_and_launches_the_learner_copy(site, local_page, path):
    page, here = local_page, f"notebooks/{path.name}"
    reply = page.goto(f"{site}/lessons/{path.stem}.html", wait_until="load")
    assert reply.status == 200
    page.screenshot(path=ARTIFACTS / f"site-{path.stem}.png")
    count, broken = figures(page)
    assert count == expected_figures(path) > 0
    assert not broken, f"figures that did not load: {broken}"
    title = nbformat.read(path, as_version=4).cells[0].source.partition("\n")[0].lstrip("# ")
    assert page.locator("article h1").first.inner_text().strip().startswith(title)

    bar = page.locator(".minirmt-launch")
    hrefs = bar.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert exercises.colab_url(here, "main") in hrefs and exercises.binder_url(here, "main") in hrefs
    download = urllib.request.urlopen(urllib.parse.urljoin(page.url, f"../exercises/{path.name}")).read().decode()
    assert download == (ROOT / "notebooks" / "exercises" / path.name).read_text()  # the learner copy, as committed
    assert exercises.BEGIN not in download

    cells = nbformat.read(path, as_version=4).cells
    for selector, count in (("details.hide.above-input", sum(exercises.BEGIN in c.source for c in cells)),
                            ("details.sd-dropdown", sum(exercises.ANSWER_TAG in c.metadata.get("tags", [])
                                                        for c in cells))):
        folded = page.locator(selector)  # the solutions, the answer key: closed until the reader opens them
        assert folded.count() == count and all(folded.nth(k).get_attribute("open") is None for k in range(count))


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_the_jupyterhub_button_asks_for_the_hub_and_opens_an_nbgitpuller_link(site, local_page):
    page, lesson = local_page, LESSONS[1]
    page.goto(f"{site}/lessons/{lesson.stem}.html", wait_until="load")
    page.on("dialog", lambda dialog: dialog.accept(f"{HUB}/"))
    page.route(f"{HUB}/**", lambda route: route.fulfill(status=200, body="hub"))
    with page.expect_navigation(url=f"{HUB}/**"):
        page.locator(".minirmt-launch a[data-nbgitpuller]").click()
    url = urllib.parse.urlsplit(page.url)
    query = dict(urllib.parse.parse_qsl(url.query))
    repository = exercises.repository()[0]
    assert url.path == "/hub/user-redirect/git-pull"
    assert query == {"repo": repository, "branch": "main",
                     "urlpath": f"lab/tree/{repository.rsplit('/', 1)[1]}/notebooks/exercises/{lesson.name}"}


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_home_and_api_pages_load(site, local_page):
    page = local_page
    assert page.goto(f"{site}/index.html", wait_until="load").status == 200
    page.screenshot(path=ARTIFACTS / "site-index.png")
    for path in LESSONS:
        assert page.locator(f"article a[href='lessons/{path.stem}.html']").count() >= 1, path.stem
    assert not figures(page)[1]
    assert page.goto(f"{site}/api/model.html", wait_until="load").status == 200
    page.screenshot(path=ARTIFACTS / "site-api.png")
    assert page.locator("dt[id='minirmt.model.rmt.RecurrentMemoryTransformer']").is_visible()
    assert page.locator("dt[id='minirmt.model.config.ModelConfig']").count() == 1


class Links(HTMLParser):
    """The URLs a page refers to (links, images, scripts, stylesheets) and the ids it defines."""

    def __init__(self):
        super().__init__()
        self.urls, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.ids.update(attrs[key] for key in ("id", "name") if attrs.get(key))
        for key in ("href", "src"):
            if attrs.get(key) and not (tag == "link" and "preconnect" in (attrs.get("rel") or "")):
                self.urls.append(attrs[key])


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_every_link_inside_the_site_resolves(site):
    """Crawl from the home page: every local URL answers 200, and every #anchor names an id of its page."""
    pages, queue, broken, anchors = {}, [f"{site}/index.html"], [], []
    while queue:
        url = queue.pop()
        if url in pages:
            continue
        try:
            with urllib.request.urlopen(url, timeout=10) as reply:
                body = reply.read()
                kind = reply.headers.get_content_type()
        except OSError as error:
            broken.append(f"{url}: {error}")
            pages[url] = None
            continue
        pages[url] = parser = Links()
        if kind != "text/html":
            continue
        parser.feed(body.decode("utf-8", "replace"))
        for link in parser.urls:
            target, _, fragment = urllib.parse.urljoin(url, link).partition("#")
            if not target.startswith(site):
                assert urllib.parse.urlsplit(target).scheme in ("https", "mailto", "data", ""), link
                continue
            anchors += [(url, target, fragment)] if fragment else []
            queue.append(target)
    assert not broken, "\n".join(broken)
    missing = [f"{where}: #{fragment} not in {target}" for where, target, fragment in anchors
               if pages.get(target) is not None and pages[target].ids and fragment not in pages[target].ids]
    assert not missing, "\n".join(missing[:20])
    lesson_pages = [url for url in pages if "/lessons/" in url and url.endswith(".html")]
    assert len(lesson_pages) == len(LESSONS) and len(pages) > 50
