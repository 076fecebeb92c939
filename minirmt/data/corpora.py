"""Language-modelling corpora: WikiText (word level), any folder of text (byte level), and contiguous batches.

A corpus becomes one long stream of ids `(N,)` (N = tokens in the split). `stream_batches` cuts that stream
into `b` rows that each continue from one batch to the next, so the memory an RMT (or the cache a
Transformer-XL) carries out of batch i belongs to the text that batch i + 1 continues (as in the RMT
paper's WikiText-103 and enwik8 experiments, which follow Transformer-XL's data pipeline).

Word level (unit "ppl"): WikiText-2 and WikiText-103 (Merity et al., 2016, arXiv:1609.07843), counted as the
literature does (pytorch/examples `word_language_model/data.py`): whitespace tokens plus one `<eos>` per
line, vocabulary from the train split (33,278 types for WikiText-2, 267,735 for WikiText-103), perplexity
over the whole test stream. Byte level (unit "bpb", vocabulary 256): the raw WikiText variants, pg-books,
or any folder of `.txt` files; and `wikitext-2-raw-sample`, the first 300,000 bytes of WikiText-2's raw
validation split and the first 100,000 of its test split, shipped with the package so that a laptop offline
can still train and test a small language model (data/sample/: CC BY-SA, see data/README.md).

Where files are looked for: the `root` argument if given, else the data folder (downloads.py). Files may be
plain or gzip (`wiki.valid.tokens` or `wiki.valid.tokens.gz`).
"""

import array
import functools
import gzip
import json
import math
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from itertools import repeat
from pathlib import Path

import torch
from einops import rearrange

from .downloads import WIKITEXT, how_to_get, search_dirs

SPLITS = ("train", "valid", "test")
UNITS = ("ppl", "bpb")  # word perplexity exp(loss); bits per byte loss / ln 2
EVAL_LINES = {"valid": 3_760, "test": 4_358}  # the same articles in WikiText-2 and WikiText-103
TRAIN_VOCAB = {"wikitext-2": 33_278, "wikitext-103": 267_735}  # published sizes, `<eos>` included

# ----------------------------------------------------------------------------------------------------------
# Finding and reading files


def find_file(filename: str, dirs: Iterable[Path], name: str) -> Path:
    """The first `dir/filename` or `dir/filename.gz` that exists; a clear FileNotFoundError otherwise."""
    dirs = list(dict.fromkeys(dirs))
    for folder in dirs:
        for candidate in (folder / filename, folder / (filename + ".gz")):
            if candidate.is_file():
                return candidate
    raise FileNotFoundError(
        f"{name}: {filename} (or {filename}.gz) not found in {', '.join(map(str, dirs))}; {how_to_get(name)}"
    )


