"""inboxd.core.language: which of the operator's languages a customer wrote in."""

from __future__ import annotations

import pytest

from inboxd.core.language import detect_language

SHOP = frozenset({"en", "zh", "sv", "es"})


@pytest.mark.parametrize("text, expected", [
    ("How long does delivery take?", "en"),
    ("Where is my order? I paid last week and have heard nothing since.", "en"),
    ("当我的订单什么时候到?", "zh"),
    ("请问我的订单什么时候到？我已经等了一个星期了。", "zh"),
    ("Hur lång tid tar leveransen?", "sv"),
    ("Jag vill returnera min beställning, hur gör jag?", "sv"),
    ("¿Cuánto tarda el envío?", "es"),
    ("Hola, quiero devolver mi pedido. ¿Qué tengo que hacer?", "es"),
    ("", "en"),
    ("   \n\t ", "en"),
    ("12345 !!! ???", "en"),
    ("ok", "en"),
])
def test_detects_shop_languages(text: str, expected: str) -> None:
    assert detect_language(text, SHOP, default="en") == expected


@pytest.mark.parametrize("text, default", [
    ("", "sv"),
    ("42", "es"),
    ("Hej", "zh"),  # too short to tell: below the confidence bar
])
def test_default_when_unsure(text: str, default: str) -> None:
    assert detect_language(text, SHOP, default=default) == default


@pytest.mark.parametrize("text", [
    "Hur lång tid tar leveransen?",
    "Jag vill returnera min beställning, hur gör jag?",
])
def test_candidates_restrict_the_answer(text: str) -> None:
    assert detect_language(text, {"en", "es"}, default="en") in {"en", "es"}
    assert detect_language(text, {"en", "es"}, default="fr") != "sv"


@pytest.mark.parametrize("candidates, default, expected", [
    (set(), "en", "en"),  # nothing to choose from
    ({"xx", "tlh"}, "en", "en"),  # codes the model does not know are ignored
    ({"xx", "sv", "en"}, "en", "sv"),
    ({"SV", "EN"}, "en", "SV"),  # returned as the operator spelled it
    ({"sv-SE", "en-GB"}, "en-GB", "sv-SE"),
    ({"sv_SE", "en"}, "en", "sv_SE"),
])
def test_candidate_codes(candidates: set[str], default: str, expected: str) -> None:
    assert detect_language("Hur lång tid tar leveransen?", candidates, default) == expected


def test_chinese_regional_tag() -> None:
    assert detect_language("当我的订单什么时候到?", ["en", "zh-CN"], "en") == "zh-CN"


def test_norwegian_bokmal_alias() -> None:
    text = "Hvor lang tid tar det før pakken min kommer frem? Jeg har ventet i to uker."
    assert detect_language(text, {"nb", "en"}, "en") == "nb"


@pytest.mark.parametrize("text", [
    "Combien de temps prend la livraison ?",  # restricted to the shop's languages: es
    "J'ai oublié mon mot de passe, comment le réinitialiser ?",
    "Wie lange dauert der Versand nach Berlin? Ich habe am Montag bestellt.",
])
def test_a_language_none_of_the_candidates_is_gets_the_default(text: str) -> None:
    assert detect_language(text, SHOP, default="en") == "en"
    assert detect_language(text, SHOP, default="sv") == "sv"
