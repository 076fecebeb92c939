"""Tests for minirmt.data.corpora: WikiText and byte corpora, download + verify, contiguous-stream batches.

The real-data tests read the pre-fetched copies in $MINIRMT_SHARED_DATA or the repo's data/ (conftest.py); they
skip, saying why, when neither holds the files. Nothing touches the network:
downloads are served from 127.0.0.1 or file://.
"""

import dataclasses
import gzip
import hashlib
import http.server
import io
import shutil
import socket
import threading
import zipfile
from functools import partial
from pathlib import Path

import pytest
import torch
from conftest import data_root

from minirmt.data import corpora, downloads


@pytest.fixture
def wt2():
    return data_root("wikitext-2", "wiki.valid.tokens.gz")


@pytest.fixture(autouse=True)
def no_data_env(monkeypatch):
    monkeypatch.delenv(downloads.ENV_VAR, raising=False)


# ---------------------------------------------------------------------------------------------- WikiText


def reference_dictionary(lines):
    """pytorch/examples word_language_model/downloads.py, Dictionary + Corpus.tokenize, written out."""
    word2idx, ids = {}, []
    for line in lines:
        for word in line.split() + ["<eos>"]:
            word2idx.setdefault(word, len(word2idx))
            ids.append(word2idx[word])
    return list(word2idx), ids


@pytest.mark.parametrize(
    "name, split, n_tokens, n_types, first",
    [
        ("wikitext-2", "valid", 217_646, 13_777, "= Homarus gammarus ="),
        ("wikitext-2", "test", 245_569, 14_143, "= Robert <unk> ="),
        ("wikitext-2-raw", "valid", 217_646, 19_883, "= Homarus gammarus ="),
        ("wikitext-2-raw", "test", 245_569, 21_142, "= Robert Boulter ="),
    ],
)
def test_wikitext_counts_match_the_published_ones(wt2, name, split, n_tokens, n_types, first):
    lines = corpora.wikitext_lines(name, split, wt2)
    vocab = corpora.Vocab.build(lines)
    ids = corpora.load_wikitext(name, split, wt2, vocab=vocab)
    assert ids.shape == (n_tokens,) and ids.dtype == torch.int64
    assert len(vocab) == vocab.size == n_types
    assert vocab.decode(ids[:8]).splitlines()[1] == first


def test_vocab_is_built_the_standard_way(wt2):
    lines = corpora.wikitext_lines("wikitext-2", "valid", wt2)
    itos, ids = reference_dictionary(lines)
    vocab = corpora.Vocab.build(lines)
    assert vocab.itos == itos
    assert vocab.itos[:4] == ["<eos>", "=", "Homarus", "gammarus"]  # the first line is blank
    assert corpora.load_wikitext("wikitext-2", "valid", wt2, vocab=vocab).tolist() == ids
    assert int((torch.tensor(ids) == vocab.stoi["<unk>"]).sum()) == 11_718


def test_raw_and_tokens_line_up_token_by_token(wt2):
    tokens = " ".join(corpora.wikitext_lines("wikitext-2", "valid", wt2)).split()
    raw = " ".join(corpora.wikitext_lines("wikitext-2-raw", "valid", wt2)).split()
    assert len(tokens) == len(raw)
    assert all(t == r for t, r in zip(tokens, raw) if t != "<unk>")


def test_plain_files_a_dataset_folder_and_the_env_var_all_work(wt2, tmp_path, monkeypatch):
    gz_ids = corpora.load_wikitext("wikitext-2", "valid", wt2, vocab=corpora.Vocab(["<eos>", "<unk>"]))
    folder = tmp_path / "wikitext-2"
    folder.mkdir()
    plain = gzip.decompress((wt2 / "wikitext-2/wiki.valid.tokens.gz").read_bytes())
    (folder / "wiki.valid.tokens").write_bytes(plain)
    vocab = corpora.Vocab(["<eos>", "<unk>"])
    assert torch.equal(corpora.load_wikitext("wikitext-2", "valid", tmp_path, vocab=vocab), gz_ids)  # parent
    assert torch.equal(corpora.load_wikitext("wikitext-2", "valid", folder, vocab=vocab), gz_ids)  # the folder
    monkeypatch.setenv(downloads.ENV_VAR, str(wt2))
    assert torch.equal(corpora.load_wikitext("wikitext-2", "valid", vocab=vocab), gz_ids)


