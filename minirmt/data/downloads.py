"""Where corpora live and how WikiText is fetched: the data folder, the official archives, checked downloads.

The data folder: `$MINIRMT_DATA` if set; else `data/` of the source checkout when minirmt runs from one; else
a per-user cache folder (`$XDG_CACHE_HOME/minirmt`, by default `~/.cache/minirmt`; `%LOCALAPPDATA%\\minirmt`
on Windows). Never the installed package's own folder, which a shared course environment cannot write.

    python -m minirmt download wikitext-2     # the official zip, sha256 checked, unpacked into the data folder;
                                              # a broken download goes on from where it stopped
    python -m minirmt download --list         # what can be downloaded, and where it would go
"""

import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ENV_VAR = "MINIRMT_DATA"
CHECKOUT = Path(__file__).resolve().parents[2]  # the source checkout, if minirmt runs from one


@dataclass(frozen=True)
class Archive:
    """One official WikiText zip: its file name, size and sha256, and what it unpacks to."""

    file: str  # "wikitext-2-v1.zip"
    sha256: str  # of the zip, as recorded in Hugging Face datasets' wikitext dataset_infos.json
    megabytes: float  # the zip's size, from the same source
    folder: str  # the folder inside the zip: "wikitext-2"
    ext: str  # "tokens" (`<unk>` for rare words) or "raw" (the original words)
    family: str  # "wikitext-2" or "wikitext-103": the raw and tokens variants share valid/test articles
    train_lines: int


# Stephen Merity's mirror answers; the original Salesforce/MetaMind S3 bucket has answered 403.
URLS = ("https://wikitext.smerity.com/", "https://s3.amazonaws.com/research.metamind.io/wikitext/")
WIKITEXT = {
    "wikitext-2": Archive(
        "wikitext-2-v1.zip", "92675f1d63015c1c8b51f1656a52d5bdbc33aafa60cc47a218a66e7ee817488c", 4.5,
        "wikitext-2", "tokens", "wikitext-2", 36_718,
    ),
    "wikitext-2-raw": Archive(
        "wikitext-2-raw-v1.zip", "ef7edb566e3e2b2d31b29c1fdb0c89a4cc683597484c3dc2517919c615435a11", 4.7,
        "wikitext-2-raw", "raw", "wikitext-2", 36_718,
    ),
    "wikitext-103": Archive(
        "wikitext-103-v1.zip", "242ba0f20b329cfdf1ccc61e9e9e5b59becf189db7f7a81cd2a0e2fc31539590", 190.2,
        "wikitext-103", "tokens", "wikitext-103", 1_801_350,
    ),
    "wikitext-103-raw": Archive(
        "wikitext-103-raw-v1.zip", "91c00ae287f0d699e18605c84afc9e45c192bc6b7797ff8837e5474655a33794", 192.0,
        "wikitext-103-raw", "raw", "wikitext-103", 1_801_350,
    ),
}


class DownloadError(RuntimeError):
    """Every URL for an archive failed (offline, HTTP error or checksum mismatch)."""


# ---------------------------------------------------------------- the data folder


def data_folder() -> Path:
    """The folder corpora are read from and downloaded to (see the module docstring)."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    if (CHECKOUT / "pyproject.toml").is_file() and (CHECKOUT / "data").is_dir():
        return CHECKOUT / "data"
    return user_cache() / "minirmt"


def user_cache() -> Path:
    """The per-user cache folder: `%LOCALAPPDATA%` on Windows, else `$XDG_CACHE_HOME` or `~/.cache`."""
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def search_dirs(root: str | Path | None = None) -> list[Path]:
    """The folders to look in: `[root]` if given, else the data folder."""
    return [Path(root)] if root is not None else [data_folder()]


def how_to_get(name: str) -> str:
    """One sentence telling the user how to get a corpus's files."""
    if name in WIKITEXT:
        return (f"get it with `python -m minirmt download {name}`, or set {ENV_VAR} (or pass root=) to a "
                f"folder that holds the files")
    return f"set {ENV_VAR} (or pass root=) to a folder that holds {name}/"


