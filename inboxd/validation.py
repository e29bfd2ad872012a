"""What ``run``, ``once`` and ``check`` validate before they act, in one place.

The configuration file is checked on its own as it is read (``inboxd.config``); what needs the
FAQ file, a library or the file system as well is checked here: the holidays country code, the
team names of ``notify.team_addresses`` and ``relay.team_addresses`` (teams the FAQ entries or
rules route to), and that the store can be written where ``store.path`` puts it.
``build_runtime`` and ``inboxd check`` both call :func:`validate_setup`, so ``check`` says ok
only where ``run`` then starts; each problem is a :class:`ConfigError` naming its key (exit
code 2). :func:`model_problem` is the model's part of the same.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from inboxd.config import Config
from inboxd.core.classify import FaqClassifier
from inboxd.model.encoder import Encoder
from inboxd.core.deadlines import BusinessCalendar, calendar_from_settings
from inboxd.errors import ConfigError, ModelError
from inboxd.faq import Faq, load_faq


SQLITE_HEADER = b"SQLite format 3\x00"  # the first bytes of every SQLite database file


@dataclass(frozen=True)
class Setup:
    """What the validation read and a run goes on to use."""

    faq: Faq
    calendar: BusinessCalendar


def validate_setup(config: Config, writes: bool = True) -> Setup:
    """Read the FAQ and check everything that depends on more than the configuration file;
    the store's path only for a command that ``writes`` to it."""
    faq = load_faq(config.faq.path)
    check_team_keys(config, faq)
    calendar = load_calendar(config)
    if writes:
        check_store_path(config.store_path)
    return Setup(faq=faq, calendar=calendar)


def check_store_path(path: Path) -> None:
    """The store can be opened for writing, or created where it is configured."""
    if str(path) == ":memory:":
        return
    if path.exists():
        if not path.is_file() or not os.access(path, os.R_OK | os.W_OK):
            raise ConfigError("store.path", f"{path} is not a file inboxd can read and write")
        with path.open("rb") as file:
            head = file.read(len(SQLITE_HEADER))
        if head and head != SQLITE_HEADER:
            raise ConfigError("store.path", f"{path} is not an SQLite database (another file "
                                            f"at that path?)")
        return
    folder = next(p for p in path.parents if p.exists())
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError("store.path", f"cannot create {path}: {folder} is not a writable "
                                        "folder")


def model_problem(config: Config, sentence_encoder: Encoder | None = None) -> str | None:
    """What is wrong with the trained model file itself (missing, damaged), or None. ``check``
    reports it beside ``modelfile.model_problems`` (does the model fit the FAQ file) and goes on
    to try the logins; ``run`` refuses to start on the same (``FaqClassifier.load``)."""
    if not config.faq.model.is_file():
        return "missing: run `inboxd train`"
    try:
        FaqClassifier.load(config.faq.model, sentence_encoder)
    except ModelError as exc:
        return str(exc)
    return None


def load_calendar(config: Config) -> BusinessCalendar:
    try:
        return calendar_from_settings(config.deadlines)
    except ValueError as exc:
        raise ConfigError("deadlines.holidays", str(exc)) from None


def faq_teams(faq: Faq) -> frozenset[str]:
    """Every team an FAQ entry or a rule sends mail to."""
    return frozenset(t for t in (*(e.team for e in faq.entries), *(r.team for r in faq.rules))
                     if t)


def check_team_keys(config: Config, faq: Faq) -> None:
    """A team address list for a team no FAQ or rule routes to would never be used."""
    teams = faq_teams(faq)
    tables = [("notify.team_addresses", config.notify.team_addresses)]
    if config.relay is not None:
        tables.append(("relay.team_addresses", config.relay.team_addresses))
    for key, addresses in tables:
        for team in addresses:
            if team not in teams:
                known = ", ".join(sorted(teams)) or "none: no FAQ entry or rule has a team"
                raise ConfigError(f"{key}.{team}",
                                  f"no FAQ entry or rule in {config.faq.path.name} has team "
                                  f"{team!r}, so these addresses would never be used (teams: "
                                  f"{known})")