def read_bytes(path: str | Path, limit: int | None = None) -> bytes:
    """The bytes of a plain or `.gz` file (at most `limit` of them); corrupt gzip gets a clear error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            return f.read(-1 if limit is None else limit)
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise ValueError(f"{path} is not a readable gzip file ({err}): it is corrupt or truncated; "
                         f"delete it and fetch it again") from err


def read_lines(path: str | Path) -> list[str]:
    """The lines of a UTF-8 text file (plain or `.gz`) without their `\\n`, as a Python file loop reads."""
    try:
        text = read_bytes(path).decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not UTF-8 text ({err}): it is corrupt; delete it and fetch it again") \
            from err
    lines = text.split("\n")
    return lines[:-1] if lines[-1] == "" else lines


# ----------------------------------------------------------------------------------------------------------
# Word level: vocabulary and WikiText


class Vocab:
    """A word vocabulary: id <-> token, with `<eos>` ending every line (pytorch/examples `Dictionary`).

    Tokens not in the vocabulary map to `unk` if the vocabulary holds it (WikiText's `<unk>`), else raise.
    """

    def __init__(self, tokens: Iterable[str], eos: str = "<eos>", unk: str = "<unk>"):
        self.itos = list(tokens)
        self.stoi = {token: i for i, token in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError(f"tokens must be distinct, got {len(self.itos) - len(self.stoi)} repeated")
        if eos not in self.stoi:
            raise ValueError(f"tokens must include the end-of-line token eos={eos!r}")
        self.eos, self.unk = eos, unk

    @classmethod
    def build(cls, lines: Iterable[str], specials: Iterable[str] = (), eos: str = "<eos>") -> "Vocab":
        """The standard way: ids in order of first appearance of `line.split() + [eos]` over `lines`,
        then any `specials` not seen (e.g. "<unk>", so that a raw-text vocabulary can encode new words)."""
        seen = {}
        for line in lines:
            for token in line.split():
                seen.setdefault(token, None)
            seen.setdefault(eos, None)
        for token in specials:
            seen.setdefault(token, None)
        return cls(seen, eos=eos)

    def __len__(self) -> int:
        return len(self.itos)

    @property
    def size(self) -> int:
        """The vocabulary size v."""
        return len(self.itos)

    def encode(self, lines: Iterable[str]) -> torch.Tensor:
        """Ids `(N,)` int64 of every line's whitespace tokens followed by `<eos>`."""
        ids, eos = array.array("q"), self.stoi[self.eos]
        unk = self.stoi.get(self.unk)
        for line in lines:
            words = line.split()
            if unk is not None:
                ids.extend(map(self.stoi.get, words, repeat(unk)))
            else:
                missing = [w for w in words if w not in self.stoi]
                if missing:
                    raise ValueError(f"token {missing[0]!r} is not in the vocabulary, which has no unk "
                                     f"{self.unk!r}: build it with specials=[{self.unk!r}]")
                ids.extend(map(self.stoi.__getitem__, words))
            ids.append(eos)
        return torch.frombuffer(ids, dtype=torch.int64) if ids else torch.zeros(0, dtype=torch.int64)

    def decode(self, ids: Iterable[int] | torch.Tensor) -> str:
        """Text of ids `(N,)`: each line's tokens joined by spaces, each `<eos>` written as a line break."""
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else ids
        lines, line = [], []
        for token in (self.itos[i] for i in ids):
            if token == self.eos:
                lines.append(" ".join(line) + "\n")
                line = []
            else:
                line.append(token)
        return "".join(lines) + " ".join(line)

    def save(self, path: str | Path) -> None:
        """Write the vocabulary as JSON: {"tokens": [...], "eos": ..., "unk": ...}."""
        data = {"tokens": self.itos, "eos": self.eos, "unk": self.unk}
        Path(path).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "Vocab":
        """Read a vocabulary written by `save`."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(data["tokens"], eos=data["eos"], unk=data["unk"])


def wikitext_file(name: str, split: str, root: str | Path | None = None) -> Path:
    """The path of `wiki.{split}.{tokens|raw}` (or `.gz`) in a data folder, its `{name}/` or `{family}/`."""
    if name not in WIKITEXT:
        raise ValueError(f"name must be one of {sorted(WIKITEXT)}, got {name!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    spec = WIKITEXT[name]
    dirs = [d / sub for d in search_dirs(root) for sub in ("", spec.folder, spec.family)]
    return find_file(f"wiki.{split}.{spec.ext}", dirs, name)


def wikitext_lines(name: str, split: str, root: str | Path | None = None) -> list[str]:
    """The lines of one WikiText split, checked against the official line count."""
    return _checked_lines(name, split, wikitext_file(name, split, root))


def _checked_lines(name: str, split: str, path: Path) -> list[str]:
    lines = read_lines(path)
    expected = WIKITEXT[name].train_lines if split == "train" else EVAL_LINES[split]
    if len(lines) != expected:
        raise ValueError(f"{path} has {len(lines):,} lines, expected {expected:,} ({name} {split}): "
                         f"the file is truncated or not the official one; {how_to_get(name)}")
    return lines


def wikitext_vocab(name: str, root: str | Path | None = None) -> Vocab:
    """The train-split vocabulary of a WikiText variant (cached): 33,278 for WikiText-2, 267,735 for -103.

    Raw variants get "<unk>" added so that valid/test words unseen in train can be encoded.
    """
    path = wikitext_file(name, "train", root)
    return _train_vocab(name, path, path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _train_vocab(name: str, path: Path, _mtime_ns: int) -> Vocab:
    vocab = Vocab.build(_checked_lines(name, "train", path), specials=["<unk>"])
    expected = TRAIN_VOCAB.get(name)
    if expected is not None and len(vocab) != expected:
        raise ValueError(f"{path} has {len(vocab):,} types (with <eos>), expected {expected:,}: "
                         f"it is not the official {name} train file; {how_to_get(name)}")
    return vocab


def load_wikitext(
    name: str, split: str, root: str | Path | None = None, vocab: Vocab | None = None
) -> torch.Tensor:
    """Word ids `(N,)` int64 of one WikiText split: each line's tokens, then `<eos>` (as pytorch/examples).

    `vocab` defaults to the train vocabulary (`wikitext_vocab`), which needs the train split.
    WikiText-2 valid gives N = 217,646 and test N = 245,569 (raw and tokens alike).
    """
    lines = wikitext_lines(name, split, root)
    return (vocab if vocab is not None else wikitext_vocab(name, root)).encode(lines)


# ----------------------------------------------------------------------------------------------------------
# Byte level: any folder of text


TEXT = (".txt", ".text", ".raw", ".tokens")


def text_files(path: str | Path, split: str | None = None) -> list[Path]:
    """The text files a byte corpus reads, in sorted order.

    `path` a file: that file. A folder with `split`: `path/split/*` if that folder exists, else the files
    whose name has `split` as a dot-separated part (`valid.txt.gz`). Without `split`: every text file.
    Text files end in .txt, .text, .raw or .tokens, optionally followed by .gz.
    """
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is neither a file nor a folder")
    folder = path / split if split is not None and (path / split).is_dir() else path
    files = sorted(f for f in folder.iterdir() if f.is_file() and f.name.removesuffix(".gz").endswith(TEXT))
    if split is not None and folder == path:
        files = [f for f in files if split in f.name.split(".")]
    if not files:
        wanted = f" for split {split!r}" if split is not None else ""
        raise FileNotFoundError(
            f"no text files{wanted} in {folder} (expected names like {split or 'train'}.txt or .txt.gz)"
        )
    return files


def load_bytes(path: str | Path, split: str | None = None, limit: int | None = None) -> torch.Tensor:
    """Byte ids `(N,)` uint8 of a text file or folder (see `text_files`), files joined in sorted order.

    The vocabulary is the 256 byte values; N is the UTF-8 byte count (pg-books valid: 3,085,273 bytes for
    3,083,353 characters). `limit` reads at most that many bytes. uint8 keeps a large corpus at one byte a
    token; `stream_batches` turns each batch into int64.
    """
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be a non-negative int or None, got {limit!r}")
    chunks, left = [], limit
    for file in text_files(path, split):
        chunks.append(read_bytes(file, left))
        if left is not None:
            left -= len(chunks[-1])
            if left == 0:
                break
    data = bytearray(b"".join(chunks))
    if not data and limit != 0:
        raise ValueError(f"{path} holds no text" + (f" for split {split!r}" if split else ""))
    return torch.frombuffer(data, dtype=torch.uint8) if data else torch.zeros(0, dtype=torch.uint8)


def decode_bytes(ids: torch.Tensor) -> str:
    """Text of byte ids `(N,)` (a cut inside a multi-byte character shows as U+FFFD)."""
    return ids.to(torch.uint8).numpy().tobytes().decode("utf-8", errors="replace")


# ----------------------------------------------------------------------------------------------------------
# The corpus registry


@dataclass(frozen=True)
class Corpus:
    """A named corpus: how to load a split, its vocabulary size and the unit its score is reported in."""

    name: str
    vocab_size: int
    unit: str  # "ppl" (word perplexity, exp of the mean loss) or "bpb" (bits per byte, mean loss / ln 2)
    loader: Callable[[str, Path | None, int | None], torch.Tensor]
    words: Callable[[Path | None], "Vocab"] | None = None  # a word corpus's vocabulary (None: bytes)

    def load(self, split: str, root: str | Path | None = None, limit: int | None = None) -> torch.Tensor:
        """Ids `(N,)` of one split (`limit`: at most that many tokens)."""
        return self.loader(split, None if root is None else Path(root), limit)

    def vocab(self, root: str | Path | None = None) -> "Vocab | None":
        """The vocabulary of a word corpus (the train split's), None for bytes."""
        return None if self.words is None else self.words(None if root is None else Path(root))


def _word_loader(name: str) -> Callable:
    def load(split, root, limit):
        return load_wikitext(name, split, root)[:limit]
    return load


def _raw_byte_loader(name: str) -> Callable:
    def load(split, root, limit):
        return load_bytes(wikitext_file(name, split, root), limit=limit)
    return load


def _folder_byte_loader(name: str) -> Callable:
    def load(split, root, limit):
        dirs = [d if d.name == name else d / name for d in search_dirs(root)]  # a data folder or the corpus
        for folder in dirs:
            if folder.is_dir():
                return load_bytes(folder, split, limit)
        raise FileNotFoundError(f"{name}: no folder {name}/ in {', '.join(str(d.parent) for d in dirs)}; "
                                f"{how_to_get(name)}")
    return load


def _sample_loader(name: str) -> Callable:
    """The shipped sample's splits (`data/sample/<name>/`); `root` is not needed."""
    def load(split, root, limit):
        if split not in ("valid", "test"):
            raise ValueError(f"{SAMPLE} has the splits 'valid' and 'test' only (the heads of WikiText-2's), "
                             f"not {split!r}")
        return load_bytes(Path(str(resources.files("minirmt.data") / "sample" / name / f"wiki.{split}.raw.gz")),
                          limit=limit)
    return load


SAMPLE = "wikitext-2-raw-sample"
CORPORA = {
    "wikitext-2": Corpus("wikitext-2", TRAIN_VOCAB["wikitext-2"], "ppl", _word_loader("wikitext-2"),
                         lambda root: wikitext_vocab("wikitext-2", root)),
    "wikitext-103": Corpus("wikitext-103", TRAIN_VOCAB["wikitext-103"], "ppl", _word_loader("wikitext-103"),
                           lambda root: wikitext_vocab("wikitext-103", root)),
    "wikitext-2-raw": Corpus("wikitext-2-raw", 256, "bpb", _raw_byte_loader("wikitext-2-raw")),
    "wikitext-103-raw": Corpus("wikitext-103-raw", 256, "bpb", _raw_byte_loader("wikitext-103-raw")),
    "pg-books": Corpus("pg-books", 256, "bpb", _folder_byte_loader("pg-books")),
    SAMPLE: Corpus(SAMPLE, 256, "bpb", _sample_loader("wikitext-2-raw")),
}


SINGLE_FILE_SPLITS = {"train": (0.0, 0.9), "valid": (0.9, 0.95), "test": (0.95, 1.0)}  # fractions of the file


def corpus_info(name: str | Path) -> Corpus:
    """A corpus by name (one of `CORPORA`) or by the path of a text file or folder (read as bytes).

    A folder holds its splits (`train.txt`, `valid.txt`, ... or `train/`, ...). A single file has none, so it is
    cut into its first 90% (train), the next 5% (valid) and the last 5% (test): a model is never tested on the
    text it trained on.

    >>> corpus_info("wikitext-103").vocab_size, corpus_info("pg-books").unit
    (267735, 'bpb')
    """
    if str(name) in CORPORA:
        return CORPORA[str(name)]
    path = Path(name)
    if not path.exists():
        raise ValueError(f"corpus must be one of {sorted(CORPORA)} or an existing file or folder, "
                         f"got {name!r}")

    def load(split, root, limit):
        if not path.is_file():
            return load_bytes(path, split, limit)
        if split not in SINGLE_FILE_SPLITS:
            raise ValueError(f"{path} is one file: its splits are {tuple(SINGLE_FILE_SPLITS)} (its first 90%, the "
                             f"next 5% and the last 5%), not {split!r}")
        ids = load_bytes(path)
        low, high = (round(f * ids.numel()) for f in SINGLE_FILE_SPLITS[split])
        return ids[low:high][:limit]
    return Corpus(str(path), 256, "bpb", load)


def score(mean_loss: float, unit: str) -> float:
    """A mean cross-entropy (nats per token) in a corpus's unit: perplexity exp(loss) or bits per byte."""
    if unit == "ppl":
        return math.exp(mean_loss)
    if unit == "bpb":
        return mean_loss / math.log(2)
    raise ValueError(f"unit must be one of {UNITS}, got {unit!r}")


# ----------------------------------------------------------------------------------------------------------
# Contiguous batches (Transformer-XL style batchify)


def num_batches(
    n_tokens: int, batch_size: int, seq_len: int, world_size: int = 1, drop_last: bool = False
) -> int:
    """How many batches `stream_batches` yields per epoch from `n_tokens` ids (the same on every rank)."""
    for arg, value in (("batch_size", batch_size), ("seq_len", seq_len), ("world_size", world_size)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{arg} must be a positive int, got {value!r}")
    length = (n_tokens - 1) // (batch_size * world_size)
    return length // seq_len if drop_last else -(-length // seq_len)


def check_stream(ids, name: str = "ids") -> None:
    """`ids` must be a token stream: a 1-D integer tensor `(N,)`."""
    if not isinstance(ids, torch.Tensor):
        raise TypeError(f"{name} must be a 1-D integer tensor (N,), got {type(ids).__name__}")
    if ids.dim() != 1 or ids.is_floating_point() or ids.dtype == torch.bool:
        raise TypeError(f"{name} must be a 1-D integer tensor (N,), got {ids.dtype} of shape {tuple(ids.shape)}")


def stream_rows(
    ids: torch.Tensor, batch_size: int, rank: int = 0, world_size: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """This rank's input rows `(b, L)` and their next-token targets `(b, L)` (views of `ids (N,)`).

    The stream is cut into `b * world_size` rows of L = (N - 1) // rows tokens: row r holds tokens
    [r L, (r + 1) L) and, as targets, the same shifted by one, so every token but the first and the < rows
    left over at the end is predicted exactly once. Rank k takes rows [k b, (k + 1) b).
    """
    check_stream(ids)
    num_batches(ids.numel(), batch_size, 1, world_size)  # checks batch_size and world_size
    if not isinstance(rank, int) or not 0 <= rank < world_size:
        raise ValueError(f"rank must be an int in [0, {world_size}) (world_size), got {rank!r}")
    rows = batch_size * world_size
    length = (ids.numel() - 1) // rows
    if length < 1:
        raise ValueError(f"ids has {ids.numel()} tokens, too few for batch_size * world_size = {rows} rows "
                         f"(need at least {rows + 1})")
    inputs = rearrange(ids[: rows * length], "(r t) -> r t", r=rows)
    targets = rearrange(ids[1 : rows * length + 1], "(r t) -> r t", r=rows)
    mine = slice(rank * batch_size, (rank + 1) * batch_size)
    return inputs[mine], targets[mine]


def stream_batches(
    ids: torch.Tensor, batch_size: int, seq_len: int, rank: int = 0, world_size: int = 1,
    start: int = 0, drop_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches `(tokens (b, s), targets (b, s))` int64 that continue each other row by row.

    Row i of batch k + 1 is the text right after row i of batch k, so state carried between batches
    (RMT memory, an XL cache) stays on one continuous stream; targets are the next tokens. Every token of a
    row is an input exactly once, in order. The last batch is shorter (s < seq_len) unless `drop_last`.
    `start` resumes at batch index `start` (0 <= start <= num_batches), for resumable training.
    `rank`/`world_size` give each data-parallel process its own `b` of the `b * world_size` rows.
    """
    inputs, targets = stream_rows(ids, batch_size, rank, world_size)
    total = num_batches(ids.numel(), batch_size, seq_len, world_size, drop_last)
    if not isinstance(start, int) or not 0 <= start <= total:
        raise ValueError(f"start must be an int in [0, {total}] (batches per epoch), got {start!r}")
    cuts = (slice(k * seq_len, (k + 1) * seq_len) for k in range(start, total))
    return ((inputs[:, cut].long().contiguous(), targets[:, cut].long().contiguous()) for cut in cuts)
