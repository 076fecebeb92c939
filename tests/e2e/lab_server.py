"""A JupyterLab server for the end-to-end test: started from this Python environment, stopped whatever happens.

The server listens on a free localhost port behind a random token, with its own temporary Jupyter config,
data, runtime, settings and workspace directories (nothing of the user's setup leaks in, nothing of the
test's leaks out). Lab settings switch off autosave, so running the notebooks never rewrites the committed
files, and the news and update checks, so nothing pops up or goes to the network; checkpoints go to the
temporary directory instead of `notebooks/.ipynb_checkpoints/`.

Kernels run in their own process groups (jupyter_client starts them in new sessions), so stopping is in
three steps: shut every kernel down through the REST API, ask the server to shut down, then kill the
server's process group and any kernel still alive.
"""

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SETTINGS = {  # JupyterLab user settings: plugin id -> values
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}


@dataclass
class Lab:
    """A running JupyterLab: its base URL, token, process and log file."""

    url: str
    token: str
    process: subprocess.Popen
    log: Path

    def notebook_url(self, name: str) -> str:
        """The page a learner opens for notebook `name` (a path relative to the server's root), in a fresh
        workspace (`reset`: no notebook left open by an earlier page comes back)."""
        return f"{self.url}/lab/tree/{name}?reset&token={self.token}"

    def api(self, method: str, path: str, timeout: float = 10.0):
        """Call the server's REST API; returns the decoded JSON reply (None when the reply is empty)."""
        request = urllib.request.Request(f"{self.url}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            body = reply.read()
        return json.loads(body) if body else None

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_settings(settings_dir: Path) -> None:
    """Write SETTINGS as JupyterLab user settings files under `settings_dir`."""
    for plugin, values in SETTINGS.items():
        path = settings_dir / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def lab_environment(work: Path, extra: dict[str, str]) -> dict[str, str]:
    """This process's environment with every Jupyter directory moved under `work`, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in ("JUPYTER_PATH", "JUPYTER_CONFIG_PATH")}
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTERLAB_SETTINGS_DIR",
                 "JUPYTERLAB_WORKSPACES_DIR", "IPYTHONDIR"):
        env[name] = str(work / name.lower())
    return {**env, **extra}


def server_children(pid: int) -> list[int]:
    """The ids of the processes whose parent is `pid` (the kernels, for a Jupyter server)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def wait_until_ready(lab: Lab, timeout: float) -> None:
    """Poll /api/status until the server answers; fail with its log if it exits or takes too long."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lab.process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with code {lab.process.returncode}:\n{lab.log_tail()}")
        try:
            lab.api("GET", "status", timeout=2.0)
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.25)
    raise TimeoutError(f"JupyterLab did not answer within {timeout:.0f} s:\n{lab.log_tail()}")


def shutdown_kernels(lab: Lab) -> None:
    """Shut down every running kernel through the REST API (as the Kernel > Shut Down menu does)."""
    for kernel in lab.api("GET", "kernels"):
        lab.api("DELETE", f"kernels/{kernel['id']}", timeout=30.0)


def kill_group(pid: int) -> None:
    """SIGKILL the process group led by `pid`, if it still exists."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def stop(lab: Lab) -> None:
    """Shut the kernels and the server down politely, then kill whatever is left."""
    kernels = server_children(lab.process.pid)
    try:
        shutdown_kernels(lab)
        lab.api("POST", "shutdown")
        lab.process.wait(timeout=15)
    except (OSError, urllib.error.URLError, subprocess.TimeoutExpired):
        pass  # the server is stuck or already gone: the kills below do the job
    finally:
        for pid in [lab.process.pid, *kernels]:
            kill_group(pid)
        lab.process.wait(timeout=10)


@contextmanager
def running_lab(root_dir: Path, work: Path, env: dict[str, str], timeout: float = 90.0) -> Iterator[Lab]:
    """Run JupyterLab on `root_dir` with scratch directory `work` and `env` added to its environment.

    Yields a ready `Lab`; on exit (normal or not) its kernels are shut down and the server is stopped.
    The server's output goes to `work / "jupyterlab.log"`.
    """
    write_settings(work / "jupyterlab_settings_dir")
    port, token, log = free_port(), secrets.token_hex(16), work / "jupyterlab.log"
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root_dir}",
        "--ServerApp.allow_root=True", f"--FileCheckpoints.checkpoint_dir={work / 'checkpoints'}",
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=root_dir, env=lab_environment(work, env), stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    lab = Lab(f"http://127.0.0.1:{port}", token, process, log)
    try:
        wait_until_ready(lab, timeout)
        yield lab
    finally:
        stop(lab)
