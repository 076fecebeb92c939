"""The course website, from the committed notebooks and the package's docstrings (`make docs`).

    python notebooks/site/build.py [--out build/site] [--ref main] [--hub https://hub.example.edu]

Stages the pages in `<out>-src` next to a copy of conf.py, then runs Sphinx (MyST-NB, the book theme) on them.
Nothing is executed: every lesson is shown with the outputs committed with it. The pages:

- home: the README's introduction and the lessons;
- a page per lesson (the instructor's copy as executed, each solution folded away, the answer key in a closed
  box), under a launch bar: its learner copy in Colab, Binder or a JupyterHub (nbgitpuller), or as a file;
- for instructors (teaching.md beside this file): the two copies, the launch links, nbgrader;
- the API, a page per layer, from the docstrings;
- the results: the README's "Measured" section, and each benchmark's README with the figures beside it.

`--ref` is the git reference the launch links open: `main` for the development docs, the release tag `v<version>`
for a release. nbgitpuller follows a branch, so at a tag its links follow the branch `release`, which the publish
workflow moves to each release.
"""

import argparse
import html
import importlib
import json
import pkgutil
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

import minirmt
from minirmt.course import exercises

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
NOTEBOOKS = ROOT / "notebooks"
RESULTS = ROOT / "bench" / "results"
LAYERS = ("model", "data", "viz", "training", "course")
WIDGET = "application/vnd.jupyter.widget-view+json"
EXPLORER_NOTE = ("*An interactive explorer stands here: open the lesson (the launch bar at the top) to drag its "
                 "sliders.*")
_LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")


def lessons() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def hub_branch(ref: str) -> str:
    """The branch nbgitpuller follows for the site at `ref`: the ref itself, or `release` for a release tag."""
    return "release" if re.fullmatch(r"v\d+(\.\d+)*", ref) else ref


def launch_bar(name: str, ref: str, hub: str | None) -> str:
    """The raw HTML of a lesson's launch bar (the lesson page sits at lessons/<name>.html)."""
    path = f"notebooks/{name}"
    puller = exercises.nbgitpuller_path(path, hub_branch(ref))
    hub_link = (f'<a href="{html.escape(hub.rstrip("/") + puller)}" data-hub="fixed"' if hub else
                '<a href="../teaching.html#jupyterhub" data-hub="ask"')
    links = [
        f'<a href="{html.escape(exercises.colab_url(path, ref))}">Open in Colab</a>',
        f'<a href="{html.escape(exercises.binder_url(path, ref))}">Launch on Binder</a>',
        f'{hub_link} data-nbgitpuller="{html.escape(puller)}">Open on JupyterHub</a>',
        f'<a href="../exercises/{name}" download>Download the learner copy</a>',
    ]
    return '<div class="minirmt-launch">\n<strong>The learner copy:</strong>\n' + "\n".join(links) + "\n</div>"


def lesson_page(notebook, name: str, ref: str, hub: str | None):
    """The page of the lesson `name` (a new notebook): the launch bar for the badge, no Colab install cell,
    solutions folded, the answer key in a closed box, explorers (widgets, which need a kernel) as a note."""
    page = nbformat.from_dict(notebook)
    page.cells = []
    for cell in notebook.cells:
        tags = cell.metadata.get("tags", [])
        cell = nbformat.from_dict(cell)
        if cell.cell_type == "markdown" and cell.source.startswith(exercises.BADGE):
            cell.source = launch_bar(name, ref, hub)
        elif cell.cell_type == "code" and exercises.COLAB in cell.source:
            continue
        elif exercises.ANSWER_TAG in tags:
            cell.source = f"::::{{dropdown}} The answer key\n\n{cell.source}\n::::"
        elif cell.cell_type == "code" and exercises.BEGIN in cell.source:
            cell.source = "\n".join(line for line in cell.source.split("\n")
                                    if line.strip() not in (exercises.BEGIN, exercises.END))
            cell.metadata["tags"] = [*tags, "hide-input"]
            cell.metadata["mystnb"] = {"code_prompt_show": "Show the solution", "code_prompt_hide": "Hide the solution"}
        if cell.cell_type == "code":
            for output in cell.outputs:
                if WIDGET in output.get("data", {}):
                    output.data = {"text/markdown": EXPLORER_NOTE}
        page.cells.append(cell)
    return page


