"""The TOML configuration, read into frozen dataclasses.

Every problem raises :class:`ConfigError` naming the dotted key (``imap.port``), so the operator
knows which line to fix. Relative paths resolve against the config file's folder. Unknown keys
are errors too: a typo must not silently fall back to a default.

This package's face is this module: every settings class is importable from ``inboxd.config``.
The sections are parsed in ``config.mail`` ([imap], [smtp], [folders]), ``config.policy``
([faq], [deadlines], [policy], [templates]), ``config.notify`` ([notify], [relay]) and
``config.report`` ([report]), ``config.survey`` ([survey]), all with the checked reader of
``config.table`` at the bottom.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inboxd.config.mail import (SECURITY_MODES, FolderSettings, ImapSettings, Secret,
                               ServerSettings, SmtpSettings, folder_settings, imap_settings,
                               smtp_settings)
from inboxd.config.notify import (AlertSettings, NotifySettings, RelaySettings, alert_settings,
                                 notify_settings, relay_settings)
from inboxd.config.oauth import OAuthSettings, oauth_settings
from inboxd.config.report import ReportSettings, report_settings
from inboxd.config.policy import (BACKLOG_MODES, WEEKDAYS, DeadlineSettings, FaqSettings,
                                 PolicySettings, deadline_settings, faq_settings,
                                 policy_settings, templates_path)
from inboxd.config.service import LogSettings, MetricsSettings, log_settings, metrics_settings
from inboxd.config.survey import SurveySettings, survey_settings
from inboxd.config.table import Table, resolve_path
from inboxd.errors import ConfigError

__all__ = [
    "BACKLOG_MODES", "SECURITY_MODES", "WEEKDAYS", "AlertSettings", "Config", "DeadlineSettings",
    "FaqSettings", "FolderSettings", "ImapSettings", "LogSettings", "MetricsSettings",
    "NotifySettings", "OAuthSettings", "PolicySettings", "RelaySettings", "ReportSettings",
    "Secret", "ServerSettings", "SmtpSettings", "SurveySettings", "load_config", "parse_config",
]


@dataclass(frozen=True)
class Config:
    path: Path
    imap: ImapSettings
    smtp: SmtpSettings
    folders: FolderSettings
    faq: FaqSettings
    store_path: Path
    deadlines: DeadlineSettings
    policy: PolicySettings
    templates_dir: Path | None = None
    notify: NotifySettings = field(default_factory=NotifySettings)
    relay: RelaySettings | None = None  # relay mode; None when [relay] is absent
    oauth2: OAuthSettings | None = None  # when imap.auth or smtp.auth is "oauth2"
    alert: AlertSettings = field(default_factory=AlertSettings)
    metrics: MetricsSettings | None = None  # the Prometheus endpoint; None when off
    log: LogSettings = field(default_factory=LogSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    survey: SurveySettings = field(default_factory=SurveySettings)

    @property
    def support_address(self) -> str:
        from email.utils import parseaddr

        return parseaddr(self.smtp.sender)[1].lower()


def load_config(path: Path | str) -> Config:
    """Read and validate the configuration file at ``path``."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("config", f"file not found: {path}") from None
    except OSError as exc:
        raise ConfigError("config", f"cannot read {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError("config", f"{path} is not valid TOML: {exc}") from None
    return parse_config(data, path.resolve().parent, path)


def parse_config(data: dict[str, Any], base_dir: Path, path: Path | None = None) -> Config:
    root = Table(data, "")
    imap_t, smtp_t = root.table("imap"), root.table("smtp")
    imap = imap_settings(imap_t, base_dir)
    smtp = smtp_settings(smtp_t, base_dir)
    for table in (imap_t, smtp_t):
        table.reject_unknown()
    config = Config(
        path=(path or base_dir / "inboxd.toml"),
        imap=imap,
        smtp=smtp,
        folders=folder_settings(root.table("folders", required=False), imap.inbox),
        faq=faq_settings(root.table("faq"), base_dir),
        store_path=_store(root.table("store", required=False), base_dir),
        deadlines=deadline_settings(root.table("deadlines", required=False)),
        policy=policy_settings(root.table("policy", required=False)),
        templates_dir=templates_path(root.table("templates", required=False), base_dir),
        notify=notify_settings(root.table("notify", required=False)),
        relay=relay_settings(root, smtp.sender),
        oauth2=_oauth2(root, base_dir, imap, smtp),
        alert=alert_settings(root.table("alert", required=False)),
        metrics=metrics_settings(root.table("metrics", required=False)),
        log=log_settings(root.table("log", required=False)),
        report=report_settings(root.table("report", required=False)),
        survey=survey_settings(root.table("survey", required=False)),
    )
    root.reject_unknown()
    return config


def _oauth2(root: Table, base: Path, *servers: ServerSettings) -> OAuthSettings | None:
    wanted = [name for name, s in zip(("imap", "smtp"), servers) if s.oauth2]
    if "oauth2" not in root.data:
        if wanted:
            raise ConfigError("oauth2", f'{wanted[0]}.auth is "oauth2", so the [oauth2] table '
                                        "(provider, client_id, ...) is required but missing")
        return None
    settings = oauth_settings(root.table("oauth2"), base)
    if not wanted:
        raise ConfigError("oauth2", 'is set but neither imap.auth nor smtp.auth is "oauth2"')
    users = {s.username.lower() for s in servers if s.oauth2}
    if len(users) > 1:
        raise ConfigError("smtp.username", "with both logins on OAuth2 it must be the mailbox "
                                           "of imap.username: one token serves both")
    return settings


def _store(t: Table, base: Path) -> Path:
    path = resolve_path(base, t.get("path", str, "inboxd.sqlite3"))
    t.reject_unknown()
    return path
