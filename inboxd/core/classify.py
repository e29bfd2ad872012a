"""FAQ classifier (interim): TF-IDF character n-grams and logistic regression."""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from inboxd.errors import ModelError


@dataclass(frozen=True)
class Match:
    faq_id: str
    confidence: float


class FaqClassifier:
    def __init__(self, model: object, labels: tuple[str, ...]) -> None:
        self.model = model
        self.labels = labels

    @classmethod
    def train(cls, texts: Sequence[str], labels: Sequence[str], *, seed: int = 0) -> FaqClassifier:
        model = make_pipeline(TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4),
                                              sublinear_tf=True, lowercase=True),
                              LogisticRegression(C=20, max_iter=2000, random_state=seed))
        model.fit(list(texts), list(labels))
        return cls(model, tuple(model.classes_))

    def predict(self, text: str) -> Match:
        return self.predict_many([text])[0]

    def predict_many(self, texts: Sequence[str]) -> list[Match]:
        probs = self.model.predict_proba(list(texts))  # type: ignore[attr-defined]
        return [Match(self.labels[int(p.argmax())], float(p.max())) for p in probs]

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps(self))

    @classmethod
    def load(cls, path: Path) -> FaqClassifier:
        try:
            return pickle.loads(path.read_bytes())
        except FileNotFoundError:
            raise ModelError(f"no model at {path}: run `inboxd train`") from None
