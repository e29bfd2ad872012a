"""The FAQ classifier on a small multilingual FAQ, its model file, and the threshold tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inboxd.core.classify import (FaqClassifier, Match, choose_threshold, coverage_at_precision,
                                  normalise)
from inboxd.core.classify import NONE, _Features, _without_language
from inboxd.errors import ModelError
from inboxd.faq import packaged_background

FAQ: dict[str, list[str]] = {
    "password": [
        "How do I reset my password?", "I forgot my password and cannot log in",
        "The password reset link does not work",
        "我忘记了密码", "怎么重置密码？", "无法登录我的账户",
        "Jag har glömt mitt lösenord", "Hur återställer jag lösenordet?",
        "Jag kan inte logga in på mitt konto",
        "Olvidé mi contraseña", "¿Cómo restablezco la contraseña?",
        "No puedo iniciar sesión en mi cuenta",
    ],
    "refund": [
        "I want a refund for my order", "How do I get my money back?",
        "Please refund the payment, the product was broken",
        "我想要退款", "怎么申请退款？", "请把钱退给我",
        "Jag vill ha pengarna tillbaka", "Hur får jag återbetalning för min order?",
        "Kan ni återbetala betalningen?",
        "Quiero un reembolso de mi pedido", "¿Cómo recupero mi dinero?",
        "Por favor devuelvan el pago",
    ],
    "shipping": [
        "When will my order arrive?", "How long does shipping take?",
        "Where is my package? It has not been delivered",
        "我的包裹什么时候到？", "快递要多长时间？", "订单还没有送到",
        "När kommer mitt paket?", "Hur lång tid tar leveransen?",
        "Min beställning har inte levererats",
        "¿Cuándo llega mi pedido?", "¿Cuánto tarda el envío?",
        "Mi paquete todavía no ha sido entregado",
    ],
    "cancel": [
        "How do I cancel my subscription?", "Please cancel my account membership",
        "I want to stop the monthly subscription",
        "我想取消订阅", "怎么取消会员？", "请停止每月自动续费",
        "Hur säger jag upp mitt abonnemang?", "Jag vill avsluta min prenumeration",
        "Avsluta mitt medlemskap",
        "Quiero cancelar mi suscripción", "¿Cómo doy de baja mi membresía?",
        "Cancelen la suscripción mensual",
    ],
}
TEXTS = [text for examples in FAQ.values() for text in examples]
LABELS = [faq for faq, examples in FAQ.items() for _ in examples]

PARAPHRASES = [
    ("en", "i forgot the password for my account, how can i reset it", "password"),
    ("en", "can I get a refund? I want my money back", "refund"),
    ("en", "my package still has not arrived, when will it be delivered?", "shipping"),
    ("en", "cancel my subscription please", "cancel"),
    ("zh", "密码忘记了，怎么办", "password"),
    ("zh", "我要申请退款", "refund"),
    ("zh", "包裹什么时候能送到", "shipping"),
    ("zh", "如何取消我的订阅", "cancel"),
    ("sv", "jag har glömt lösenordet till mitt konto", "password"),
    ("sv", "jag vill få pengarna tillbaka för ordern", "refund"),
    ("sv", "när levereras mitt paket?", "shipping"),
    ("sv", "jag vill säga upp min prenumeration", "cancel"),
    ("es", "olvidé la contraseña de mi cuenta", "password"),
    ("es", "quiero que me devuelvan el dinero, un reembolso por favor", "refund"),
    ("es", "mi pedido todavía no llega, ¿cuándo será entregado?", "shipping"),
    ("es", "quiero dar de baja mi suscripción", "cancel"),
]
UNRELATED = "what is the meaning of life, tell me a joke about penguins"


@pytest.fixture(scope="module")
def model() -> FaqClassifier:
    """Trained as inboxd trains: the FAQ examples plus the shipped background messages."""
    background = packaged_background()
    return FaqClassifier.train(TEXTS + list(background), LABELS + [NONE] * len(background),
                               seed=0)


@pytest.mark.parametrize("language,text,faq", PARAPHRASES, ids=[p[1] for p in PARAPHRASES])
def test_unseen_paraphrase_gets_its_faq(model: FaqClassifier, language: str, text: str,
                                        faq: str) -> None:
    match = model.predict(text)
    assert match.faq_id == faq
    assert type(match.faq_id) is str
    assert 0.0 <= match.confidence <= 1.0


def test_labels_are_the_faq_ids(model: FaqClassifier) -> None:
    assert model.labels == ("cancel", "password", "refund", "shipping")


def test_unrelated_text_is_less_confident_than_in_domain_questions(
        model: FaqClassifier) -> None:
    unrelated = model.predict(UNRELATED).confidence
    in_domain = [model.predict(text).confidence for _, text, _ in PARAPHRASES]
    assert unrelated < 0.2
    assert unrelated < float(np.median(in_domain)) / 3


def test_predict_many_equals_predict(model: FaqClassifier) -> None:
    texts = [text for _, text, _ in PARAPHRASES] + [UNRELATED, "", "!!!"]
    assert model.predict_many(texts) == [model.predict(t) for t in texts]


def test_features_of_one_text_equal_its_training_row() -> None:
    from inboxd.core.classify import _Features

    features, rows = _Features.fit(TEXTS)
    chosen = [0, 4, 17, 40]
    found = features.rows([TEXTS[i] for i in chosen]).toarray()
    assert found.dtype == np.float32
    assert np.allclose(found, rows[chosen].toarray(), rtol=0, atol=1e-6)


@pytest.mark.parametrize("raw,expected", [
    ("  Hello\tWORLD \n", "hello world"),
    ("Order #12345, ＡＢＣ", "order #00000, abc"),
    ("Straße", "strasse"),
    ("我的  订单 ２号", "我的 订单 0号"),
])
def test_normalise(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


def test_save_and_load_predict_identically(model: FaqClassifier, tmp_path: Path) -> None:
    path = tmp_path / "faq.model"
    model.save(path)
    loaded = FaqClassifier.load(path)
    texts = [text for _, text, _ in PARAPHRASES] + [UNRELATED]
    assert loaded.labels == model.labels
    assert loaded.predict_many(texts) == model.predict_many(texts)
    assert [p.name for p in tmp_path.iterdir()] == ["faq.model"]


@pytest.mark.parametrize("content", [b"", b"not a model at all", b"PK\x03\x04garbage" * 10])
def test_loading_garbage_raises_model_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "faq.model"
    path.write_bytes(content)
    with pytest.raises(ModelError, match="inboxd train"):
        FaqClassifier.load(path)


def test_saving_into_a_missing_directory_raises_model_error(model: FaqClassifier,
                                                            tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="cannot write the model"):
        model.save(tmp_path / "absent" / "faq.model")


def test_loading_a_missing_file_raises_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no trained model"):
        FaqClassifier.load(tmp_path / "absent.model")


def test_loading_another_format_version_raises_model_error(tmp_path: Path) -> None:
    path = tmp_path / "faq.model"
    with path.open("wb") as out:
        np.savez(out, format=np.array("inboxd-faq-classifier"), version=np.array(999))
    with pytest.raises(ModelError, match="format 999"):
        FaqClassifier.load(path)


def test_single_faq_confidence_is_similarity(tmp_path: Path) -> None:
    model = FaqClassifier.train(["How do I reset my password?", "I forgot my password"],
                                ["password", "password"])
    near, far = model.predict("reset my password"), model.predict(UNRELATED)
    assert near.faq_id == far.faq_id == "password"
    assert 0.0 <= far.confidence < near.confidence <= 1.0
    model.save(tmp_path / "one.model")
    assert FaqClassifier.load(tmp_path / "one.model").predict("reset my password") == near


@pytest.mark.parametrize("texts,labels,expected", [
    (["reset password", "forgot password", "refund please", "money back"],
     ["password", "password", "refund", "refund"], "refund"),
    (["reset password", "refund please"], ["password", "refund"], "refund"),
    (["reset password", "forgot password", "refund please"],
     ["password", "password", "refund"], "refund"),
    (["??", "!!", "refund", "money"], ["a", "a", "b", "b"], "b"),
])
def test_tiny_faqs_train_and_predict(texts: list[str], labels: list[str], expected: str) -> None:
    model = FaqClassifier.train(texts, labels)
    match = model.predict("I would like a refund")
    assert match.faq_id == expected
    assert 0.0 <= match.confidence <= 1.0
    assert model.predict("").faq_id in model.labels


@pytest.mark.parametrize("texts,labels,problem", [
    ([], [], "no FAQ examples"),
    (["a question"], [], "1 example texts but 0 labels"),
    (["fine", "   "], ["x", "y"], "example 1"),
    (["fine", "good"], ["x", "y\nz"], "line break"),
])
def test_train_rejects_unusable_examples(texts: list[str], labels: list[str],
                                         problem: str) -> None:
    with pytest.raises(ModelError, match=problem):
        FaqClassifier.train(texts, labels)


def test_match_is_a_value() -> None:
    assert Match("refund", 0.5) == Match("refund", 0.5)


@pytest.mark.parametrize("confidences,correct,target,expected", [
    ([0.9, 0.8, 0.7, 0.6], [True, True, False, True], 1.0, 0.8),
    ([0.9, 0.8, 0.7, 0.6], [True, True, False, True], 0.75, 0.6),
    ([0.9, 0.8, 0.7, 0.6], [True, True, False, True], 0.7, 0.6),
    ([0.9, 0.8, 0.7, 0.6], [False, True, True, True], 0.75, 0.6),
    ([0.9, 0.8, 0.7, 0.6], [False, True, True, False], 0.6, 0.7),
    ([0.9, 0.8, 0.7, 0.6], [False, False, False, False], 0.5, None),
    ([0.9, 0.9, 0.5], [True, False, True], 0.6, 0.5),  # a tie is answered together
    ([0.9, 0.9, 0.5], [True, False, False], 0.5, 0.9),
    ([], [], 0.9, None),
])
def test_choose_threshold(confidences: list[float], correct: list[bool], target: float,
                          expected: float | None) -> None:
    assert choose_threshold(confidences, correct, target) == expected
    assert choose_threshold(confidences, correct, target, [1.0] * len(correct)) == expected


@pytest.mark.parametrize("weights,expected", [
    ([1.0, 1.0, 1.0, 1.0], 0.8),  # the wrong 0.7 makes 3 of 4: below 0.8
    ([1.0, 1.0, 0.5, 1.0], 0.6),  # counted half: 3 of 3.5 = 0.86
    ([1.0, 1.0, 2.0, 1.0], 0.8),  # counted twice: 3 of 5
    ([1.0, 1.0, 0.5, 0.0], 0.6),  # 2 of 2.5 = 0.8 at 0.7 and at 0.6 (weight 0)
])
def test_choose_threshold_with_weights(weights: list[float], expected: float) -> None:
    assert choose_threshold([0.9, 0.8, 0.7, 0.6], [True, True, False, True], 0.8,
                            weights) == expected


@pytest.mark.parametrize("confidences,correct,in_scope,target,expected", [
    ([0.9, 0.8, 0.7, 0.6], [True, True, False, True], [True] * 4, 1.0, 0.5),
    ([0.9, 0.8, 0.7, 0.6], [True, True, False, True], [True] * 4, 0.75, 0.75),
    ([0.9, 0.8, 0.7, 0.6], [True, True, True, True], [True] * 4, 0.99, 1.0),
    # an answered out-of-scope row counts as a wrong answer
    ([0.9, 0.8, 0.7, 0.6], [True, False, True, False], [True, False, True, False], 0.9, 1 / 2),
    ([0.9, 0.8, 0.7, 0.6], [True, False, True, False], [True, False, True, False], 0.6, 1.0),
    ([0.95, 0.9, 0.8], [False, True, True], [False, True, True], 0.5, 1.0),
    ([0.95, 0.9, 0.8], [False, True, True], [False, True, True], 0.7, 0.0),
    ([0.5, 0.5], [True, False], [True, True], 0.9, 0.0),  # a tie cannot be split
    ([0.5], [False], [False], 0.9, 0.0),
])
def test_coverage_at_precision(confidences: list[float], correct: list[bool],
                               in_scope: list[bool], target: float, expected: float) -> None:
    assert coverage_at_precision(confidences, correct, in_scope, target) == pytest.approx(expected)


@pytest.mark.parametrize("text,share", [
    ("How do I reset my password?", 1.0),
    ("reset my password, bitte", 0.75),
    ("Hur återställer jag lösenordet?", 0.0),
    ("!!!", 1.0),  # no words: nothing unknown
])
def test_known_share_counts_the_words_the_examples_hold(text: str, share: float) -> None:
    features, _ = _Features.fit(["How do I reset my password?", "my order is late"])
    assert features.known_share([text])[0] == pytest.approx(share)


def test_the_language_offset_is_taken_off_the_texts_in_that_language() -> None:
    offsets = np.array([[0.0, 0.5, 0.0], [0.0, 0.0, 0.5]], dtype=np.float32)
    vectors = np.array([[0.6, 0.8, 0.0], [0.6, 0.0, 0.8], [0.6, 0.0, 0.8]], dtype=np.float32)
    texts = ["Where is my parcel? It has not arrived yet.",
             "Var är mitt paket? Det har inte kommit än.", "!!!"]
    neutral = _without_language(vectors, texts, ("en", "sv"), offsets)
    expected = np.array([[0.6, 0.3, 0.0], [0.6, 0.0, 0.3], [0.6, 0.0, 0.8]])  # "!!!": unsure
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert np.allclose(neutral, expected, atol=1e-6)
