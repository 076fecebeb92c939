"""Sphinx settings of the course website. `python notebooks/site/build.py` (make docs) stages the pages next to a
copy of this file, with `site.json` (the release, the repository, the git reference the launch links open),
then runs Sphinx; nothing is executed: the notebooks are shown with their committed outputs."""

import json
import re
from pathlib import Path

site = json.loads((Path(__file__).parent / "site.json").read_text())

project = "minirmt"
author = "The minirmt authors"
copyright = "the minirmt authors; code MIT, text and notebooks CC BY 4.0"
version = release = site["version"]

extensions = ["myst_nb", "sphinx_design", "sphinx.ext.autodoc", "sphinx.ext.viewcode"]
exclude_patterns = ["_extra", "site.json"]

# the notebooks as committed (executed in lab mode); `{.*}`-style roles and `:::` boxes in the Markdown
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3

suppress_warnings = ["myst.header"]  # the lessons put `### What you will learn` under their title

# docstrings are plain text where `x` is code (see plain_text below)
default_role = "literal"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "description"

html_theme = "sphinx_book_theme"
html_title = "minirmt"
html_theme_options = {
    "repository_url": site["repository"],
    "repository_branch": site["ref"],
    "use_repository_button": True,
    "use_download_button": True,
    "show_toc_level": 2,
}
html_static_path = ["_static"]
html_css_files = ["launch.css"]
html_js_files = ["launch.js"]
html_extra_path = ["_extra"]  # the learner copies, served as files to download
html_last_updated_fmt = None


def plain_text(app, what, name, obj, options, lines):
    """The docstrings are plain text, not reStructuredText: a paragraph laid out by hand (aligned columns, an
    indented line) is shown as written, in a literal block; the other paragraphs flow as text."""
    paragraphs, current = [], []
    for line in [*lines, ""]:
        if line.strip():
            current.append(line)
        elif current:
            paragraphs.append(current)
            current = []
    out = []
    for paragraph in paragraphs:
        laid_out = any(line[:1].isspace() or re.search(r"\S {2,}\S", line) for line in paragraph)
        out += ([".. code-block:: text", "", *("    " + line for line in paragraph)] if laid_out else paragraph) + [""]
    lines[:] = out


def setup(app):
    app.connect("autodoc-process-docstring", plain_text)
