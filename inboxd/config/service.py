"""[metrics] and [log]: how a running inboxd is watched — its Prometheus endpoint and its log."""

from __future__ import annotations

from dataclasses import dataclass

from inboxd.config.table import Table
from inboxd.errors import ConfigError

LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True)
class MetricsSettings:
    """Where the Prometheus endpoint ``/metrics`` listens."""

    host: str
    port: int

    @property
    def listen(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class LogSettings:
    format: str = "text"  # "text" | "json": one JSON object per line on stderr
    level: str | None = None  # None: as the command line says (-v, -q), else info


def metrics_settings(t: Table) -> MetricsSettings | None:
    """None when ``[metrics]`` or its ``listen`` is absent: no endpoint."""
    listen = t.get("listen", str, None)
    t.reject_unknown()
    if listen is None:
        return None
    host, port = parse_listen(listen, t.key("listen"))
    return MetricsSettings(host, port)


def parse_listen(text: str, key: str) -> tuple[str, int]:
    """``"127.0.0.1:9464"``, ``"[::1]:9464"`` or ``":9464"`` (every address) -> (host, port)."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ConfigError(key, f'must be "host:port", e.g. "127.0.0.1:9464", got {text!r}')
    port = int(port_text)
    if not 0 < port < 65536:
        raise ConfigError(key, f"port must be between 1 and 65535, got {port}")
    host = host.removeprefix("[").removesuffix("]") or "0.0.0.0"
    if any(c.isspace() for c in host):
        raise ConfigError(key, f"not a host name or address: {host!r}")
    return host, port


def log_settings(t: Table) -> LogSettings:
    settings = LogSettings(format=t.get("format", str, "text", choices=LOG_FORMATS),
                           level=t.get("level", str, None, choices=LOG_LEVELS))
    t.reject_unknown()
    return settings