def test_the_train_vocabulary_is_the_default_and_new_raw_words_become_unk(wt2, tmp_path):
    folder = tmp_path / "wikitext-2"
    folder.mkdir()
    shutil.copy(wt2 / "wikitext-2/wiki.valid.raw.gz", folder)
    (folder / "wiki.train.raw").write_text(" = Homarus gammarus = \n" * 36_718, encoding="utf-8")
    vocab = corpora.wikitext_vocab("wikitext-2-raw", tmp_path)
    assert vocab.itos == ["=", "Homarus", "gammarus", "<eos>", "<unk>"]
    ids = corpora.load_wikitext("wikitext-2-raw", "valid", tmp_path)
    assert ids.shape == (217_646,)
    assert corpora.wikitext_vocab("wikitext-2-raw", tmp_path) is vocab  # cached
    assert set(ids.tolist()) == set(range(5))


def test_a_wrong_train_vocabulary_size_is_caught(tmp_path):
    (tmp_path / "wiki.train.tokens").write_text("a b\n" * 36_718, encoding="utf-8")
    with pytest.raises(ValueError, match=r"wiki\.train\.tokens has 4 types .*expected 33,278"):
        corpora.wikitext_vocab("wikitext-2", tmp_path)


def test_missing_files_say_how_to_get_them(wt2, tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        corpora.load_wikitext("wikitext-2", "train", wt2)  # no train split on this machine
    message = str(err.value)
    for part in ("wiki.train.tokens", "python -m minirmt download wikitext-2", "MINIRMT_DATA", str(wt2)):
        assert part in message
    with pytest.raises(FileNotFoundError, match="wiki.valid.raw"):
        corpora.load_wikitext("wikitext-103-raw", "valid", tmp_path)


def test_corrupt_or_truncated_files_say_what_is_wrong(wt2, tmp_path):
    (tmp_path / "wiki.valid.tokens.gz").write_bytes(b"this is not gzip")
    with pytest.raises(ValueError, match=r"wiki\.valid\.tokens\.gz is not a readable gzip file"):
        corpora.wikitext_lines("wikitext-2", "valid", tmp_path)
    lines = gzip.decompress((wt2 / "wikitext-2/wiki.valid.tokens.gz").read_bytes()).split(b"\n")
    (tmp_path / "wiki.test.tokens.gz").write_bytes(gzip.compress(b"\n".join(lines[:100])))
    with pytest.raises(ValueError, match=r"has 100 lines, expected 4,358 \(wikitext-2 test\)"):
        corpora.wikitext_lines("wikitext-2", "test", tmp_path)
    (tmp_path / "wiki.valid.raw").write_bytes(b"caf\xe9\n")
    with pytest.raises(ValueError, match=r"wiki\.valid\.raw is not UTF-8"):
        corpora.wikitext_lines("wikitext-2-raw", "valid", tmp_path)
    with pytest.raises(ValueError, match="name must be one of"):
        corpora.wikitext_file("wikitext-3", "valid")
    with pytest.raises(ValueError, match="split must be one of"):
        corpora.wikitext_file("wikitext-2", "validation")


# ---------------------------------------------------------------------------------------------- Vocab


def test_vocab_round_trips_through_encode_decode_and_json(tmp_path):
    lines = [" = Title = ", "", "a b  c", "b a"]
    vocab = corpora.Vocab.build(lines, specials=["<unk>"])
    assert vocab.itos == ["=", "Title", "<eos>", "a", "b", "c", "<unk>"]
    ids = vocab.encode(lines)
    assert ids.tolist() == [0, 1, 0, 2, 2, 3, 4, 5, 2, 4, 3, 2]
    assert vocab.decode(ids) == "= Title =\n\na b c\nb a\n"
    assert vocab.encode(["a zebra"]).tolist() == [3, 6, 2]
    vocab.save(tmp_path / "vocab.json")
    again = corpora.Vocab.load(tmp_path / "vocab.json")
    assert again.itos == vocab.itos and torch.equal(again.encode(lines), ids)


def test_vocab_rejects_bad_input():
    with pytest.raises(ValueError, match="zebra"):
        corpora.Vocab.build(["a b"]).encode(["a zebra"])
    with pytest.raises(ValueError, match="distinct"):
        corpora.Vocab(["a", "a", "<eos>"])
    with pytest.raises(ValueError, match="eos"):
        corpora.Vocab(["a"])


# ---------------------------------------------------------------------------------------------- download


def make_archive(tmp_path: Path) -> tuple[Path, str]:
    """A tiny stand-in for wikitext-2-v1.zip and its sha256."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for split in corpora.SPLITS:
            archive.writestr(f"wikitext-2/wiki.{split}.tokens", f" = {split} = \n")
    served = tmp_path / "served"
    served.mkdir()
    (served / "wikitext-2-v1.zip").write_bytes(buffer.getvalue())
    return served, hashlib.sha256(buffer.getvalue()).hexdigest()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    """Serves a stand-in wikitext-2-v1.zip on 127.0.0.1 and points the registry at its checksum."""
    served, sha256 = make_archive(tmp_path)
    stand_in = dataclasses.replace(downloads.WIKITEXT["wikitext-2"], sha256=sha256)
    monkeypatch.setitem(downloads.WIKITEXT, "wikitext-2", stand_in)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/"


def test_download_falls_back_to_the_mirror_verifies_and_unpacks(server, tmp_path):
    dest = tmp_path / "data"
    folder = downloads.download("wikitext-2", dest, urls=[server + "gone/", server])  # the first answers 404
    assert folder == dest / "wikitext-2"
    assert (folder / "wiki.valid.tokens").read_text() == " = valid = \n"
    assert sorted(p.name for p in dest.iterdir()) == ["wikitext-2"]  # the zip is gone once unpacked
    assert downloads.download("wikitext-2", dest, urls=[closed_port_url()]) == folder  # already there: no fetch


def test_download_rejects_a_checksum_mismatch(server, tmp_path, monkeypatch):
    wrong = dataclasses.replace(downloads.WIKITEXT["wikitext-2"], sha256="0" * 64)
    monkeypatch.setitem(downloads.WIKITEXT, "wikitext-2", wrong)
    with pytest.raises(downloads.DownloadError, match=f"{server}wikitext-2-v1.zip: sha256 mismatch"):
        downloads.download("wikitext-2", tmp_path / "data", urls=[server])
    assert list((tmp_path / "data").iterdir()) == []  # no partial file left behind


def test_offline_download_names_the_url_in_one_line(tmp_path):
    url = closed_port_url()
    with pytest.raises(downloads.DownloadError) as err:
        downloads.download("wikitext-2", tmp_path, urls=[url])
    message = str(err.value)
    assert "\n" not in message
    assert f"{url}wikitext-2-v1.zip" in message and "by hand" in message and str(tmp_path) in message


def test_fetch_reads_file_urls_and_download_needs_a_wikitext_name(tmp_path):
    served, sha256 = make_archive(tmp_path)
    got = downloads.fetch([(served / "wikitext-2-v1.zip").as_uri()], tmp_path / "copy.zip", sha256)
    assert downloads.sha256sum(got) == sha256
    with pytest.raises(ValueError, match="to download"):
        downloads.download("pg-books", tmp_path)


# ---------------------------------------------------------------------------------------------- bytes


def test_pg_books_valid_loads_as_the_bytes_its_readme_describes():
    root = data_root("pg-books", "valid.txt.gz")
    ids = corpora.load_bytes(root / "pg-books", "valid")
    assert ids.shape == (3_085_273,) and ids.dtype == torch.uint8  # 3,083,353 characters in UTF-8
    digest = hashlib.sha256(ids.numpy().tobytes()).hexdigest()
    assert digest == "cee3a40dae2cdaa3908da93128275f840e73fb672603bdbd21545312302df2ab"  # from its README
    assert corpora.decode_bytes(ids[:26]) == "= = = My Man Jeeves = = =\n"
    head = corpora.corpus_info("pg-books").load("valid", root=root, limit=1000)
    assert torch.equal(head, ids[:1000])
    assert torch.equal(corpora.corpus_info("pg-books").load("valid", root=root / "pg-books", limit=10), ids[:10])


def test_load_bytes_reads_any_folder_of_text_or_gzip(tmp_path):
    (tmp_path / "a.txt").write_text("abc\n", encoding="utf-8")
    (tmp_path / "b.txt.gz").write_bytes(gzip.compress("déjà vu\n".encode()))
    (tmp_path / "notes.md").write_text("not text data", encoding="utf-8")
    ids = corpora.load_bytes(tmp_path)
    assert corpora.decode_bytes(ids) == "abc\ndéjà vu\n"
    assert ids.numel() == 4 + len("déjà vu\n".encode())
    assert corpora.decode_bytes(corpora.load_bytes(tmp_path, limit=6)) == "abc\nd\ufffd"  # cut inside "é"
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "book.txt").write_text("train text", encoding="utf-8")
    (tmp_path / "valid.txt").write_text("valid text", encoding="utf-8")
    assert corpora.decode_bytes(corpora.load_bytes(tmp_path, "train")) == "train text"
    assert corpora.decode_bytes(corpora.load_bytes(tmp_path, "valid")) == "valid text"
    with pytest.raises(FileNotFoundError, match="split 'test'"):
        corpora.load_bytes(tmp_path, "test")
    with pytest.raises(FileNotFoundError, match="neither a file nor a folder"):
        corpora.load_bytes(tmp_path / "nowhere")


def test_corpus_registry(tmp_path):
    expected = {
        "wikitext-2": (33_278, "ppl"), "wikitext-103": (267_735, "ppl"), "wikitext-2-raw": (256, "bpb"),
        "wikitext-103-raw": (256, "bpb"), "pg-books": (256, "bpb"), "wikitext-2-raw-sample": (256, "bpb"),
    }
    assert {name: (c.vocab_size, c.unit) for name, c in corpora.CORPORA.items()} == expected
    (tmp_path / "valid.txt").write_text("hello", encoding="utf-8")
    corpus = corpora.corpus_info(tmp_path)
    assert (corpus.vocab_size, corpus.unit) == (256, "bpb")
    assert corpora.decode_bytes(corpus.load("valid")) == "hello"
    with pytest.raises(ValueError, match="corpus must be one of"):
        corpora.corpus_info("wikitext-4")
    with pytest.raises(FileNotFoundError, match="pg-books/"):
        corpora.corpus_info("pg-books").load("valid", root=tmp_path)
    assert corpora.score(2.0, "ppl") == pytest.approx(7.389056)
    assert corpora.score(2.0, "bpb") == pytest.approx(2.885390)


def test_registry_loads_wikitext_raw_as_bytes(wt2):
    ids = corpora.corpus_info("wikitext-2-raw").load("valid", root=wt2)
    assert ids.shape == (1_146_846,) and ids.dtype == torch.uint8  # the plain file's bytes (its README)


# ---------------------------------------------------------------------------------------------- batches


def test_every_token_of_every_row_is_used_once_in_order_across_ranks():
    n, b, s, world = 103, 2, 4, 3
    ids = torch.arange(n, dtype=torch.uint8)
    length = (n - 1) // (b * world)  # 17 tokens a row, the last 4 tokens of the stream are left over
    rows = []
    for rank in range(world):
        batches = list(corpora.stream_batches(ids, b, s, rank=rank, world_size=world))
        assert len(batches) == corpora.num_batches(n, b, s, world) == 5
        assert all(x.shape == y.shape == (b, s) for x, y in batches[:-1]) and batches[-1][0].shape == (b, 1)
        assert all(x.dtype == y.dtype == torch.int64 for x, y in batches)
        tokens = torch.cat([x for x, _ in batches], dim=1)
        targets = torch.cat([y for _, y in batches], dim=1)
        assert torch.equal(targets, tokens + 1)
        rows.append(tokens)
    stream = torch.cat(rows).flatten()
    assert torch.equal(stream, torch.arange(b * world * length))


def test_batches_continue_each_row_on_real_text(wt2):
    ids = corpora.load_wikitext("wikitext-2", "valid", wt2, vocab=corpora.Vocab.build(corpora.wikitext_lines(
        "wikitext-2", "valid", wt2)))
    batches = list(corpora.stream_batches(ids, batch_size=4, seq_len=35))
    for (x0, y0), (x1, _) in zip(batches, batches[1:]):
        assert torch.equal(x1[:, 0], y0[:, -1])
        assert torch.equal(x0[:, 1:], y0[:, :-1])
    assert sum(x.numel() for x, _ in batches) == 4 * ((217_646 - 1) // 4)


def test_resume_from_batch_k_and_drop_last():
    ids = torch.arange(51)  # rows of 25 tokens: 6 batches of 4 and one of 1
    full = list(corpora.stream_batches(ids, 2, 4))
    resumed = list(corpora.stream_batches(ids, 2, 4, start=3))
    assert len(resumed) == len(full) - 3
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(full[3:], resumed))
    assert list(corpora.stream_batches(ids, 2, 4, start=len(full))) == []
    dropped = list(corpora.stream_batches(ids, 2, 4, drop_last=True))
    assert len(dropped) == corpora.num_batches(51, 2, 4, drop_last=True) == 6 and len(full) == 7
    assert all(x.shape == (2, 4) for x, _ in dropped)


@pytest.mark.parametrize(
    "ids, kwargs, error, match",
    [
        (torch.zeros(4, 5, dtype=torch.long), {}, TypeError, r"1-D integer tensor .*shape \(4, 5\)"),
        (torch.zeros(50), {}, TypeError, "torch.float32"),
        ([1, 2, 3], {}, TypeError, "got list"),
        (torch.arange(50), {"rank": 2, "world_size": 2}, ValueError, r"rank must be an int in \[0, 2\)"),
        (torch.arange(5), {"batch_size": 5}, ValueError, "ids has 5 tokens, too few"),
        (torch.arange(51), {"start": 8}, ValueError, r"start must be an int in \[0, 7\]"),
        (torch.arange(50), {"batch_size": 0}, ValueError, "batch_size must be a positive int"),
        (torch.arange(50), {"seq_len": 0}, ValueError, "seq_len must be a positive int"),
    ],
)
def test_stream_batches_rejects_bad_arguments(ids, kwargs, error, match):
    args = {"batch_size": 2, "seq_len": 4} | kwargs
    with pytest.raises(error, match=match):
        corpora.stream_batches(ids, **args)


def test_the_shipped_sample_is_the_head_of_wikitext_2_raw(wt2):
    """wikitext-2-raw-sample: the first 300,000 bytes of the raw valid split, the first 100,000 of test, in the
    package itself (so the language-model lesson runs offline); nothing else."""
    sample, full = corpora.corpus_info("wikitext-2-raw-sample"), corpora.corpus_info("wikitext-2-raw")
    for split, size in (("valid", 300_000), ("test", 100_000)):
        assert torch.equal(sample.load(split), full.load(split, wt2, limit=size))
    assert sample.unit == "bpb" and sample.load("test", limit=7).numel() == 7
    with pytest.raises(ValueError, match="has the splits 'valid' and 'test' only"):
        sample.load("train")
