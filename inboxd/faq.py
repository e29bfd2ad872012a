"""The operator's FAQ file: TOML in, validated :class:`FaqEntry` values out.

```toml
[[faq]]
id = "shipping-time"
team = "orders"                        # optional: queue subfolder for follow-ups
examples = ["How long does delivery take?", "¿Cuánto tarda el envío?"]
answer.en = "Orders ship within 2 business days ..."
answer.es = "Los pedidos se envían en 2 días hábiles ..."
# template = "shipping-time.txt.j2"    # alternative to answer.*: a Jinja2 file next to the FAQ
# mode = "auto"                        # "draft": never sent automatically, suggested to a
                                       # person as a draft reply; "off": neither

[[rule]]                               # optional overrides; see inboxd.core.rules
phrases = ["refund*", "lawyer"]
senders = ["*@bigcustomer.com"]
route = "human"                        # or an FAQ id
team = "billing"
# mode = "draft"                       # with an FAQ id: suggest its answer, never send it
```
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inboxd.core.rules import DRAFT, HUMAN, Rule
from inboxd.core.classify import NONE
from inboxd.core.language import LANGUAGE_PATTERN
from inboxd.errors import FaqError

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_JINJA_MARKUP = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
TEAM_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]*$")
ENTRY_KEYS = {"id", "team", "examples", "answer", "template", "mode"}
RULE_KEYS = {"phrases", "senders", "route", "team", "mode"}
FAQ_MODES = ("auto", DRAFT, "off")  # sent automatically / suggested as a draft / neither


@dataclass(frozen=True)
class FaqEntry:
    id: str
    examples: tuple[str, ...]
    answers: dict[str, str]  # language code -> answer text (plain text, not a template)
    team: str | None = None
    template: Path | None = None  # a Jinja2 file used instead of answers
    mode: str = "auto"  # one of FAQ_MODES

    @property
    def sends(self) -> bool:
        """Its answer may be sent automatically."""
        return self.mode == "auto"

    @property
    def suggests(self) -> bool:
        """Its answer may be suggested to a person as a draft."""
        return self.mode != "off"

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self.answers)

    def answer_texts(self) -> list[str]:
        """What its answers say, for matching questions to them: each language's answer, or the
        template's text without its Jinja2 markup."""
        if self.template is None:
            return list(self.answers.values())
        try:
            source = self.template.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):  # `inboxd check` names an unreadable template
            return []
        text = " ".join(_JINJA_MARKUP.sub(" ", source).split())
        return [text] if text else []


@dataclass(frozen=True)
class Faq:
    entries: tuple[FaqEntry, ...]
    rules: tuple[Rule, ...] = ()
    background: tuple[str, ...] = field(default_factory=lambda: packaged_background())

    def get(self, faq_id: str) -> FaqEntry | None:
        return next((e for e in self.entries if e.id == faq_id), None)

    @property
    def languages(self) -> frozenset[str]:
        return frozenset(lang for e in self.entries for lang in e.languages)

    def training_rows(self) -> tuple[list[str], list[str]]:
        """Example texts and their FAQ ids; background messages are labelled ``NONE``."""
        texts = [ex for e in self.entries for ex in e.examples] + list(self.background)
        labels = [e.id for e in self.entries for _ in e.examples] + [NONE] * len(self.background)
        return texts, labels

    def answer_texts(self) -> dict[str, list[str]]:
        """Each FAQ's answer texts (``FaqEntry.answer_texts``), by id."""
        return {e.id: e.answer_texts() for e in self.entries}


def packaged_background() -> tuple[str, ...]:
    """Messages no FAQ answers (complaints, invoices, partnerships… in several languages),
    shipped with inboxd so that the classifier learns what "none of these" looks like."""
    text = (Path(__file__).parent / "data" / "background.txt").read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines()
                 if line.strip() and not line.startswith("#"))


