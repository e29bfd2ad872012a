"""A running daemon takes up a new model, FAQ file and templates without a restart.

:class:`Reloader` remembers the identity (inode, size, modification time) of the files the
runtime was built from: the model and its sidecar; the FAQ file, the FAQ's template files and
the operator's template folder. ``poll`` looks at them again — a few ``stat`` calls, done
before each pass over the inbox, so between two messages — and reloads what changed:

- the model (``inboxd train`` or the retrain job wrote it), read under the shared training
  lock; while a training holds the lock it is looked at again on the next poll;
- the FAQ file (answers, rules, examples) together with the templates, since an FAQ can name
  template files. A broken new FAQ file or template is logged with its key or file and line, and
  the ones in use stay until the next change.

Each reload logs what is now in use; once everything due is loaded, a warning says when model
and FAQ in use do not fit. ``poll(everything=True)`` reloads all of it, changed or not: the
reload on request. :func:`reload_config` (SIGHUP) reads the configuration file first, and takes
up nothing unless the configuration and everything it names are valid.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from inboxd.config import Config, load_config
from inboxd.config.mail import read_passwords
from inboxd.core.classify import FaqClassifier
from inboxd.errors import ConfigError, ModelError
from inboxd.faq import load_faq
from inboxd.mail.imap import Mailbox
from inboxd.mail.smtp import Sender
from inboxd.model.modelfile import describe_model, model_problems, reading_lock, threshold_warning
from inboxd.validation import Setup, check_team_keys, model_problem, validate_setup
from inboxd.runtime import Runtime, checked_templates
from inboxd.model.training import meta_path, read_meta

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stamp:
    """Enough of a file's identity to notice that it was replaced or written."""

    inode: int
    size: int
    mtime_ns: int


Stamps = tuple[tuple[str, Stamp | None], ...]


def stamp(path: Path) -> Stamp | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return Stamp(st.st_ino, st.st_size, st.st_mtime_ns)


def model_stamps(rt: Runtime) -> Stamps:
    model = rt.config.faq.model
    return tuple((str(p), stamp(p)) for p in (model, meta_path(model)))


def answer_stamps(rt: Runtime) -> Stamps:
    """The FAQ file, its template files and the ``.j2`` files of the operator's folder."""
    paths = [rt.config.faq.path, *(e.template for e in rt.faq.entries if e.template)]
    folder = rt.config.templates_dir
    if folder is not None and folder.is_dir():
        paths += sorted(p for p in folder.rglob("*.j2"))
    return tuple((str(p), stamp(p)) for p in paths)


def reload_model(rt: Runtime) -> bool:
    """Load the model on disk into the runtime; a damaged one is logged and the one in use
    stays. False when a training holds the files (try again later)."""
    settings = rt.config.faq
    with reading_lock(settings.model) as free:
        if not free:
            log.info("model %s is being written by a training; it is taken up when that ends",
                     settings.model)
            return False
        try:
            classifier = FaqClassifier.load(settings.model, rt.encoder)
            meta = read_meta(settings.model)
        except ModelError as exc:
            log.error("new model not loaded: %s; the model in use stays", exc)
            return True
    rt.classifier, rt.model_meta = classifier, meta
    log.info("now using model %s", describe_model(settings, meta))
    return True


def reload_answers(rt: Runtime) -> bool:
    """Load the FAQ file (answers, rules) and the templates into the runtime; when either is
    broken, log it and keep both in use."""
    try:
        faq = load_faq(rt.config.faq.path)
        check_team_keys(rt.config, faq)  # as `run` and `check` do (inboxd.validation)
        templates = checked_templates(rt.config, faq)
    except ConfigError as exc:
        log.error("FAQ file or templates not reloaded: %s; the FAQ, rules and templates in use "
                  "stay until it is fixed", exc)
        return True
    rt.faq, rt.templates = faq, templates
    log.info("reloaded the FAQ file %s (%d FAQs, %d rules) and the templates",
             rt.config.faq.path, len(faq.entries), len(faq.rules))
    return True


def log_fit(rt: Runtime) -> None:
    """Warn when the model in use does not fit the FAQ in use, or answers nothing."""
    for problem in model_problems(rt.config.faq, rt.faq, rt.model_meta):
        log.warning("model %s: %s", rt.config.faq.model, problem)
    warning = threshold_warning(rt.config.faq, rt.model_meta)
    if warning:
        log.warning("%s", warning)


def log_state(rt: Runtime) -> None:
    """At start-up: the model in use and what does not fit."""
    log.info("using model %s", describe_model(rt.config.faq, rt.model_meta))
    log_fit(rt)


RESTART_ONLY = ("store_path", "metrics", "log")  # what a running daemon cannot switch


def reload_config(rt: Runtime) -> bool:
    """Read the configuration file again; when it, its FAQ, templates and model are valid, use
    it (new server settings take effect at the next connection; the caller then reloads the
    files it names). Otherwise log the problem, naming its key, keep everything in use and
    return False."""
    path = rt.config.path
    try:
        config, setup = checked_config(path, rt)
    except ConfigError as exc:
        log.error("configuration %s not reloaded: %s; the configuration in use stays", path, exc)
        return False
    for name in RESTART_ONLY:
        if getattr(config, name) != getattr(rt.config, name):
            log.warning("configuration %s: %s changed; it takes effect at the next restart",
                        path, name.replace("_", "."))
    config = replace(config, **{name: getattr(rt.config, name) for name in RESTART_ONLY})
    if config.imap != rt.config.imap:
        rt.mailbox.close()
        rt.mailbox = Mailbox(config.imap)
    if config.smtp != rt.config.smtp:
        rt.sender.close()
        rt.sender = Sender(config.smtp)
    rt.config, rt.calendar = config, setup.calendar
    log.info("reloaded the configuration %s", path)
    return True


def checked_config(path: Path, rt: Runtime) -> tuple[Config, Setup]:
    """The configuration at ``path`` with what ``run`` validates before it starts, or a
    ConfigError naming the key."""
    config = load_config(path)
    read_passwords(config.imap, config.smtp)
    setup = validate_setup(config)
    checked_templates(config, setup.faq)
    problem = model_problem(config, rt.encoder)
    if problem:
        raise ConfigError("faq.model", f"{config.faq.model}: {problem}")
    return config, setup


WATCHED: tuple[tuple[Callable[[Runtime], Stamps], Callable[[Runtime], bool]], ...] = (
    (answer_stamps, reload_answers),
    (model_stamps, reload_model),
)


class Reloader:
    """Reloads what changed on disk since the runtime was built or last reloaded."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.seen = [look(rt) for look, _ in WATCHED]

    def poll(self, everything: bool = False) -> None:
        """Reload what changed, or ``everything``; a model a training is writing stays due."""
        rt = self.rt
        in_use = (rt.faq, rt.classifier)
        for i, (look, load) in enumerate(WATCHED):
            now = look(rt)
            if (everything or now != self.seen[i]) and load(rt):
                self.seen[i] = look(rt) if look is answer_stamps else now
        if rt.faq is not in_use[0] or rt.classifier is not in_use[1]:
            log_fit(rt)  # once both are loaded: the new FAQ is not judged by the old model
