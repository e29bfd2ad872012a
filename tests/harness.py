"""An inboxd installation for tests: config, FAQ and model in a folder, pointed at the real
Dovecot and SMTP servers of ``servers.py``; and a builder for customers' mails."""

from __future__ import annotations

import os
import subprocess
import sys
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, make_msgid
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from servers import Dovecot, SmtpServer

from inboxd.cli import main as inboxd_main

FAQ_TOML = """\
[[faq]]
id = "shipping-time"
team = "orders"
examples = [
  "How long does delivery take?", "When will my order arrive?",
  "How many days does shipping take?", "When does my parcel come?",
  "当我的订单什么时候到?", "发货需要多长时间?", "快递几天能到?",
  "Hur lång tid tar leveransen?", "När kommer min beställning fram?", "Hur många dagar tar frakten?",
  "¿Cuánto tarda el envío?", "¿Cuándo llegará mi pedido?", "¿Cuántos días tarda la entrega?",
]
answer.en = "Orders ship within 2 business days."
answer.zh = "订单在两个工作日内发货。"
answer.sv = "Beställningar skickas inom 2 arbetsdagar."
answer.es = "Los pedidos se envían en 2 días hábiles."

[[faq]]
id = "password-reset"
examples = [
  "I forgot my password", "How can I reset my password?", "I can't log in to my account",
  "我忘记密码了", "怎么重置密码?", "无法登录我的账户",
  "Jag har glömt mitt lösenord", "Hur återställer jag lösenordet?", "Jag kan inte logga in",
  "Olvidé mi contraseña", "¿Cómo restablezco mi contraseña?", "No puedo iniciar sesión",
]
answer.en = "Use Forgot password on the login page."
answer.zh = "请在登录页面点击忘记密码。"
answer.sv = "Använd Glömt lösenord på inloggningssidan."
answer.es = "Use Olvidé mi contraseña en la página de inicio de sesión."

[[faq]]
id = "returns"
team = "orders"
examples = [
  "How do I return an item?", "Can I send back my order?", "What is your return policy?",
  "我想退货怎么办?", "退货政策是什么?",
  "Hur returnerar jag en vara?", "Vad gäller för returer?",
  "¿Cómo devuelvo un artículo?", "¿Cuál es la política de devoluciones?",
]
answer.en = "You can return any item within 30 days."
answer.sv = "Du kan returnera alla varor inom 30 dagar."
"""


class Installation:
    """One inboxd setup in ``folder``: inboxd.toml, faq.toml, store and model."""

    def __init__(self, folder: Path, dovecot: Dovecot, smtp_server: SmtpServer,
                 **overrides: dict[str, Any]) -> None:
        self.dir = folder
        self.dovecot = dovecot
        self.smtp = smtp_server
        (folder / "faq.toml").write_text(FAQ_TOML, encoding="utf-8")
        self.config_path = folder / "inboxd.toml"
        self.config_path.write_text(self._toml(overrides), encoding="utf-8")

    def _toml(self, overrides: dict[str, dict[str, Any]]) -> str:
        d = self.dovecot
        tables: dict[str, dict[str, Any]] = {
            "imap": {"host": d.host, "port": d.imaps_port, "security": "tls",
                     "username": d.support, "password": d.password, "ca_file": str(d.ca_file),
                     "poll_interval_s": 1},
            "smtp": {"host": self.smtp.host, "port": self.smtp.port, "security": "none",
                     "username": "", "password": "", "from": f"Example Support <{d.support}>"},
            "faq": {"path": "faq.toml", "threshold": 0.5},
            "store": {"path": "inboxd.sqlite3"},
            "deadlines": {"timezone": "Europe/Stockholm", "business_hours": "09:00-17:00"},
            "policy": {"support_name": "Example Support"},
        }
        for table, values in overrides.items():
            tables.setdefault(table, {}).update(values)
        return "".join(f"[{name}]\n" + "".join(f"{k} = {_toml_value(v)}\n"
                                               for k, v in values.items() if v is not None)
                       + "\n" for name, values in tables.items())  # None: leave the key out

    def run(self, *args: str) -> int:
        """Run an inboxd command in this process."""
        return inboxd_main(["-c", str(self.config_path), *args])

    def run_process(self, *args: str, env: dict[str, str] | None = None,
                    timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
        """Run an inboxd command as its own process (for crash and signal tests)."""
        return subprocess.run([sys.executable, "-m", "inboxd", "-c", str(self.config_path), *args],
                              env={**os.environ, **(env or {})}, capture_output=True, text=True,
                              timeout=timeout_s)

    def folder_path(self, name: str) -> str:
        return str(self.dir / name)

    def train(self) -> None:
        assert self.run("train") == 0

    def start(self) -> Installation:
        """Train, then a first run on the empty inbox, so later mail counts as new."""
        self.train()
        assert self.run("once") == 0
        return self

    def send(self, raw: bytes) -> None:
        """A customer's mail arrives in the support inbox."""
        self.dovecot.deliver(self.dovecot.support, raw)

    def replies_to(self, user: str) -> list[EmailMessage]:
        return [parse(raw) for raw in self.dovecot.messages(user)]

    def folder(self, name: str, user: str | None = None) -> list[EmailMessage]:
        """The messages in a folder of the support mailbox; none if it does not exist."""
        return [parse(raw) for raw in self.raw_folder(name, user)]

    def raw_folder(self, name: str, user: str | None = None) -> list[bytes]:
        user = user or self.dovecot.support
        with self.dovecot.imap(user) as client:
            if not client.folder_exists(name):
                return []
        return self.dovecot.messages(user, name)



@contextmanager
def store_claimed_elsewhere(store_path: Path) -> Iterator[int]:
    """Another process holds the store's claim (as a running `inboxd run` does) until the
    block ends; yields that process's id."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from pathlib import Path; from inboxd.store import "
         "claim; c = claim(Path(sys.argv[1])); print('held', flush=True); sys.stdin.read()",
         str(store_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield holder.pid
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)


def offline_config(folder: Path, faq_toml: str, faq_keys: str) -> Path:
    """``faq.toml`` and an ``inboxd.toml`` in ``folder`` for commands that never reach a server
    (both point at the closed port 9 with a 1 s timeout); ``faq_keys`` go under ``[faq]``."""
    (folder / "faq.toml").write_text(faq_toml, encoding="utf-8")
    config = folder / "inboxd.toml"
    config.write_text(
        '[imap]\nhost = "127.0.0.1"\nport = 9\nsecurity = "none"\nusername = "u"\n'
        'password = "p"\ntimeout_s = 1\n'
        '[smtp]\nhost = "127.0.0.1"\nport = 9\nsecurity = "none"\nusername = ""\n'
        'password = ""\nfrom = "Support <support@example.test>"\ntimeout_s = 1\n'
        f'[faq]\npath = "faq.toml"\n{faq_keys}\n[store]\npath = "inboxd.sqlite3"\n',
        encoding="utf-8")
    return config

def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def parse(raw: bytes) -> EmailMessage:
    return BytesParser(policy=policy.default).parsebytes(raw)  # type: ignore[return-value]


def mail(sender: str, subject: str, body: str, *, name: str = "", message_id: str | None = None,
         headers: dict[str, str] | None = None, in_reply_to: str | None = None,
         to: str = "support@example.test") -> bytes:
    """A customer's message as bytes, the way a mail client writes it (an agent's reply with
    ``to`` the customer)."""
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>" if name else sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(timezone.utc))
    msg["Message-ID"] = message_id or make_msgid(domain="customer.example")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body)
    return bytes(msg)


def body_text(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()
