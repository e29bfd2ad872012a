"""Operator rules from the FAQ file: mail that always goes to a person, or always gets one FAQ.

```toml
[[rule]]
phrases = ["refund*", "lawyer", "abogado", "advokat", "律师"]
senders = ["*@bigcustomer.com", "ceo@example.com"]
route = "human"            # or an FAQ id: always answer with that FAQ
team = "billing"           # optional: queue subfolder when route = "human"
# mode = "draft"           # with an FAQ id: a person gets its answer as a draft, never sent
```

A rule needs ``phrases`` or ``senders`` or both; when it has both, both must match. Phrases are
compared case-insensitively as whole words (``"refund"`` does not match "refunds"; end a phrase
with ``*`` to allow any ending, ``"refund*"``); a phrase with Chinese, Japanese or Korean
characters matches anywhere, since those languages write no spaces. Senders are shell-style
globs on the sender's address, case-insensitive. The first matching rule in file order wins.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Sequence

HUMAN = "human"
DRAFT = "draft"
_SPACELESS = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


@dataclass(frozen=True)
class Rule:
    index: int  # position in the FAQ file, for messages: rule[0]
    route: str  # "human" or an FAQ id
    phrases: tuple[str, ...] = ()
    senders: tuple[str, ...] = ()
    team: str | None = None
    draft: bool = False  # route's answer is suggested to a person as a draft, never sent

    @property
    def to_human(self) -> bool:
        return self.route == HUMAN

    @property
    def name(self) -> str:
        return f"rule[{self.index}]"


@dataclass(frozen=True)
class RuleHit:
    """A rule that matched a message, and what matched (for the decision's reason)."""

    rule: Rule
    matched: str  # 'phrase "refund"', 'sender ceo@example.com', or both joined by " and "


def _fold(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def phrase_pattern(phrase: str) -> re.Pattern[str]:
    """The regular expression a phrase stands for (see the module docstring)."""
    folded = _fold(phrase)
    open_end = folded.endswith("*")
    folded = folded.rstrip("*").strip()
    body = r"\s+".join(re.escape(word) for word in folded.split(" "))
    if _SPACELESS.search(folded):
        return re.compile(body)
    return re.compile(rf"(?<!\w){body}" + (r"\w*" if open_end else r"(?!\w)"))


def _phrase_in(rule: Rule, text: str) -> str | None:
    for phrase in rule.phrases:
        if phrase_pattern(phrase).search(text):
            return f'phrase "{phrase}"'
    return None


def _sender_in(rule: Rule, sender: str) -> str | None:
    for pattern in rule.senders:
        if sender and fnmatchcase(sender, pattern.lower()):
            return f"sender {sender}"
    return None


def match_rule(rules: Sequence[Rule], text: str, sender: str | None) -> RuleHit | None:
    """The first rule whose every condition matches ``text`` and ``sender``, or None."""
    folded, address = _fold(text), (sender or "").strip().lower()
    for rule in rules:
        found = [_phrase_in(rule, folded) if rule.phrases else "",
                 _sender_in(rule, address) if rule.senders else ""]
        if all(part is not None for part in found) and any(found):
            return RuleHit(rule, " and ".join(part for part in found if part))
    return None
