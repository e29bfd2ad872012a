"""Outgoing mail: Jinja2 text templates in the customer's language, threaded reply headers.

Customer text is only ever data: it is passed to templates as variables, never compiled as a
template, and the sandboxed environment keeps operator templates from reaching Python internals.
Headers are built with ``email.policy.default``, which refuses CR/LF inside a header, and every
value taken from a customer is folded onto one line first, so no header can be injected.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time, get_datetime_format
from jinja2 import (BaseLoader, FileSystemLoader, StrictUndefined, TemplateNotFound,
                    TemplateSyntaxError, meta, nodes)
from jinja2.sandbox import SandboxedEnvironment

from inboxd.core.message import ParsedMessage, reply_subject

MAX_REFERENCES = 20
TICKET_HEADER = "X-Inboxd-Ticket"

# the mails a customer gets (a suggestion: the draft an agent sends): each is written in one
# language (see ``mail_language``)
CUSTOMER_KINDS = ("auto_answer", "acknowledgement", "courtesy", "status", "suggestion", "survey")
FALLBACK_LOCALE = "en"

# The variables each kind of template is given (``Templates.render`` is handed at least these),
# and an FAQ's own template (``Templates.render_file``). A template naming another one is a
# problem ``inboxd check`` reports, not a mail that fails to render.
FAQ_TEMPLATE_VARIABLES = frozenset({"ticket_id", "customer_name", "support_name"})
_NOTICE_VARIABLES = frozenset({"ticket_id", "customer", "subject", "team", "received_at",
                               "excerpt", "latest", "support_name"})
TEMPLATE_VARIABLES: dict[str, frozenset[str]] = {
    "auto_answer": FAQ_TEMPLATE_VARIABLES | {"answer"},
    "suggestion": FAQ_TEMPLATE_VARIABLES | {"answer"},
    "acknowledgement": FAQ_TEMPLATE_VARIABLES | {"due_at"},
    "courtesy": FAQ_TEMPLATE_VARIABLES | {"due_at"},
    "survey": FAQ_TEMPLATE_VARIABLES | {"subject", "links"},
    "status": frozenset({"customer_name", "support_name", "asked", "tickets",
                         "last_resolved_at"}),
    "forward": frozenset({"ticket_id", "follow_up", "subject", "customer", "support_address",
                          "text", "team", "rating", "rating_label"}),
    "warning": _NOTICE_VARIABLES | {"deadline", "due_at", "relay_mode"},
    "escalation": _NOTICE_VARIABLES | {"passed", "overdue_folder"},
    "digest": frozenset({"max_age", "overdue_folder", "support_name", "tickets"}),
}


def packaged_templates_dir() -> Path:
    """The templates shipped with inboxd (installed package or source checkout)."""
    here = Path(__file__).resolve().parents[1]
    for candidate in (here / "templates", here.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("inboxd's templates folder is missing from the installation")


def format_when(at: datetime, language: str) -> str:
    """A due time as a customer of ``language`` reads it: the full date with its weekday and
    the time, as the language writes them (CLDR, by Babel), then the zone's abbreviation and
    name: ``Mittwoch, 25. November 2026, 10:00 CET (Europe/Berlin)``."""
    locale = _locale(language)
    pattern = get_datetime_format("full", locale=locale).replace("'", "")
    stamp = pattern.replace("{1}", format_date(at, "full", locale=locale)).replace(
        "{0}", format_time(at, "short", locale=locale))
    abbreviation, zone = at.strftime("%Z"), getattr(at.tzinfo, "key", None)
    return f"{stamp} {abbreviation} ({zone})" if zone else f"{stamp} {abbreviation}".rstrip()


@lru_cache(maxsize=64)
def _locale(language: str) -> Locale:
    try:
        return Locale.parse(language)
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale.parse(FALLBACK_LOCALE)


def mail_language(customer: str, default: str, frames: Collection[str],
                  answers: Collection[str] | None = None) -> str:
    """The one language of a mail: the customer's when its frame template (``frames``: the
    languages of the kind's templates) and, for an FAQ answer, the answer (``answers``; None
    when any language will do) exist in it; otherwise ``default`` (``faq.default_language``)
    for both, so that no customer gets an English frame around a German answer. When the
    default lacks one of them too, English, then the first language that has both. When no
    language has both, the answer's (the customer's, else its first): the answer is what the
    customer needs, and the frame falls back to another language."""
    for language in (customer, default, FALLBACK_LOCALE):
        if language in frames and (answers is None or language in answers):
            return language
    if answers is None:
        return default
    both = sorted(set(frames) & set(answers))
    if both:
        return both[0]
    if customer in answers:
        return customer
    return sorted(answers)[0] if answers else default


@dataclass(frozen=True)
class TemplateProblem:
    """A template that does not compile: its file, the line (0 when unknown) and why."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class _Snapshot(BaseLoader):
    """Template sources read once: later edits on disk do not reach the templates in use."""

    def __init__(self, sources: Mapping[str, tuple[str, str]]) -> None:
        self.sources = dict(sources)  # name -> (source, file name)

    def get_source(self, environment: Any, template: str) -> tuple[str, str, Any]:
        try:
            source, filename = self.sources[template]
        except KeyError:
            raise TemplateNotFound(template) from None
        return source, filename, lambda: True

    def list_templates(self) -> list[str]:
        return sorted(self.sources)