def title_and_promise(notebook) -> tuple[str, str]:
    """A lesson's title (`NN · name`) and its one-line promise (the bold paragraph under the title)."""
    title, _, rest = notebook.cells[0].source.partition("\n")
    promise = rest.strip().split("\n\n")[0].replace("\n", " ").strip("* ")
    return title.lstrip("# ").strip(), promise


def readme_section(heading: str | None) -> str:
    """The README's text under `## heading` up to the next `## ` (None: the introduction, before the first)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    parts = re.split(r"^## ", text, flags=re.M)
    if heading is None:
        return parts[0]
    found = [part for part in parts[1:] if part.startswith(heading + "\n")]
    if not found:
        raise ValueError(f"README.md has no section '## {heading}'")
    return found[0].partition("\n")[2]


def rehome(markdown: str, source: Path, page: Path, stage: Path, ref: str) -> str:
    """`markdown` from the repository file `source`, placed at `stage / page`: each relative image is copied
    beside the page (same repository path under `stage`), each other relative link goes to the repository."""
    url = exercises.repository()[0]

    def fix(match):
        bang, text, target = match.groups()
        if re.match(r"[a-z]+:|#", target):
            return match.group(0)
        where = (source.parent / target).resolve().relative_to(ROOT)
        if bang:
            (stage / where).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / where, stage / where)
            return f"![{text}]({Path(*['..'] * (len(page.parts) - 1), where).as_posix()})"
        kind = "tree" if (ROOT / where).is_dir() else "blob"
        return f"[{text}]({url}/{kind}/{ref}/{where.as_posix()})"

    return _LINK.sub(fix, markdown)


def home_page(stage: Path, ref: str) -> str:
    items = []
    for path in lessons():
        title, promise = title_and_promise(nbformat.read(path, as_version=4))
        here = f"notebooks/{path.name}"
        items.append(f"- **[{title}](lessons/{path.stem}.ipynb)**: {promise} The learner copy: "
                     f"[Colab]({exercises.colab_url(here, ref)}), [Binder]({exercises.binder_url(here, ref)}).")
    intro = rehome(readme_section(None), ROOT / "README.md", Path("index.md"), stage, ref)
    return "\n".join([
        intro.rstrip(), "",
        "## The lessons", "",
        "Each lesson is shown as it ran, with its figures; its page opens the learner copy (no solutions) in Colab,",
        "Binder or your JupyterHub, or downloads it. Teaching a class: [for instructors](teaching.md).", "",
        *items, "",
        "Also here: [the API](api/index.md), the library's reference from its docstrings, and",
        "[the results](results/index.md), every benchmark with its record.", "",
        toctree("Lessons", [f"lessons/{path.stem}" for path in lessons()]),
        toctree("Teaching", ["teaching"]),
        toctree("Reference", ["api/index", "results/index"]),
    ])


def toctree(caption: str, entries: list[str]) -> str:
    return "\n".join(["```{toctree}", f":caption: {caption}", ":hidden:", ":maxdepth: 1", "", *entries, "```", ""])


def api_pages(stage: Path) -> None:
    """api/index.md (the package and its public names) and a page per layer with each module's members."""
    (stage / "api").mkdir(parents=True, exist_ok=True)
    names = "\n".join(f"- {{py:obj}}`minirmt.{name} <{getattr(minirmt, name).__module__}.{name}>`"
                      if callable(getattr(minirmt, name)) else f"- `minirmt.{name}`" for name in minirmt.__all__)
    pages = [*LAYERS, "cli"]
    (stage / "api" / "index.md").write_text("\n".join([
        "# API reference", "", rst(".. automodule:: minirmt\n   :no-members:"), "",
        "`from minirmt import ...` gives:", "", names, "", toctree("Layers", pages)]), encoding="utf-8")
    for layer in LAYERS:
        package = f"minirmt.{layer}"
        modules = [info.name for info in pkgutil.walk_packages(importlib.import_module(package).__path__,
                                                               prefix=f"{package}.")]
        sections = [f"# {package}", "", rst(f".. automodule:: {package}\n   :no-members:")]
        for name in modules:
            sections += ["", f"## {name}", "", rst(f".. automodule:: {name}" + ("\n   :no-members:" if _is_package(name)
                                                                              else ""))]
        (stage / "api" / f"{layer}.md").write_text("\n".join(sections) + "\n", encoding="utf-8")
    sections = ["# minirmt.cli, minirmt.options"]
    for name in ("minirmt.cli", "minirmt.options"):
        sections += ["", f"## {name}", "", rst(f".. automodule:: {name}")]
    (stage / "api" / "cli.md").write_text("\n".join(sections) + "\n", encoding="utf-8")


