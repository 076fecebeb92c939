"""pyproject.toml (pip), environment.yml (conda) and the Makefile agree on what minirmt needs."""

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, which pytest itself requires there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
CONDA_TO_PIP = {"pytorch": "torch"}  # conda package names that differ from their PyPI names
NOT_PACKAGES = {"python", "pip"}  # environment.yml entries that are the toolchain, not dependencies


def parse_environment_yml(text: str) -> dict:
    """Parse the YAML subset that environment.yml uses, without a YAML library.

    Top-level lines are `key: value` or `key:` followed by `- item` lines; one item may be `- pip:`
    with its own, deeper `- item` list, returned as `{"pip": [...]}`. Comments and blank lines are skipped.
    """
    env: dict = {}
    key, nested, nested_indent = None, None, 0
    for raw in text.splitlines():
        line = re.sub(r"(^|\s)#.*", "", raw).rstrip()
        if not line:
            continue
        indent = len(line) - len(line.lstrip())
        body = line.strip()
        if indent == 0:
            key, _, value = body.partition(":")
            env[key] = value.strip() or []
            nested = None
        elif body.startswith("- ") and isinstance(env.get(key), list):
            item = body[2:].strip()
            if nested is not None and indent > nested_indent:
                nested.append(item)
            elif item.endswith(":"):
                nested, nested_indent = [], indent
                env[key].append({item[:-1]: nested})
            else:
                nested = None
                env[key].append(item)
        else:
            raise ValueError(f"environment.yml: cannot parse line {raw!r}")
    return env


def requirement_map(specs: list[str], rename: dict[str, str] | None = None) -> dict[str, SpecifierSet]:
    """Map each requirement's normalised name (renamed through `rename`) to its version specifier."""
    out = {}
    for spec in specs:
        req = Requirement(spec)
        name = req.name.lower().replace("_", "-")
        out[(rename or {}).get(name, name)] = req.specifier
    return out


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def environment() -> dict:
    return parse_environment_yml((ROOT / "environment.yml").read_text())


def conda_and_pip_entries(environment: dict) -> tuple[list[str], list[str]]:
    """Split environment.yml's dependencies into conda specs and the pip section's lines."""
    conda = [d for d in environment["dependencies"] if isinstance(d, str)]
    pip = [line for d in environment["dependencies"] if isinstance(d, dict) for line in d.get("pip", [])]
    return conda, pip


def expanded(pyproject, extra: str) -> list[str]:
    """An extra's requirements, with `minirmt[other]` replaced by the other extra's."""
    out = []
    for spec in pyproject["project"]["optional-dependencies"][extra]:
        req = Requirement(spec)
        out += [x for e in req.extras for x in expanded(pyproject, e)] if req.name == "minirmt" else [spec]
    return out


def test_environment_yml_lists_the_same_packages_as_pyproject(pyproject, environment):
    project = pyproject["project"]
    wanted = requirement_map(project["dependencies"] + expanded(pyproject, "dev"))
    conda, pip = conda_and_pip_entries(environment)
    packages = [spec for spec in conda if Requirement(spec).name not in NOT_PACKAGES]
    packages += [line for line in pip if not line.startswith("-")]
    assert requirement_map(packages, rename=CONDA_TO_PIP) == wanted


def makefile_torch_version() -> str:
    pinned = re.search(r"^TORCH_VERSION \?= (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert pinned is not None, "Makefile must set TORCH_VERSION ?= <version>"
    return pinned.group(1)


def test_binder_installs_the_pinned_cpu_torch_the_core_and_the_notebooks_and_then_the_package(pyproject):
    lines = [line.strip() for line in (ROOT / ".binder" / "requirements.txt").read_text().splitlines()]
    packages = requirement_map([line for line in lines if line and not line.startswith(("#", "-"))])
    wanted = requirement_map(pyproject["project"]["dependencies"] + expanded(pyproject, "notebooks"))
    assert str(packages.pop("torch")) == f"=={makefile_torch_version()}+cpu"  # the CPU build, pinned
    assert wanted.pop("torch").contains(makefile_torch_version())
    assert packages == wanted
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines  # where the CPU build lives
    post = (ROOT / ".binder" / "postBuild").read_text()
    assert "pip install --no-deps ." in post and (ROOT / ".binder" / "postBuild").stat().st_mode & 0o100


def test_the_core_needs_no_notebook_front_end(pyproject):
    core = requirement_map(pyproject["project"]["dependencies"])
    assert set(core) == {"torch", "einops", "tqdm", "matplotlib"}
    assert {"jupyterlab", "ipywidgets"} <= set(requirement_map(expanded(pyproject, "notebooks")))


def test_environment_yml_installs_the_package_itself(environment):
    _, pip = conda_and_pip_entries(environment)
    assert "-e ." in pip


def test_environment_yml_python_matches_requires_python(pyproject, environment):
    conda, _ = conda_and_pip_entries(environment)
    python = requirement_map(conda)["python"]
    assert python == SpecifierSet(pyproject["project"]["requires-python"]) == SpecifierSet(">=3.10")


def test_makefile_torch_pin_satisfies_the_declared_range(pyproject):
    torch = requirement_map(pyproject["project"]["dependencies"])["torch"]
    assert makefile_torch_version() == "2.13.0"
    assert torch.contains(makefile_torch_version())


def test_parser_reads_nested_pip_lists_and_skips_comments():
    text = "name: x  # the env\nchannels:\n  - conda-forge\ndependencies:\n  # runtime\n  - a>=1\n  - pip\n"
    text += "  - pip:\n      - -e .\n      - b\n  - c\n"
    assert parse_environment_yml(text) == {
        "name": "x",
        "channels": ["conda-forge"],
        "dependencies": ["a>=1", "pip", {"pip": ["-e .", "b"]}, "c"],
    }


def test_parser_rejects_yaml_it_does_not_understand():
    with pytest.raises(ValueError, match="cannot parse line"):
        parse_environment_yml("dependencies:\n  pytorch: 2\n")


def test_parser_agrees_with_pyyaml_on_environment_yml(environment):
    yaml = pytest.importorskip("yaml")
    assert environment == yaml.safe_load((ROOT / "environment.yml").read_text())


def test_every_extra_the_makefile_installs_is_declared(pyproject):
    """`pip install -e ".[dev,e2e]"` only warns about an unknown extra, then installs without it."""
    installs = re.findall(r'pip install -e "\.\[([a-z0-9,]+)\]"', (ROOT / "Makefile").read_text())
    named = {extra for group in installs for extra in group.split(",")}
    assert {"dev", "e2e", "docs"} <= named
    assert named <= set(pyproject["project"]["optional-dependencies"])


def test_e2e_extra_brings_the_browser_driver(pyproject):
    assert "playwright" in requirement_map(pyproject["project"]["optional-dependencies"]["e2e"])
