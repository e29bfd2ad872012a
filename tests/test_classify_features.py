"""The classifier's per-text feature extraction equals sklearn's, and so do its predictions.

``FaqClassifier.predict_many`` reads the terms of each text word by word with remembered n-gram
columns and weighs them for all texts at once; here that is compared with sklearn's own
analysers and ``TfidfVectorizer.transform`` on a few thousand texts in English, Swedish,
Spanish, Chinese and Japanese.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from inboxd.core.classify import _VIEWS, NONE, FaqClassifier, _Features, normalise

WORDS = {
    "en": "where is my order refund password card payment declined transfer account the a I "
          "cannot log in please help money back shipping arrived broken top-up pending fee".split(),
    "sv": "var är min beställning återbetalning lösenord kortet betalning nekad överföring "
          "kontot jag kan inte logga in hjälp pengarna tillbaka leverans trasig avgift".split(),
    "es": "dónde está mi pedido reembolso contraseña tarjeta pago rechazado transferencia "
          "cuenta no puedo iniciar sesión ayuda dinero envío roto comisión ¿cuándo?".split(),
    "zh": "我的 订单 在哪里 退款 密码 银行卡 付款 被拒绝 转账 账户 无法 登录 请 帮助 钱 快递 坏了 手续费 "
          "什么时候到 我已经等了一个星期了请问怎么办".split(),
    "ja": "注文 は どこ ですか 返金 パスワード カード 支払い 拒否 振込 アカウント ログイン できません".split(),
}
ODD = ["#12345", "ＡＢＣ", "x" * 60, "e-mail", "don't", "…", "!!!", "°C", "Straße", "ÅSA", "١٢٣",
       "🙂", "a\tb", "  ", "0", "é", "ǅ", "İstanbul", "ﬁle"]


def texts(count: int, seed: int) -> list[str]:
    """Random sentences, mostly in one language, with odd tokens mixed in."""
    rng = random.Random(seed)
    found = []
    for _ in range(count):
        words = WORDS[rng.choice(sorted(WORDS))]
        chosen = [rng.choice(words) for _ in range(rng.randint(0, 25))]
        chosen += rng.sample(ODD, rng.randint(0, 2))
        rng.shuffle(chosen)
        joiner = "" if rng.random() < 0.2 else " "  # Chinese and Japanese often without spaces
        found.append(joiner.join(chosen) + rng.choice(["", "?", " 123", "\n\nThanks"]))
    return found


TRAIN = texts(1500, seed=1)
UNSEEN = texts(2500, seed=2)


@pytest.fixture(scope="module")
def fitted() -> tuple[_Features, list[TfidfVectorizer]]:
    normalised = [normalise(t) for t in TRAIN]
    vectorizers = [TfidfVectorizer(lowercase=False, sublinear_tf=True, **_VIEWS[name])
                   .fit(normalised) for name in _VIEWS]
    features, _ = _Features.fit(TRAIN)
    return features, vectorizers


def columns(finder: Callable[[str], list[np.ndarray]], text: str) -> list[int]:
    return [int(c) for piece in finder(text) for c in piece]


def test_term_columns_equal_sklearn_analyser(
        fitted: tuple[_Features, list[TfidfVectorizer]]) -> None:
    features, vectorizers = fitted
    for view, vectorizer, finder, offset in zip(features.views, vectorizers, features._finders,
                                                features.offsets):
        analyse, vocabulary = vectorizer.build_analyzer(), vectorizer.vocabulary_
        for text in map(normalise, TRAIN + UNSEEN):
            expected = Counter(offset + vocabulary[t] for t in analyse(text) if t in vocabulary)
            assert Counter(columns(finder, text)) == expected, (view.name, text)
            assert Counter(columns(finder, text)) == expected, (view.name, text)  # from the cache


def test_rows_equal_sklearn_transform(
        fitted: tuple[_Features, list[TfidfVectorizer]]) -> None:
    features, vectorizers = fitted
    normalised = [normalise(t) for t in UNSEEN]
    expected = sp.hstack([v.transform(normalised) for v in vectorizers]).tocsr() * features.scale
    expected.sort_indices()
    found = features.rows(UNSEEN)  # all at once, as predict_many computes them
    assert found.indptr.tolist() == expected.indptr.tolist()
    assert found.indices.tolist() == expected.indices.tolist()
    assert np.allclose(found.data, expected.data, rtol=0, atol=1e-6)  # stored as float32
    one_by_one = sp.vstack([features.rows([text]) for text in UNSEEN[:300]]).tocsr()
    assert (one_by_one != found[:300]).nnz == 0


def test_predictions_equal_a_model_fed_sklearn_rows() -> None:
    train = [t for t in TRAIN if normalise(t)]
    labels = [("password", "refund", "card", NONE)[len(t) % 4] for t in train]
    model = FaqClassifier.train(train, labels)
    features = model._features
    normalised = [normalise(t) for t in train]
    vectorizers = [TfidfVectorizer(lowercase=False, sublinear_tf=True, **_VIEWS[name])
                   .fit(normalised) for name in _VIEWS]
    unseen = [normalise(t) for t in UNSEEN]
    rows = sp.hstack([v.transform(unseen) for v in vectorizers]).tocsr() * features.scale
    scores = rows @ model._weights.astype(np.float64) + model._bias
    for i, text in enumerate(UNSEEN):
        best = int(np.argmax(np.where(model._candidates, scores[i], -np.inf)))
        spread = np.exp((scores[i] - scores[i, best]) / model._temperature).sum()
        match = model.predict(text)
        assert match.faq_id == model._all_labels[best]
        assert math.isclose(match.confidence, 1.0 / spread, rel_tol=0, abs_tol=1e-5)  # float32
