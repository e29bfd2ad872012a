"""Real mail servers on 127.0.0.1 for the test suite: a private Dovecot 2.3 and an aiosmtpd relay.

``Dovecot`` runs IMAP (plain, STARTTLS-capable), IMAPS (implicit TLS, test CA from trustme) and
LMTP on free loopback ports. ``SmtpServer`` accepts mail with aiosmtpd, records every envelope and
delivers it to the Dovecot mailbox of each local recipient over LMTP before replying 250.
"""

from __future__ import annotations

import asyncio
import base64
import grp
import pwd
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import trustme
from aiosmtpd.controller import Controller
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from inboxd.config import ImapSettings, Secret, SmtpSettings

DOVECOT_BINARY = "/usr/sbin/dovecot"
DOMAIN = "example.test"
PASSWORD = "secret"
MAIL_UID = 65534  # `nobody`: Dovecot refuses uid 0 for mail when started as root
START_TIMEOUT_S = 15.0

_CONFIG = """\
instance_name = {instance}
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
info_log_path = {dir}/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
{users_line}
first_valid_uid = 1
ssl = yes
ssl_cert = <{dir}/cert.pem
ssl_key = <{dir}/key.pem
auth_mechanisms = plain login xoauth2 oauthbearer
disable_plaintext_auth = no
auth_failure_delay = 0
auth_verbose = yes
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {dir}/dovecot-oauth2.conf.ext
}}
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%Lu {dir}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%Lu {dir}/users
  default_fields = uid={uid} gid={gid} home={dir}/mail/%Ld/%Ln
}}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = {separator}
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
}}
service imap-login {{
  {chroot}
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0666
  }}
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp_port}
  }}
}}
service anvil {{
  {chroot}
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
protocol lmtp {{
  postmaster_address = postmaster@{domain}
}}
"""


def _pids_working_in(folder: Path) -> list[int]:
    """Live processes whose working directory lies under ``folder`` (zombies have none)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:  # gone, a zombie, or not ours to see
            continue
        if cwd == str(folder) or cwd.startswith(f"{folder}/"):
            found.append(int(entry.name))
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _greets(port: int, banner: bytes) -> bool:
    """The server on ``port`` answers a new connection with ``banner`` (its login process is up,
    not only the listening socket)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as conn:
            return conn.recv(64).startswith(banner)
    except OSError:
        return False


