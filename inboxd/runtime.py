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
from inboxd.core.deadlines import BusinessCalendar, calendar_from_settings
from inboxd.core.decide import Policy
from inboxd.core.render import Templates, packaged_templates_dir
from inboxd.errors import ConfigError
from inboxd.faq import Faq, load_faq
from inboxd.mail.imap import Mailbox
from inboxd.mail.smtp import Sender
from inboxd.store import Store
from inboxd.training import ModelMeta, effective_threshold, read_meta

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
                      rules=self.faq.rules)

    def close(self) -> None:
        self.mailbox.close()
        self.sender.close()
        self.store.close()


def load_calendar(config: Config) -> BusinessCalendar:
    try:
        return calendar_from_settings(config.deadlines)
    except ValueError as exc:
        raise ConfigError("deadlines.holidays", str(exc)) from None


def load_templates(config: Config) -> Templates:
    folders = [config.templates_dir] if config.templates_dir else []
    return Templates([*folders, packaged_templates_dir()])


def build_offline_runtime(config: Config, clock: Clock = system_clock) -> Runtime:
    """A runtime for looking without changing: the store is read if it exists and never
    created (an empty one in memory stands in); nothing connects until asked to."""
    if config.store_path.is_file():
        return build_runtime(config, clock)
    return build_runtime(replace(config, store_path=Path(":memory:")), clock)


def build_runtime(config: Config, clock: Clock = system_clock) -> Runtime:
    """Open the store and load FAQ, model, templates and calendar; connects nothing yet."""
    faq = load_faq(config.faq.path)
    classifier = FaqClassifier.load(config.faq.model)
    return Runtime(config=config, store=Store(config.store_path), mailbox=Mailbox(config.imap),
                   sender=Sender(config.smtp), faq=faq, classifier=classifier,
                   templates=load_templates(config), calendar=load_calendar(config), clock=clock,
                   model_meta=read_meta(config.faq.model))
