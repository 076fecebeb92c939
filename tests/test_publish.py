"""Ready to publish: the workflow file is a valid GitHub Actions workflow (checked offline against the schema that
check-jsonschema ships) that tests, builds the site and the package, and on a tag publishes them by trusted
publishing; the Makefile asks for the CPU build of torch where there is no NVIDIA GPU; the citation file names
both licences."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from minirmt.course import exercises

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "publish.yml"
TORCH_VERSION = re.search(r"^TORCH_VERSION \?= (\S+)$", (ROOT / "Makefile").read_text(), re.M).group(1)


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def test_the_workflow_is_valid_for_github_actions():
    checker = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    if checker is None:
        pytest.skip("check-jsonschema is not installed (the dev extra brings it)")
    done = subprocess.run([checker, "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_checker_rejects_a_broken_workflow(tmp_path):
    """The schema check can fail: a job without `runs-on` is not a workflow GitHub accepts."""
    checker = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    if checker is None:
        pytest.skip("check-jsonschema is not installed (the dev extra brings it)")
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  test:\n    steps:\n      - run: true\n")
    done = subprocess.run([checker, "--builtin-schema", "vendor.github-workflows", str(broken)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0


def test_the_workflow_tests_three_systems_and_two_pythons(workflow):
    matrix = workflow["jobs"]["unit"]["strategy"]["matrix"]
    assert set(matrix["os"]) == {"ubuntu-latest", "macos-latest", "windows-latest"}
    assert len(matrix["python"]) == 2 and "3.10" in matrix["python"]  # the oldest Python that requires-python allows
    assert workflow["env"]["TORCH_VERSION"] == TORCH_VERSION
    assert "make test" in [step.get("run") for step in workflow["jobs"]["full"]["steps"]]


def test_a_tag_publishes_only_after_every_test_and_by_trusted_publishing(workflow):
    jobs = workflow["jobs"]
    for name in ("pages", "pypi", "release"):
        assert jobs[name]["if"] == "github.ref_type == 'tag'", name
    assert {"unit", "full", "site", "package"} <= set(jobs["pypi"]["needs"]) == set(jobs["pages"]["needs"])
    pypi = jobs["pypi"]
    assert pypi["permissions"] == {"id-token": "write"} and pypi["environment"]["name"] == "pypi"
    publish = [step for step in pypi["steps"] if step.get("uses", "").startswith("pypa/gh-action-pypi-publish")]
    assert len(publish) == 1 and "with" not in publish[0]  # no token, no password: trusted publishing
    assert any("twine check" in step.get("run", "") for step in jobs["package"]["steps"])
    assert workflow["permissions"] == {"contents": "read"}
    assert any("refs/heads/release" in step.get("run", "") for step in jobs["release"]["steps"])


def make_dry_run(tmp_path, gpu: bool) -> str:
    """What `make -n venv` would run in a fresh clone, on a PATH with or without an `nvidia-smi`."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    fake = tmp_path / "bin"
    fake.mkdir()
    if gpu:
        (fake / "nvidia-smi").write_text("#!/bin/sh\nexit 0\n")
        (fake / "nvidia-smi").chmod(0o755)
    path = [str(fake)] + [d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / "nvidia-smi").exists()]
    env = {k: v for k, v in os.environ.items()
           if k not in ("TORCH_SPEC", "TORCH_VERSION", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")}  # not the calling make's
    done = subprocess.run(["make", "-n", "-B", "--no-print-directory", "venv", "VENV=/nonexistent/venv"], cwd=ROOT,
                          capture_output=True, text=True, env={**env, "PATH": os.pathsep.join(path)}, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.skipif(sys.platform != "linux", reason="the CPU wheel index is chosen on Linux")
def test_without_an_nvidia_gpu_make_asks_for_the_cpu_build(tmp_path):
    torch_line = next(line for line in make_dry_run(tmp_path, gpu=False).splitlines() if "torch==" in line)
    assert f"torch=={TORCH_VERSION}+cpu --extra-index-url https://download.pytorch.org/whl/cpu" in torch_line
    assert "--no-deps" in torch_line and "--timeout" in torch_line  # an unreachable index costs seconds


@pytest.mark.skipif(sys.platform != "linux", reason="the CPU wheel index is chosen on Linux")
def test_with_an_nvidia_gpu_make_asks_for_pypis_cuda_build(tmp_path):
    lines = make_dry_run(tmp_path, gpu=True).splitlines()
    torch_line = next(line for line in lines if "torch==" in line)
    assert torch_line.endswith(f"torch=={TORCH_VERSION}") and "+cpu" not in torch_line
    installs = [line for line in lines if "pip install -e" in line]
    assert len(installs) == 1 and installs[0].endswith("pip install -e .")  # the demo's: the package, no extra


def test_the_citation_names_both_licences_and_this_release():
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["license"] == ["MIT", "CC-BY-4.0"]
    assert citation["version"] == exercises.repository()[1]