def _is_package(name: str) -> bool:
    return hasattr(importlib.import_module(name), "__path__")


def rst(text: str) -> str:
    return f"```{{eval-rst}}\n{text}\n```"


def results_pages(stage: Path, ref: str) -> None:
    """results/index.md (the README's "Measured") and results/<bench>.md per bench/results/<bench>/, with the
    figures of that folder."""
    out = stage / "results"
    out.mkdir(parents=True, exist_ok=True)
    benches = []
    for folder in sorted(p for p in RESULTS.iterdir() if p.is_dir()):
        readme = next((folder / n for n in ("README.md", "results.md") if (folder / n).exists()), None)
        if readme is None:
            continue
        text = rehome(readme.read_text(encoding="utf-8"), readme, Path("results") / f"{folder.name}.md", stage, ref)
        figures = sorted(folder.glob("*.png"))
        if figures:
            text += "\n\n## Figures\n"
            (out / folder.name).mkdir(exist_ok=True)
        for figure in figures:
            shutil.copy(figure, out / folder.name / figure.name)
            text += f"\n![{figure.stem}]({folder.name}/{figure.name})\n"
        url = exercises.repository()[0]
        text += (f"\n\nThe records: [`bench/results/{folder.name}/`]"
                 f"({url}/tree/{ref}/bench/results/{folder.name}) in the repository.\n")
        (out / f"{folder.name}.md").write_text(text, encoding="utf-8")
        benches.append(folder.name)
    measured = rehome(readme_section("Measured"), ROOT / "README.md", Path("results/index.md"), stage, ref)
    (out / "index.md").write_text("# Results\n\n" + measured + "\n" + toctree("Benchmarks", benches),
                                  encoding="utf-8")


def stage_site(stage: Path, ref: str, hub: str | None) -> None:
    """Write every page, the learner copies, conf.py and its settings into `stage` (emptied first)."""
    shutil.rmtree(stage, ignore_errors=True)
    (stage / "lessons").mkdir(parents=True)
    shutil.copytree(HERE / "_static", stage / "_static")
    shutil.copy(HERE / "conf.py", stage / "conf.py")
    shutil.copytree(NOTEBOOKS / "exercises", stage / "_extra" / "exercises")
    url, version = exercises.repository()
    (stage / "site.json").write_text(json.dumps({"version": version, "repository": url, "ref": ref}))
    teaching = (HERE / "teaching.md").read_text(encoding="utf-8")
    for key, value in {"repository": url, "tag": exercises.release_ref(), "folder": url.rsplit("/", 1)[1]}.items():
        teaching = teaching.replace(f"{{{{ {key} }}}}", value)  # the repository's one address, this release
    (stage / "teaching.md").write_text(teaching, encoding="utf-8")
    for path in lessons():
        page = lesson_page(nbformat.read(path, as_version=4), path.name, ref, hub)
        nbformat.write(page, stage / "lessons" / path.name)
    (stage / "index.md").write_text(home_page(stage, ref), encoding="utf-8")
    api_pages(stage)
    results_pages(stage, ref)


def build(out: Path, ref: str = "main", hub: str | None = None) -> Path:
    """Stage the pages in `<out>-src` and build the site into `out`; returns `out`."""
    out = Path(out).resolve()
    stage = out.with_name(out.name + "-src")
    stage_site(stage, ref, hub)
    shutil.rmtree(out, ignore_errors=True)
    # -W: a warning (a broken reference, a page left out) fails the build
    subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", "-W", "--keep-going",
                    "-d", str(stage / ".doctrees"), str(stage), str(out)], check=True)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="notebooks/site/build.py", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "site", help="the site's folder")
    parser.add_argument("--ref", default="main", help="the git reference the launch links open (default: main)")
    parser.add_argument("--hub", help="a JupyterHub's address for the nbgitpuller links (default: ask the reader)")
    args = parser.parse_args(argv)
    try:
        out = build(args.out, args.ref, args.hub)
    except subprocess.CalledProcessError as error:
        print(f"{parser.prog}: Sphinx failed (exit {error.returncode}); its messages are above", file=sys.stderr)
        return 1
    print(f"the site: {out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