class Dovecot:
    """A private Dovecot instance in its own temporary folder."""

    users = (f"support@{DOMAIN}", f"customer@{DOMAIN}", f"customer2@{DOMAIN}", f"agent@{DOMAIN}")
    support, customer, customer2, agent = users
    password = PASSWORD
    host = "127.0.0.1"

    def __init__(self, separator: str = "/") -> None:
        self.separator = separator  # the folder hierarchy separator the server uses
        self.dir = Path(tempfile.mkdtemp(prefix="inboxd-dovecot-"))
        self.dir.chmod(0o755)  # Dovecot's unprivileged processes must traverse it
        self.imap_port, self.imaps_port, self.lmtp_port = free_port(), free_port(), free_port()
        self.ca_file = self.dir / "ca.pem"
        self._process: subprocess.Popen[bytes] | None = None
        self._write_files()

    def _write_files(self) -> None:
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        ca.cert_pem.write_to_path(str(self.ca_file))
        cert.private_key_pem.write_to_path(str(self.dir / "key.pem"))
        (self.dir / "cert.pem").write_bytes(b"".join(p.bytes() for p in cert.cert_chain_pems))
        self._write_oauth2_files()
        (self.dir / "users").write_text("".join(f"{u}:{{PLAIN}}{PASSWORD}::::::\n"
                                                for u in self.users))
        as_root = os.geteuid() == 0
        uid, gid = (MAIL_UID, MAIL_UID) if as_root else (os.getuid(), os.getgid())
        mail = self.dir / "mail"
        mail.mkdir(mode=0o755)
        if as_root:
            os.chown(mail, uid, gid)
        me, my_group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
        (self.dir / "dovecot.conf").write_text(_CONFIG.format(separator=self.separator,
            instance=self.dir.name, dir=self.dir, uid=uid, gid=gid, domain=DOMAIN,
            imap_port=self.imap_port, imaps_port=self.imaps_port, lmtp_port=self.lmtp_port,
            chroot="" if as_root else "chroot =",
            users_line="" if as_root else
            f"default_internal_user = {me}\ndefault_internal_group = {my_group}\n"
            f"default_login_user = {me}"))

    def _write_oauth2_files(self) -> None:
        """The ``oauth2`` passdb: access tokens are JWTs (HS256, ``email`` = the user) checked
        locally with ``oauth2_key``, no HTTP call."""
        self.oauth2_key = os.urandom(32)
        keys = self.dir / "oauth2-keys" / "default" / "HS256"
        keys.mkdir(parents=True)
        for folder in (keys, keys.parent, keys.parent.parent):
            folder.chmod(0o755)
        (keys / "default").write_text(base64.b64encode(self.oauth2_key).decode() + "\n")
        (self.dir / "dovecot-oauth2.conf.ext").write_text(
            f"introspection_mode = local\n"
            f"local_validation_key_dict = fs:posix:prefix={self.dir}/oauth2-keys/\n"
            f"username_attribute = email\n")

    def start(self) -> None:
        """Start Dovecot and wait until its ports accept connections."""
        shutil.rmtree(self.dir / "run", ignore_errors=True)  # stale master.pid and sockets
        log = open(self.dir / "stderr.log", "ab")
        self._process = subprocess.Popen(
            [DOVECOT_BINARY, "-F", "-c", str(self.dir / "dovecot.conf")],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        ports = (self.imap_port, self.imaps_port, self.lmtp_port)
        while not (all(_port_open(p) for p in ports) and _greets(self.imap_port, b"* OK")):
            assert self._process is not None
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Dovecot did not start:\n{self.log()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Kill the whole process group at once (a clean SIGTERM stop takes seconds)."""
        if self._process is None:
            return
        try:
            os.killpg(self._process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._process.wait()
        self._process = None
        self._kill_strays()
        for lock in (self.dir / "mail").rglob("dovecot*.lock"):  # left by a killed process:
            lock.unlink(missing_ok=True)  # the next server would wait minutes for it

    def _kill_strays(self) -> None:
        """Kill any process of this server that outlived its group (one working in a mailbox
        here), so that none holds a lock the next server waits for."""
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            strays = [pid for pid in _pids_working_in(self.dir) if pid != os.getpid()]
            if not strays:
                return
            for pid in strays:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self) -> str:
        parts = [p.read_text(errors="replace") for p in (self.dir / "stderr.log",
                                                         self.dir / "dovecot.log") if p.exists()]
        return "\n".join(parts)[-4000:]

    # -- helpers for tests -------------------------------------------------------------------

    def imap_settings(self, user: str | None = None, *, security: str = "tls",
                      ca: bool = True, password: str = PASSWORD,
                      timeout_s: float = 10.0) -> ImapSettings:
        """inboxd settings for ``user`` (default: the support mailbox)."""
        port = self.imaps_port if security == "tls" else self.imap_port
        return ImapSettings(host=self.host, port=port, security=security,
                            username=user or self.support, password=Secret(password),
                            ca_file=self.ca_file if ca else None, timeout_s=timeout_s)

    def deliver(self, user: str, raw: bytes, mail_from: str = f"sender@{DOMAIN}") -> None:
        """Deliver ``raw`` into ``user``'s INBOX over LMTP."""
        with smtplib.LMTP(self.host, self.lmtp_port, timeout=10) as lmtp:
            lmtp.sendmail(mail_from, [user], raw)

    def imap(self, user: str) -> IMAPClient:
        """A logged-in IMAP client on the plain port; the caller logs out."""
        client = IMAPClient(self.host, port=self.imap_port, ssl=False, timeout=10)
        client.login(user, PASSWORD)
        return client

    def messages(self, user: str, folder: str = "INBOX") -> list[bytes]:
        """The raw messages in ``folder``, in UID order, without setting \\Seen."""
        with self.imap(user) as client:
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            fetched = client.fetch(uids, [b"BODY.PEEK[]"]) if uids else {}
            return [fetched[uid][b"BODY[]"] for uid in sorted(fetched)]

    def flags(self, user: str, folder: str = "INBOX") -> list[tuple[bytes, ...]]:
        """The flags of each message in ``folder``, in UID order, leaving out \\Recent."""
        with self.imap(user) as client:
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            fetched = client.get_flags(uids) if uids else {}
            return [tuple(f for f in fetched[uid] if f != b"\\Recent")
                    for uid in sorted(fetched)]

    def reset(self, user: str) -> None:
        """Delete every message and every folder of ``user`` except INBOX and special-use ones."""
        with self.imap(user) as client:
            folders = client.list_folders()
            keep = {name for flags, _, name in folders
                    if name.upper() == "INBOX" or set(flags) & {b"\\Sent", b"\\Drafts", b"\\Trash"}}
            for name in sorted((f[2] for f in folders if f[2] not in keep),
                               key=lambda n: -n.count("/")):
                try:
                    client.delete_folder(name)
                except IMAPClientError:  # a \Noselect parent vanishes with its last child
                    pass
            for _, _, name in client.list_sub_folders():
                if name not in keep:
                    client.unsubscribe_folder(name)
            for name in keep:
                client.select_folder(name)
                uids = client.search("ALL")
                if uids:
                    client.delete_messages(uids)
                    client.uid_expunge(uids)
                client.close_folder()

    def reset_all(self) -> None:
        """Reset every user whose maildir shows messages, folders or subscriptions."""
        for user in self.users:
            if self._touched(user):
                self.reset(user)
                if self._touched(user):
                    raise RuntimeError(f"could not empty the mailbox of {user}")

    def _touched(self, user: str) -> bool:
        local, domain = user.lower().split("@")
        maildir = self.dir / "mail" / domain / local / "Maildir"
        if not maildir.is_dir():
            return False
        folders = [p for p in maildir.iterdir() if p.name.startswith(".") and p.is_dir()]
        if {p.name for p in folders} - {".Sent", ".Drafts", ".Trash"}:
            return True
        if any(any((folder / part).iterdir()) for folder in [maildir, *folders]
               for part in ("cur", "new") if (folder / part).is_dir()):
            return True
        subscriptions = maildir / "subscriptions"
        if not subscriptions.is_file():
            return False
        names = subscriptions.read_text().split("\n")[2:]  # after a "V\t2" line and a blank one
        return bool({n for n in names if n.strip()} - {"INBOX", "Sent", "Drafts", "Trash"})


@dataclass(frozen=True)
class Envelope:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes


FAULTS = ("drop-at-mail", "drop-at-rcpt", "slow-rcpt", "drop-after-data", "slow-data",
          "refuse-data")


class _RelayHandler:
    """aiosmtpd handler: refuse listed recipients, record the rest, deliver local ones by LMTP.

    ``fault`` plays a server in trouble: it drops the connection at MAIL FROM or RCPT TO
    (nothing taken) or answers RCPT TO only after ``delay_s`` (``slow-rcpt``), delivers the message and then drops the connection without answering
    (``drop-after-data``) or answers only after ``delay_s`` (``slow-data``), or refuses the
    data with a 5xx (``refuse-data``)."""

    def __init__(self, dovecot: Dovecot) -> None:
        self.dovecot = dovecot
        self.received: list[Envelope] = []
        self.refusals: dict[str, str] = {}  # lower-cased address -> SMTP reply, e.g. "550 ..."
        self.fault: str | None = None
        self.delay_s = 0.0
        self.rcpt_seen = 0  # RCPT TO commands received

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: ANN
        if self.fault == "drop-at-mail":
            server.transport.abort()
            return "421 4.3.0 going away"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN
        self.rcpt_seen += 1
        if self.fault == "drop-at-rcpt":
            server.transport.abort()
            return "421 4.3.0 going away"
        if self.fault == "slow-rcpt":
            await asyncio.sleep(self.delay_s)
        refusal = self.refusals.get(address.lower())
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN
        if self.fault == "refuse-data":
            return "554 5.6.0 Message content rejected"
        raw = envelope.original_content or envelope.content
        self.received.append(Envelope(envelope.mail_from, tuple(envelope.rcpt_tos), raw))
        local = [r for r in envelope.rcpt_tos if r.lower() in self.dovecot.users]
        if local:
            try:
                with smtplib.LMTP(self.dovecot.host, self.dovecot.lmtp_port, timeout=10) as lmtp:
                    lmtp.sendmail(envelope.mail_from, local, raw)
            except (OSError, smtplib.SMTPException) as exc:
                return f"451 4.3.0 local delivery failed: {exc}"
        if self.fault == "drop-after-data":
            server.transport.abort()
        elif self.fault == "slow-data":
            await asyncio.sleep(self.delay_s)
        return "250 2.0.0 Message accepted"


class SmtpServer:
    """A plain SMTP server (no TLS, no AUTH) on a free loopback port, relaying to Dovecot."""

    host = "127.0.0.1"

    def __init__(self, dovecot: Dovecot) -> None:
        self.port = free_port()
        self.handler = _RelayHandler(dovecot)
        self._controller: Controller | None = None

    @property
    def received(self) -> list[Envelope]:
        return self.handler.received

    def refuse(self, address: str, reply: str = "550 5.1.1 No such user") -> None:
        """Answer RCPT TO ``address`` with ``reply`` until ``reset`` is called."""
        self.handler.refusals[address.lower()] = reply

    def fail(self, fault: str | None, delay_s: float = 0.0) -> None:
        """Play the server in trouble (one of ``FAULTS``) until ``reset``; None: work again."""
        assert fault is None or fault in FAULTS, fault
        self.handler.fault, self.handler.delay_s = fault, delay_s

    def reset(self) -> None:
        self.handler.received.clear()
        self.handler.refusals.clear()
        self.handler.rcpt_seen = 0
        self.fail(None)
        if self._controller is None:
            self.start()  # a test stopped it

    def settings(self, sender: str = f"Example Support <support@{DOMAIN}>",
                 timeout_s: float = 10.0) -> SmtpSettings:
        """inboxd settings for this server: security "none", no login."""
        return SmtpSettings(host=self.host, port=self.port, security="none", username="",
                            password=Secret(""), ca_file=None, timeout_s=timeout_s,
                            sender=sender)

    def start(self) -> None:
        """Listen on the server's port; again after ``stop`` (an outage), on the same port."""
        self._controller = Controller(self.handler, hostname=self.host, port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


class _AuthRelayHandler(_RelayHandler):
    """The relay with AUTH: XOAUTH2 with a JWT that Dovecot's key signed, or PLAIN/LOGIN with
    the test password; ``refusal`` answers every AUTH with that reply (``535 5.7.30 ...``)."""

    def __init__(self, dovecot: Dovecot) -> None:
        super().__init__(dovecot)
        self.logins: list[tuple[str, str]] = []  # (mechanism, user) of each accepted AUTH
        self.refused_logins = 0

    async def auth_XOAUTH2(self, server, args):  # noqa: ANN, N802
        from aiosmtpd.smtp import AuthResult

        import jwt

        if len(args) > 1:
            decoded = base64.b64decode(args[1]).decode()
        else:
            decoded = (await server.challenge_auth("")).decode()
        fields = dict(p.split("=", 1) for p in decoded.split("\x01") if "=" in p)
        user, token = fields.get("user", ""), fields.get("auth", "").removeprefix("Bearer ")
        try:
            claims = jwt.decode(token, self.dovecot.oauth2_key, algorithms=["HS256"],
                                options={"verify_aud": False})
            ok = claims.get("email", "").lower() == user.lower()
        except jwt.PyJWTError:
            ok = False
        if ok:
            self.logins.append(("XOAUTH2", user))
            return AuthResult(success=True, auth_data=user)
        self.refused_logins += 1
        await server.challenge_auth(
            '{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}')
        return AuthResult(success=False, handled=False,
                          message="535 5.7.8 Username and Password not accepted")


def _password_check(handler: _AuthRelayHandler):  # noqa: ANN
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def authenticator(server, session, envelope, mechanism, auth_data):  # noqa: ANN
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == PASSWORD.encode() \
            and auth_data.login.decode().lower() in handler.dovecot.users
        if ok:
            handler.logins.append((mechanism, auth_data.login.decode()))
        else:
            handler.refused_logins += 1
        return AuthResult(success=ok)

    return authenticator


class AuthSmtpServer(SmtpServer):
    """The relay, but mail only after AUTH (XOAUTH2, PLAIN or LOGIN), on plain loopback."""

    def __init__(self, dovecot: Dovecot) -> None:
        super().__init__(dovecot)
        self.handler = _AuthRelayHandler(dovecot)

    @property
    def logins(self) -> list[tuple[str, str]]:
        return self.handler.logins

    def reset(self) -> None:
        self.handler.logins.clear()
        self.handler.refused_logins = 0
        super().reset()

    def start(self) -> None:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Requiring AUTH while not requiring TLS"
            self._controller = Controller(
                self.handler, hostname=self.host, port=self.port, auth_required=True,
                auth_require_tls=False, authenticator=_password_check(self.handler))
            self._controller.start()