def writable_folder(folder: Path) -> Path:
    """Create `folder` if needed; a clear error if it cannot be written (a read-only course environment)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DownloadError(f"cannot create the data folder {folder} ({error.strerror}); set {ENV_VAR} to a "
                            f"folder you can write") from error
    if not os.access(folder, os.W_OK):
        raise DownloadError(f"the data folder {folder} is read-only; set {ENV_VAR} to a folder you can write")
    return folder


# ---------------------------------------------------------------- download and verify


def sha256sum(path: Path) -> str:
    """The sha256 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(urls: Iterable[str], path: Path, sha256: str, progress: bool = True, attempts: int = 3) -> Path:
    """Download the first of `urls` that answers with a file whose sha256 is `sha256`, to `path`.

    The bytes go to `path.part`; a transfer that breaks off keeps them, and the next attempt (up to `attempts`
    per URL, or the next call) asks only for the rest (an HTTP Range request). A URL that fails (no network,
    HTTP error, wrong checksum) is reported and the next one is tried; if all fail, a `DownloadError` names each
    URL and why. `file://` URLs work too.
    """
    path = Path(path)
    part = path.with_name(path.name + ".part")
    failures = []
    for url in urls:
        print(f"downloading {url} -> {path}", file=sys.stderr)
        error = None
        for _ in range(attempts):
            before = part.stat().st_size if part.exists() else 0
            error = _transfer(url, part, progress)
            if error is None or (part.stat().st_size if part.exists() else 0) == before:
                break  # done, or no byte more: another attempt would fail the same way
        if error is not None:
            failures.append(f"{url}: {error}")
            continue
        got = sha256sum(part)
        if got != sha256:
            failures.append(f"{url}: sha256 mismatch (got {got}, expected {sha256})")
            part.unlink()
            continue
        return part.replace(path)
    kept = f" The {part.stat().st_size:,} bytes received are kept in {part}: run again to resume." \
        if part.exists() and part.stat().st_size else ""
    raise DownloadError(
        f"could not download {path.name}: {'; '.join(failures)}.{kept} Fetch it by hand from one of those URLs "
        f"into {path.parent} and run again, or set {ENV_VAR} to a folder that holds the unpacked files"
    )


def _transfer(url: str, part: Path, progress: bool) -> str | None:
    """Append to `part` what `url` has beyond its bytes (all of it where the server ignores the range);
    None when the whole file is there, else why not."""
    from tqdm.auto import tqdm  # imported only once something is downloaded

    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "Mozilla/5.0 (minirmt)", **({"Range": f"bytes={have}-"} if have else {})}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60) as response:
            resumed = getattr(response, "status", None) == 206  # Partial Content: the rest, after our bytes
            start = have if resumed else 0
            size = int(response.headers.get("Content-Length") or 0)
            with open(part, "ab" if resumed else "wb") as out:
                bar = tqdm(total=start + size or None, initial=start, unit="B", unit_scale=True, desc=part.name,
                           disable=not progress)
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
                bar.close()
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # nothing after our bytes: the file is whole (the checksum will tell)
            return None
        return str(err.reason)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as err:
        return str(getattr(err, "reason", None) or err) or type(err).__name__
    got = part.stat().st_size - start
    if size and got < size:  # the connection closed early (urllib reads that as a plain end)
        return f"the connection closed after {start + got:,} of {start + size:,} bytes"
    return None


def download(name: str, dest: str | Path | None = None, urls: Iterable[str] | None = None,
             progress: bool = True) -> Path:
    """Fetch, verify (sha256) and unpack one WikiText archive; returns the folder with its `wiki.*` files.

    `name`: "wikitext-2", "wikitext-2-raw", "wikitext-103" or "wikitext-103-raw". `dest`: where to unpack
    (default the data folder). `urls`: base URLs tried in order (default the mirror, then the original
    bucket). Nothing is fetched if the unpacked files are already there.
    """
    if name not in WIKITEXT:
        raise ValueError(f"name must be one of {sorted(WIKITEXT)} to download, got {name!r}")
    if isinstance(urls, str):
        raise TypeError(f"urls must be a list of base URLs, got the string {urls!r}")
    spec = WIKITEXT[name]
    dest = Path(dest) if dest is not None else data_folder()
    folder = dest / spec.folder
    if all((folder / f"wiki.{split}.{spec.ext}").exists() for split in ("train", "valid", "test")):
        return folder
    writable_folder(dest)
    zip_path = dest / spec.file
    if zip_path.exists():  # placed by hand, or left by an earlier call: used only if it is the official file
        found = sha256sum(zip_path)
        if found != spec.sha256:
            raise DownloadError(f"{zip_path} is not the official {spec.file}: its sha256 is {found}, expected "
                                f"{spec.sha256}; delete it (or put the right file there) and run again")
    else:
        fetch([base + spec.file for base in (urls or URLS)], zip_path, spec.sha256, progress)
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(dest)  # extractall drops absolute paths and `..` from member names
    zip_path.unlink()
    if not folder.is_dir():
        raise DownloadError(f"{spec.file} did not unpack to {folder}: it is not the official archive")
    return folder


def listing() -> str:
    """What `download` can fetch, each archive's size, and where it would go (`download --list`)."""
    lines = [f"data folder: {data_folder()} (set {ENV_VAR} to change it)"]
    for name, spec in WIKITEXT.items():
        here = (data_folder() / spec.folder).is_dir()
        lines.append(f"  {name:18s} {spec.megabytes:7.1f} MB  {'downloaded' if here else ''}")
    return "\n".join(lines)