class Templates:
    """Finds ``<kind>.<language>.txt.j2`` in the operator's folder, then inboxd's own; ``files``
    are further templates used by path (an FAQ's ``template``).

    Every template is read and compiled when this is built, so ``problems`` lists each syntax
    error at once and a later edit on disk changes nothing here: the daemon builds a new
    ``Templates`` to take one up, and keeps this one when the new one has problems."""

    def __init__(self, folders: Sequence[Path], files: Sequence[Path] = ()) -> None:
        sources, self._problems = _read_sources(folders, files)
        self._names = frozenset(sources)
        self.env = SandboxedEnvironment(loader=_Snapshot(sources), autoescape=False,
                                        undefined=StrictUndefined, keep_trailing_newline=True,
                                        auto_reload=False, cache_size=-1)
        self._languages: dict[str, frozenset[str]] = {}
        faq_templates = {str(f) for f in files}
        for name, (source, filename) in sources.items():
            problems = _syntax_errors(name, lambda: self.env.get_template(name))
            given = (FAQ_TEMPLATE_VARIABLES if name in faq_templates
                     else TEMPLATE_VARIABLES.get(_kind_of(name)))
            if not problems and given is not None:
                problems = _unknown_variables(self.env, source, filename, given)
            self._problems += problems

    def languages(self, kind: str) -> frozenset[str]:
        """Languages with a ``kind`` template."""
        if kind not in self._languages:
            names = self.env.list_templates(filter_func=lambda n: n.startswith(kind + "."))
            self._languages[kind] = frozenset(n.split(".")[1] for n in names)
        return self._languages[kind]

    def render(self, kind: str, languages: Sequence[str], values: Mapping[str, Any]) -> str:
        for language in languages:
            try:
                template = self.env.get_template(f"{kind}.{language}.txt.j2")
            except TemplateNotFound:
                continue
            _check_values(kind, values, TEMPLATE_VARIABLES[kind])
            return template.render(**values)
        raise TemplateNotFound(f"{kind}.{{{','.join(languages)}}}.txt.j2")

    def render_file(self, path: Path, values: Mapping[str, Any]) -> str:
        """An FAQ's own template: the copy read with the others when given in ``files``."""
        _check_values(str(path), values, FAQ_TEMPLATE_VARIABLES)
        if str(path) in self._names:
            return self.env.get_template(str(path)).render(**values)
        return self.env.from_string(path.read_text(encoding="utf-8")).render(**values)

    @property
    def problem_list(self) -> list[TemplateProblem]:
        return list(self._problems)

    def missing(self, languages: Collection[str],
                kinds: Sequence[str] = CUSTOMER_KINDS) -> dict[str, list[str]]:
        """For each of ``languages`` that lacks templates: the kinds it has none of."""
        gaps = {language: [kind for kind in kinds if language not in self.languages(kind)]
                for language in sorted(languages)}
        return {language: kinds for language, kinds in gaps.items() if kinds}

    def problems(self, extra: Sequence[Path] = ()) -> list[str]:
        """Syntax errors and unknown variables, as "file:line: message", of every template in
        use (the operator's where they override inboxd's), of ``files`` and of the ``extra``
        template files."""
        found = [str(p) for p in self._problems]
        for path in extra:
            if str(path) not in self._names:
                source = path.read_text(encoding="utf-8")
                problems = _syntax_errors(str(path), lambda: self.env.parse(
                    source, filename=str(path)))
                found += [str(p) for p in problems or _unknown_variables(
                    self.env, source, str(path), FAQ_TEMPLATE_VARIABLES)]
        return found


def _read_sources(folders: Sequence[Path], files: Sequence[Path]
                  ) -> tuple[dict[str, tuple[str, str]], list[TemplateProblem]]:
    """Each ``.j2`` template's source and file name, the first folder's where several have
    one; and the files that could not be read."""
    loader = FileSystemLoader([str(f) for f in folders])
    sources: dict[str, tuple[str, str]] = {}
    problems = []
    named = [(name, lambda name=name: loader.get_source(None, name)[:2])  # type: ignore[arg-type]
             for name in loader.list_templates() if name.endswith(".j2")]
    named += [(str(path), lambda path=path: (path.read_text(encoding="utf-8"), str(path)))
              for path in files]
    for name, read in named:
        try:
            sources[name] = read()
        except (OSError, UnicodeDecodeError, TemplateNotFound) as exc:
            problems.append(TemplateProblem(name, 0, f"cannot read the template ({exc})"))
    return sources, problems