def load_faq(path: Path) -> Faq:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FaqError("faq.path", f"FAQ file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FaqError("faq.path", f"cannot read FAQ file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise FaqError("faq.path", f"{path} is not valid TOML: {exc}") from None
    return parse_faq(data, path.parent)


def parse_faq(data: dict[str, Any], base_dir: Path) -> Faq:
    unknown = set(data) - {"faq", "rule"}
    if unknown:
        raise FaqError(sorted(unknown)[0],
                       "unknown key in the FAQ file (expected [[faq]] and [[rule]] entries)")
    raw_entries = data.get("faq")
    if not isinstance(raw_entries, list) or not raw_entries:
        raise FaqError("faq", "the FAQ file needs at least one [[faq]] entry")
    entries = tuple(_entry(raw, f"faq[{i}]", base_dir) for i, raw in enumerate(raw_entries))
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        if entry.id in seen:
            raise FaqError(f"faq[{i}].id", f"duplicate id {entry.id!r}")
        seen.add(entry.id)
    return Faq(entries, _rules(data.get("rule", []), seen))


def _entry(raw: Any, key: str, base_dir: Path) -> FaqEntry:
    if not isinstance(raw, dict):
        raise FaqError(key, "must be a table")
    for name in raw:
        if name not in ENTRY_KEYS:
            raise FaqError(f"{key}.{name}",
                           "unknown key (expected id, team, examples, answer, template, mode)")
    faq_id = raw.get("id")
    if not isinstance(faq_id, str) or not ID_PATTERN.match(faq_id):
        raise FaqError(f"{key}.id", "must be a lower-case id like \"shipping-time\"")
    key = f"{key} ({faq_id})"
    return FaqEntry(id=faq_id, examples=_examples(raw, key), answers=_answers(raw, key),
                    team=_team(raw, key), template=_template(raw, key, base_dir),
                    mode=_mode(raw, key))


def _mode(raw: dict[str, Any], key: str) -> str:
    mode = raw.get("mode", "auto")
    if mode not in FAQ_MODES:
        raise FaqError(f"{key}.mode", f"must be one of {', '.join(map(repr, FAQ_MODES))}, "
                                      f"got {mode!r}")
    return str(mode)


def _examples(raw: dict[str, Any], key: str) -> tuple[str, ...]:
    examples = raw.get("examples")
    if not isinstance(examples, list) or not examples:
        raise FaqError(f"{key}.examples", "must be a non-empty list of example questions")
    for i, example in enumerate(examples):
        if not isinstance(example, str) or not example.strip():
            raise FaqError(f"{key}.examples[{i}]", "must be a non-empty string")
    return tuple(e.strip() for e in examples)


def _answers(raw: dict[str, Any], key: str) -> dict[str, str]:
    answers = raw.get("answer", {})
    if not isinstance(answers, dict):
        raise FaqError(f"{key}.answer", 'must be a table of languages, e.g. answer.en = "..."')
    for lang, text in answers.items():
        if not LANGUAGE_PATTERN.match(lang):
            raise FaqError(f"{key}.answer.{lang}", "must be an ISO 639-1 language code like en, zh, sv")
        if not isinstance(text, str) or not text.strip():
            raise FaqError(f"{key}.answer.{lang}", "must be a non-empty string")
    if not answers and "template" not in raw:
        raise FaqError(f"{key}.answer", "give at least one answer.<language> or a template")
    return {lang: text.strip() for lang, text in answers.items()}


def _team(raw: dict[str, Any], key: str) -> str | None:
    team = raw.get("team")
    if team is not None and (not isinstance(team, str) or not TEAM_PATTERN.match(team)):
        raise FaqError(f"{key}.team", "must be a short folder-safe name like \"orders\"")
    return team


def _template(raw: dict[str, Any], key: str, base_dir: Path) -> Path | None:
    name = raw.get("template")
    if name is None:
        return None
    if not isinstance(name, str):
        raise FaqError(f"{key}.template", "must be a file name")
    path = (base_dir / name).resolve()
    if not path.is_file():
        raise FaqError(f"{key}.template", f"template file not found: {path}")
    return path


def _rules(raw_rules: Any, faq_ids: set[str]) -> tuple[Rule, ...]:
    if not isinstance(raw_rules, list):
        raise FaqError("rule", "must be [[rule]] tables")
    return tuple(_rule(raw, i, faq_ids) for i, raw in enumerate(raw_rules))


def _rule(raw: Any, index: int, faq_ids: set[str]) -> Rule:
    key = f"rule[{index}]"
    if not isinstance(raw, dict):
        raise FaqError(key, "must be a table")
    for name in raw:
        if name not in RULE_KEYS:
            raise FaqError(f"{key}.{name}",
                           "unknown key (expected phrases, senders, route, team, mode)")
    phrases, senders = _strings(raw, key, "phrases"), _strings(raw, key, "senders")
    if not phrases and not senders:
        raise FaqError(f"{key}.phrases", "give phrases, senders or both")
    return Rule(index=index, route=_route(raw, key, faq_ids), phrases=phrases, senders=senders,
                team=_rule_team(raw, key), draft=_rule_draft(raw, key))


def _rule_draft(raw: dict[str, Any], key: str) -> bool:
    """``mode = "draft"``: the rule's FAQ is suggested to a person instead of sent."""
    if "mode" not in raw:
        return False
    if raw["mode"] != DRAFT:
        raise FaqError(f"{key}.mode", f'must be "{DRAFT}", got {raw["mode"]!r}')
    if raw.get("route") == HUMAN:
        raise FaqError(f"{key}.mode", 'only applies with route = an FAQ id')
    return True


def _strings(raw: dict[str, Any], key: str, name: str) -> tuple[str, ...]:
    values = raw.get(name, [])
    if not isinstance(values, list):
        raise FaqError(f"{key}.{name}", "must be a list of strings")
    for i, value in enumerate(values):
        if not isinstance(value, str) or not value.strip(" *"):
            raise FaqError(f"{key}.{name}[{i}]", "must be a non-empty string")
        if name == "senders" and any(c.isspace() for c in value.strip()):
            raise FaqError(f"{key}.{name}[{i}]",
                           'must be an address or a glob like "*@example.com"')
    return tuple(v.strip() for v in values)


def _route(raw: dict[str, Any], key: str, faq_ids: set[str]) -> str:
    route = raw.get("route")
    if not isinstance(route, str) or (route != HUMAN and route not in faq_ids):
        raise FaqError(f"{key}.route", f'must be "{HUMAN}" or the id of an [[faq]] entry, '
                                       f"got {route!r}")
    return route


def _rule_team(raw: dict[str, Any], key: str) -> str | None:
    if "team" in raw and raw.get("route") != HUMAN:
        raise FaqError(f"{key}.team", f'only applies with route = "{HUMAN}"')
    return _team(raw, key)
