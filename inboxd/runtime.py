"""Everything a run needs, built once from the configuration."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from inboxd.availability import Availability
from inboxd.config import Config
from inboxd.core.classify import FaqClassifier
from inboxd.core.deadlines import BusinessCalendar
from inboxd.core.decide import Policy
from inboxd.model.encoder import Encoder, describe as describe_encoder, load as load_encoder
from inboxd.core.render import Templates, packaged_templates_dir
from inboxd.errors import TemplateError
from inboxd.faq import Faq
from inboxd.mail.imap import Mailbox
from inboxd.mail.smtp import Sender
from inboxd.store import Claim, Store, claim
from inboxd.tokens import TokenKeeper
from inboxd.model.training import ModelMeta, effective_threshold, read_meta
from inboxd.validation import Setup, validate_setup

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Runtime:
    config: Config
    store: Store
    mailbox: Mailbox
    sender: Sender
    faq: Faq
    classifier: FaqClassifier
    templates: Templates
    calendar: BusinessCalendar
    clock: Clock
    model_meta: ModelMeta | None = None  # what `inboxd train` recorded next to the model
    encoder: Encoder | None = None  # the sentence encoder, None when unavailable
    tokens: TokenKeeper | None = None  # the OAuth2 token, when a login uses one
    claimed: Claim | None = None  # the store's lock (``store.claim``) while this one acts
    smtp_state: Availability = field(init=False)  # is the SMTP server there, when to try it

    def __post_init__(self) -> None:
        smtp = self.config.smtp
        self.smtp_state = Availability(f"SMTP {smtp.host}:{smtp.port}",
                                       "the mail to send waits in the outbox")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.config.deadlines.timezone)

    @property
    def policy(self) -> Policy:
        threshold = effective_threshold(self.config.faq, self.model_meta)
        return Policy(threshold=threshold,
                      route_threshold=min(self.config.faq.route_threshold, threshold),
                      auto_replies_per_sender_per_day=self.config.policy.auto_replies_per_sender_per_day,
                      rules=self.faq.rules,
                      suggest_threshold=min(self.config.faq.suggest_threshold, threshold))

    def close(self) -> None:
        self.mailbox.close()
        self.sender.close()
        self.store.close()
        if self.claimed is not None:
            self.claimed.close()


def load_templates(config: Config, faq: Faq | None = None) -> Templates:
    """The operator's templates over inboxd's own, and the FAQ's template files, all read and
    compiled now; their problems are listed in ``Templates.problems``."""
    folders = [config.templates_dir] if config.templates_dir else []
    files = [e.template for e in faq.entries if e.template] if faq else []
    return Templates([*folders, packaged_templates_dir()], files)


def checked_templates(config: Config, faq: Faq) -> Templates:
    """``load_templates``, or TemplateError naming the file and line of the first problem."""
    templates = load_templates(config, faq)
    problems = templates.problem_list
    if problems:
        more = f" (and {len(problems) - 1} more: see `inboxd check`)" if len(problems) > 1 else ""
        first = problems[0]
        raise TemplateError(f"{first.file}:{first.line}", first.message + more)
    return templates


def build_offline_runtime(config: Config, clock: Clock = system_clock) -> Runtime:
    """A runtime for looking without changing: the store is read if it exists and never
    created (an empty one in memory stands in); nothing connects until asked to. A template
    with a syntax error is no obstacle to looking."""
    if not config.store_path.is_file():
        config = replace(config, store_path=Path(":memory:"))
    return build_runtime(config, clock, strict_templates=False, writes=False)


def build_runtime(config: Config, clock: Clock = system_clock,
                  strict_templates: bool = True, writes: bool = True,
                  acts: bool | None = None) -> Runtime:
    """Open the store and load FAQ, model, templates and calendar; connects nothing yet.
    A template that does not compile is a TemplateError unless ``strict_templates`` is off;
    a store path inboxd cannot write is a ConfigError unless it ``writes`` nothing. A runtime
    that ``acts`` (by default one that writes) claims the store first: StoreBusy while another
    inboxd process acts on it, so that no two send the same mail."""
    setup = validate_setup(config, writes)  # the same checks as `inboxd check`
    claimed = claim(config.store_path) if (writes if acts is None else acts) else None
    try:
        return _loaded(config, setup, clock, strict_templates, claimed)
    except BaseException:
        if claimed is not None:
            claimed.close()
        raise


def _loaded(config: Config, setup: Setup, clock: Clock, strict_templates: bool,
            claimed: Claim | None) -> Runtime:
    faq = setup.faq
    templates = checked_templates(config, faq) if strict_templates else load_templates(config, faq)
    sentence_encoder = load_encoder(threads=1)  # one message at a time: one core
    classifier = FaqClassifier.load(config.faq.model, sentence_encoder)
    store = Store(config.store_path)
    tokens = token_keeper(config, store)
    return Runtime(config=config, store=store,
                   mailbox=Mailbox(config.imap, tokens if config.imap.oauth2 else None),
                   sender=Sender(config.smtp, tokens if config.smtp.oauth2 else None), faq=faq,
                   classifier=classifier, templates=templates, calendar=setup.calendar,
                   clock=clock, model_meta=read_meta(config.faq.model), encoder=sentence_encoder,
                   tokens=tokens, claimed=claimed)


def token_keeper(config: Config, store: Store) -> TokenKeeper | None:
    """The keeper of the OAuth2 token of the mailbox, when [oauth2] is set."""
    if config.oauth2 is None:
        return None
    account = config.imap.username if config.imap.oauth2 else config.smtp.username
    return TokenKeeper(store, config.oauth2, account)


def encoder_in_use(rt: Runtime) -> str:
    """What the model matches on, for logs and reports."""
    if rt.classifier.encoder:
        return rt.classifier.encoder
    if rt.encoder is not None:
        return f"none (the model was trained without {rt.encoder.name}: run `inboxd train`)"
    return describe_encoder(None)