def _syntax_errors(name: str, load: Any) -> list[TemplateProblem]:
    try:
        load()
    except TemplateSyntaxError as exc:
        return [TemplateProblem(exc.filename or name, exc.lineno, exc.message or "syntax error")]
    return []


def _unknown_variables(env: SandboxedEnvironment, source: str, filename: str,
                       given: frozenset[str]) -> list[TemplateProblem]:
    """A problem for each variable the template uses that it is not ``given`` (first line of
    use). Only for a template that compiles: ``_syntax_errors`` first."""
    tree = env.parse(source, filename=filename)
    unknown = meta.find_undeclared_variables(tree) - given - env.globals.keys()
    lines = {name: min(n.lineno for n in tree.find_all(nodes.Name) if n.name == name)
             for name in unknown}
    offered = ", ".join(sorted(given))
    return [TemplateProblem(filename, lines[name], f"unknown variable {name!r} (this template "
                            f"is given: {offered})")
            for name in sorted(unknown, key=lambda n: (lines[n], n))]


def _kind_of(name: str) -> str:
    """The kind of a ``<kind>.<language>.txt.j2`` template; "" for another file."""
    parts = name.split(".")
    return parts[0] if len(parts) == 4 and parts[2:] == ["txt", "j2"] else ""


def _check_values(kind: str, values: Mapping[str, Any], given: frozenset[str]) -> None:
    """A template is handed at least the variables declared for it."""
    missing = given - values.keys()
    if missing:
        raise ValueError(f"{kind} template: not handed the declared {sorted(missing)}")


@dataclass(frozen=True)
class Reply:
    """Everything needed to build one automatic reply."""

    original: ParsedMessage
    ticket_id: int
    body: str
    language: str
    sender: str  # "Example Support <support@example.com>"
    message_id: str
    now: datetime


def build_reply(reply: Reply) -> EmailMessage:
    """The reply as a message, threaded under the original and marked as automatic."""
    msg = reply_to(reply.original, reply.ticket_id, reply.sender, reply.message_id, reply.now)
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"
    msg[TICKET_HEADER] = str(reply.ticket_id)
    msg.set_content(reply.body, charset="utf-8")
    msg["Content-Language"] = reply.language  # after set_content, which drops Content-* headers
    return msg


class EncodedHeader(str):
    """A header value that is already RFC 2047 encoded ASCII on one line, written as it is: the
    email policy stores a value with a matching ``name`` unchanged and calls its ``fold``."""

    name: str

    def __new__(cls, name: str, value: str) -> EncodedHeader:
        if not value.isascii() or "\r" in value or "\n" in value:
            raise ValueError(f"{name} must be ASCII on one line")
        header = super().__new__(cls, value)
        header.name = name
        return header

    def fold(self, *, policy: Any) -> str:
        return f"{self.name}: {self}{policy.linesep}"


def reply_to(original: ParsedMessage, ticket_id: int, sender: str, message_id: str,
             now: datetime) -> EmailMessage:
    """A message with the headers of a reply to ``original`` on ticket ``ticket_id``: to its
    Reply-To (else From), ``Re: <subject> [#id]``, threaded by In-Reply-To and References."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = _recipient(original)
    msg["Subject"] = _subject(original, ticket_id)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id
    if original.message_id:
        msg["In-Reply-To"] = original.message_id
        msg["References"] = " ".join(reply_references(original))
    return msg


def _subject(original: ParsedMessage, ticket_id: int) -> str:
    """``Re: <subject> [#id]``; from the subject as it arrived when it could not be decoded
    without loss, so that the customer reads their own words rather than U+FFFD."""
    return as_written(original, lambda subject: reply_subject(subject, ticket_id))


def as_written(original: ParsedMessage, subject_from: Callable[[str], str]) -> str:
    """The Subject ``subject_from`` makes of ``original``'s: from the encoded words as they
    arrived when they could not be decoded without loss (sent on unchanged), else decoded."""
    if original.encoded_subject:
        return EncodedHeader("Subject", subject_from(original.encoded_subject))
    return subject_from(original.subject)


def _recipient(original: ParsedMessage) -> Address:
    name = " ".join(original.sender_name.split())
    address = original.reply_to or ""
    local, _, domain = address.rpartition("@")
    return Address(display_name=name, username=local, domain=domain)


def reply_references(original: ParsedMessage) -> list[str]:
    """The References of a reply to ``original`` (RFC 5322 3.6.4): its References, else its
    In-Reply-To, then its Message-ID; cut to MAX_REFERENCES keeping the thread's first."""
    earlier = original.references or ((original.in_reply_to,) if original.in_reply_to else ())
    refs = [r for r in earlier if r != original.message_id]
    if len(refs) > MAX_REFERENCES - 1:
        refs = [refs[0], *refs[-(MAX_REFERENCES - 2):]]
    return [*refs, original.message_id] if original.message_id else refs


def sender_domain(sender: str) -> str:
    return parseaddr(sender)[1].rpartition("@")[2] or "localhost"
