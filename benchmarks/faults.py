"""Fault suite: `inboxd run` killed with SIGKILL again and again, an IMAP server restart and an
SMTP outage, while a few hundred mails of every kind arrive. All on 127.0.0.1.

    .venv/bin/python benchmarks/faults.py [--seed 1] [--mails 300] [--kill-interval 1 5]
        [--duration-s 400] [--imap-down-s 10] [--smtp-down-s 45] [--settle-s 150] [--keep]

A private Dovecot (IMAP, LMTP) and an aiosmtpd relay that delivers into it are started as the
tests do (tests/servers.py, tests/harness.py); customers, a mailing list and a mailer daemon
each have a mailbox there, so whatever inboxd sends can be read back over IMAP. inboxd is
trained on inboxd/data/demo_faq.toml, then `inboxd run` is started as a subprocess.

For --duration-s seconds, --mails mails arrive over LMTP at an even pace (seeded): FAQ questions
and questions no FAQ covers in English, Chinese, Swedish and Spanish, follow-ups on earlier
tickets (replies to inboxd's answers), out-of-office replies (Auto-Submitted or X-Autoreply),
list mail (List-Id and/or Precedence: list) and bounces (multipart/report from MAILER-DAEMON).
Meanwhile the daemon is killed with SIGKILL a random time (drawn from --kill-interval) after it
logged that it watches the inbox, i.e. after its start-up, and started again at once. At 35 %
of the time Dovecot is killed and restarted after --imap-down-s (no mail arrives meanwhile); at
65 % the SMTP server is stopped for --smtp-down-s (mail keeps arriving). Kills pause from the start of each outage until the first reply after the server is
back (at most 90 s), so the recovery time is the daemon's own. Then the daemon runs undisturbed
until the inbox is empty and nothing is left to send (at most --settle-s) and is stopped.

The figures are read from the recipients' mailboxes and the support mailbox over IMAP, and from
inboxd's store. Writes benchmarks/results/faults.md (the newest run first, the earlier runs
kept below it) and prints the table. About 8 minutes with the defaults.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported, here and in the daemon: one core each

import argparse  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import smtplib  # noqa: E402
import sqlite3  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from email import policy  # noqa: E402
from email.parser import BytesParser  # noqa: E402
from email.utils import format_datetime  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from aiosmtpd.controller import Controller  # noqa: E402

from harness import Installation, mail  # noqa: E402
from servers import DOMAIN, Dovecot, SmtpServer  # noqa: E402

RESULT = ROOT / "benchmarks" / "results" / "faults.md"
DEMO_FAQ = ROOT / "inboxd" / "data" / "demo_faq.toml"
QUEUE, AUTOMATED = "Support/Queue", "Support/Automated"  # inboxd's default folders

CUSTOMERS = tuple(f"cust{i:02d}@{DOMAIN}" for i in range(40))
NEWS = f"news@{DOMAIN}"
MAILER_DAEMON = f"mailer-daemon@{DOMAIN}"
ROBOT_BOXES = (NEWS, MAILER_DAEMON)

QUESTION_KINDS = ("faq", "unknown")  # each expects exactly one reply
AUTOMATED_KINDS = ("out-of-office", "list", "bounce")  # never answered
MIX = (("faq", 0.40), ("unknown", 0.20), ("follow-up", 0.12), ("out-of-office", 0.10),
       ("list", 0.09), ("bounce", 0.09))
RECOVERY_CAP_S = 90.0  # kills pause at most this long after a server's return

FAQ_QUESTIONS = {
    "en": [("Delivery time", "Hi, I ordered a jacket {n} days ago. How long does delivery usually "
            "take?"), ("Order {order}", "When will my order {order} arrive?"),
           ("Returning shoes", "How do I return the shoes from order {order}? They don't fit."),
           ("Password", "I forgot my password and can't log in to my account."),
           ("Payment", "Which payment methods do you accept? Can I pay with PayPal?")],
    "zh": [("订单什么时候到", "你好，我的订单{order}什么时候能到？"), ("快递", "快递一般几天能到？"),
           ("退货", "我想退货，怎么办？"), ("密码", "我忘记密码了，无法登录我的账户。"),
           ("付款方式", "你们接受哪些付款方式？")],
    "sv": [("Leveranstid", "Hej! Hur lång tid tar leveransen till Göteborg?"),
           ("Beställning {order}", "När kommer min beställning {order} fram?"),
           ("Retur", "Hur returnerar jag en vara som inte passar?"),
           ("Lösenord", "Jag har glömt mitt lösenord, hur återställer jag det?"),
           ("Betalning", "Vilka betalsätt har ni? Kan jag betala med Swish?")],
    "es": [("Envío", "Hola, ¿cuánto tarda el envío a Sevilla?"),
           ("Pedido {order}", "¿Cuándo llegará mi pedido {order}?"),
           ("Devolución", "¿Cómo devuelvo un artículo del pedido {order}?"),
           ("Contraseña", "Olvidé mi contraseña, ¿cómo la restablezco?"),
           ("Pago", "¿Qué formas de pago aceptan?")],
}
UNKNOWN_QUESTIONS = {
    "en": [("Broken vase", "The ceramic vase from order {order} arrived with a large crack. Could "
            "you send a replacement?"), ("Charged twice", "I was charged twice for invoice "
            "{order}; please refund one of the charges."),
           ("Wholesale", "Do you offer wholesale prices for shops that buy {n} pieces or more?")],
    "zh": [("杯子坏了", "我收到的杯子是坏的，订单号{order}，可以换一个新的吗？"),
           ("发票地址", "发票上的公司地址写错了，能帮我改一下吗？")],
    "sv": [("Faktura {order}", "Fakturan {order} har fel belopp, kan ni skicka en ny?"),
           ("Trasig lampa", "Lampan jag köpte kom fram trasig, glaset är krossat.")],
    "es": [("Jarrón roto", "El jarrón del pedido {order} llegó roto. ¿Me pueden enviar otro?"),
           ("Factura", "Quiero hablar con alguien sobre el importe de mi factura {order}.")],
}
FOLLOW_UPS = ["Thanks, but that did not answer my question. Could a person look at it?",
              "谢谢，但是这没有解决我的问题，请人工帮我看一下。",
              "Tack, men det hjälpte inte. Kan någon titta på det?",
              "Gracias, pero eso no resuelve mi problema. ¿Puede revisarlo una persona?"]
NAMES = {"en": ["Emily Carter", "Tom Okafor"], "zh": ["王芳", "李伟"],
         "sv": ["Lars Berg", "Anna Svensson"], "es": ["Lucía Fernández", "Diego Ruiz"]}


# -- servers ----------------------------------------------------------------------------------


class FaultDovecot(Dovecot):
    """The test Dovecot with a mailbox for each customer, the list and the mailer daemon."""

    users = (*Dovecot.users, *CUSTOMERS, *ROBOT_BOXES)


@dataclass(frozen=True)
class Delivery:
    """One DATA the SMTP server answered: when, which message, accepted or not."""

    at: float  # time.monotonic()
    message_id: str
    recipients: tuple[str, ...]
    accepted: bool
    raw: bytes


class RecordingRelay:
    """The tests' relay handler, also recording when each message was accepted."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.deliveries: list[Delivery] = []

    def __getattr__(self, name: str) -> object:  # its other hooks (handle_MAIL, handle_RCPT)
        return getattr(self.inner, name)

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN
        reply = await self.inner.handle_DATA(server, session, envelope)
        raw = envelope.original_content or envelope.content
        headers = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
        self.deliveries.append(Delivery(time.monotonic(), str(headers.get("Message-ID", "")),
                                        tuple(envelope.rcpt_tos), reply.startswith("250"), raw))
        return reply


class RestartableSmtp(SmtpServer):
    """The tests' SMTP server; ``stop`` then ``start`` is an outage on the same port."""

    def __init__(self, dovecot: Dovecot) -> None:
        super().__init__(dovecot)
        self.relay = RecordingRelay(self.handler)

    def start(self) -> None:  # an aiosmtpd Controller cannot be started twice
        self._controller = Controller(self.relay, hostname=self.host, port=self.port)
        self._controller.start()

    def accepted(self) -> list[Delivery]:
        return [d for d in list(self.relay.deliveries) if d.accepted]


class Daemon:
    """`inboxd run` as a subprocess, its log appended to a file."""

    def __init__(self, setup: Installation, log_path: Path) -> None:
        self.setup, self.log_path = setup, log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = 0
        self.kills_at_work = 0  # of a daemon that had started watching
        self.unexpected_exits: list[int] = []
        self._log_offset = 0

    def start(self) -> None:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "inboxd", "-c", str(self.setup.config_path), "run"],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.kills += 1
        self.kills_at_work += self.watching()

    def watching(self) -> bool:
        """The current process has logged that it watches the inbox (its start-up is over)."""
        with open(self.log_path, "rb") as log:
            log.seek(self._log_offset)
            return b"inboxd watching" in log.read()

    def check(self) -> None:
        """Restart the daemon if it ended by itself (and note its exit code)."""
        if self.process is not None and self.process.poll() is not None:
            self.unexpected_exits.append(self.process.returncode)
            self.start()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            self.unexpected_exits.append(-9)


# -- the mails --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """A mail delivered to the support inbox."""

    kind: str
    message_id: str
    sender: str
    at: float  # time.time() when delivered


def plan(rng: random.Random, count: int) -> list[str]:
    """The kinds of ``count`` mails in arrival order; the first tenth are questions, so that
    follow-ups and robots' replies have something to refer to."""
    kinds = [kind for kind, share in MIX for _ in range(round(share * count))]
    kinds = (kinds + ["faq"] * count)[:count]
    rng.shuffle(kinds)
    head = max(1, count // 10)
    later = [k for k in kinds if k not in QUESTION_KINDS]
    questions = [k for k in kinds if k in QUESTION_KINDS]
    first, questions = questions[:head], questions[head:]
    rest = later + questions
    rng.shuffle(rest)
    return first + rest


class MailMaker:
    """Builds each mail when it is due, from what inboxd has sent so far."""

    def __init__(self, rng: random.Random, seed: int, smtp: RestartableSmtp) -> None:
        self.rng, self.seed, self.smtp = rng, seed, smtp
        self.sent: list[Sent] = []

    def make(self, index: int, kind: str) -> tuple[bytes, str, str]:
        """(raw, envelope sender, Message-ID) of mail number ``index``."""
        message_id = f"<fault-{self.seed}-{index}@customers.example>"
        if kind in QUESTION_KINDS:
            raw, sender = self._question(kind, message_id), None
        elif kind == "follow-up":
            raw, sender = self._follow_up(message_id), None
        elif kind == "out-of-office":
            raw, sender = self._out_of_office(index, message_id), None
        elif kind == "list":
            raw, sender = self._list(index, message_id), NEWS
        else:
            raw, sender = self._bounce(index, message_id), ""
        from_address = sender if sender is not None else _from_address(raw)
        return raw, from_address, message_id

    def _text(self, table: dict[str, list[tuple[str, str]]]) -> tuple[str, str, str]:
        language = self.rng.choice(sorted(table))
        subject, body = self.rng.choice(table[language])
        values = {"order": self.rng.randint(10000, 99999), "n": self.rng.randint(2, 12)}
        return language, subject.format(**values), body.format(**values)

    def _question(self, kind: str, message_id: str) -> bytes:
        language, subject, body = self._text(FAQ_QUESTIONS if kind == "faq" else UNKNOWN_QUESTIONS)
        name = self.rng.choice(NAMES[language])
        return mail(self.rng.choice(CUSTOMERS), subject, f"{body}\n\n{name}", name=name,
                    message_id=message_id)

    def _last_reply(self) -> tuple[str, str, str] | None:
        """(customer, Message-ID, Subject) of a recent reply of inboxd to a customer."""
        replies = [d for d in self.smtp.accepted()[-30:] if d.recipients and
                   d.recipients[0].lower() in CUSTOMERS]
        if not replies:
            return None
        chosen = self.rng.choice(replies)
        headers = BytesParser(policy=policy.default).parsebytes(chosen.raw, headersonly=True)
        return chosen.recipients[0].lower(), chosen.message_id, str(headers.get("Subject", ""))

    def _earlier_question(self) -> tuple[str, str, str]:
        asked = [s for s in self.sent if s.kind in QUESTION_KINDS]
        chosen = self.rng.choice(asked)
        return chosen.sender, chosen.message_id, "Re: my question"

    def _follow_up(self, message_id: str) -> bytes:
        customer, parent, subject = self._last_reply() or self._earlier_question()
        return mail(customer, subject if subject.lower().startswith("re:") else f"Re: {subject}",
                    self.rng.choice(FOLLOW_UPS), message_id=message_id, in_reply_to=parent)

    def _out_of_office(self, index: int, message_id: str) -> bytes:
        customer, parent, subject = self._last_reply() or self._earlier_question()
        marks = ({"Auto-Submitted": "auto-replied"} if index % 2 else {"X-Autoreply": "yes"})
        return mail(customer, f"Out of office: {subject}",
                    "I am out of the office until Monday with no access to e-mail.",
                    message_id=message_id, in_reply_to=parent, headers=marks)

    def _list(self, index: int, message_id: str) -> bytes:
        marks = [{"List-Id": "Shop news <news.example.test>",
                  "List-Unsubscribe": f"<mailto:{NEWS}?subject=unsubscribe>",
                  "Precedence": "list"},
                 {"List-Id": "Shop news <news.example.test>"},
                 {"Precedence": "list"}][index % 3]
        return mail(NEWS, f"Our newsletter, issue {index}",
                    "This week: new lamps, and how long does delivery take in winter?",
                    name="Shop News", message_id=message_id, headers=marks)

    def _bounce(self, index: int, message_id: str) -> bytes:
        reply = self._last_reply()
        original = reply[1] if reply else f"<gone-{index}@example.test>"
        date = format_datetime(datetime.now(timezone.utc))
        auto = "Auto-Submitted: auto-replied\r\n" if index % 2 else ""
        text = (f"From: Mail Delivery System <MAILER-DAEMON@{DOMAIN}>\r\n"
                f"To: support@{DOMAIN}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
                f"Date: {date}\r\nMessage-ID: {message_id}\r\n{auto}MIME-Version: 1.0\r\n"
                "Content-Type: multipart/report; report-type=delivery-status;\r\n"
                ' boundary="bounce-boundary"\r\n\r\n'
                "--bounce-boundary\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
                "This is the mail system at host mx.customers.example.\r\n\r\n"
                "I'm sorry to have to inform you that your message could not be delivered.\r\n"
                "How long does delivery take? It failed permanently.\r\n\r\n"
                "--bounce-boundary\r\nContent-Type: message/delivery-status\r\n\r\n"
                "Reporting-MTA: dns; mx.customers.example\r\n\r\n"
                f"Final-Recipient: rfc822; gone{index}@customers.example\r\nAction: failed\r\n"
                "Status: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\n"
                "--bounce-boundary\r\nContent-Type: text/rfc822-headers\r\n\r\n"
                f"From: Example Support <support@{DOMAIN}>\r\n"
                f"To: gone{index}@customers.example\r\nSubject: Re: Delivery time\r\n"
                f"Message-ID: {original}\r\n\r\n--bounce-boundary--\r\n")
        return text.encode("ascii")


def _from_address(raw: bytes) -> str:
    headers = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
    return headers["From"].addresses[0].addr_spec.lower()


class Arrivals(threading.Thread):
    """Delivers the planned mails over LMTP at an even pace; waits while Dovecot is down."""

    def __init__(self, dovecot: Dovecot, maker: MailMaker, kinds: list[str],
                 duration_s: float, rng: random.Random) -> None:
        super().__init__(daemon=True)
        self.dovecot, self.maker, self.kinds = dovecot, maker, kinds
        self.gap_s = duration_s / max(1, len(kinds))
        self.rng = rng
        self.lock = threading.Lock()  # held while delivering; an IMAP outage takes it
        self.failures = 0
        self.started_at = time.monotonic()

    def run(self) -> None:
        for index, kind in enumerate(self.kinds):
            due = self.started_at + (index + self.rng.random()) * self.gap_s
            time.sleep(max(0.0, due - time.monotonic()))
            with self.lock:
                raw, sender, message_id = self.maker.make(index, kind)
                self._deliver(raw, sender)
                self.maker.sent.append(Sent(kind, message_id, sender, time.time()))

    def _deliver(self, raw: bytes, sender: str) -> None:
        for _ in range(20):
            try:
                self.dovecot.deliver(self.dovecot.support, raw, mail_from=sender)
                return
            except (OSError, smtplib.SMTPException):
                self.failures += 1
                time.sleep(0.5)
        raise RuntimeError("Dovecot refused a delivery 20 times")


# -- the run ----------------------------------------------------------------------------------


@dataclass
class Outage:
    server: str  # "IMAP" or "SMTP"
    down_s: float
    went_at: float  # time.time() when the server went away
    back_at: float  # time.monotonic() when the server accepted connections again
    back_at_wall: float  # the same as time.time()


@dataclass
class RunLog:
    outages: list[Outage] = field(default_factory=list)
    settled_s: float | None = None  # None: the settle phase timed out
    started_at: float = field(default_factory=time.monotonic)


def run_faults(args: argparse.Namespace, dovecot: FaultDovecot, smtp: RestartableSmtp,
               setup: Installation, daemon: Daemon) -> tuple[list[Sent], RunLog]:
    rng = random.Random(args.seed)
    maker = MailMaker(random.Random(args.seed + 1), args.seed, smtp)
    arrivals = Arrivals(dovecot, maker, plan(rng, args.mails), args.duration_s,
                        random.Random(args.seed + 2))
    runlog = RunLog()
    pending = [(0.35 * args.duration_s, "IMAP", args.imap_down_s),
               (0.65 * args.duration_s, "SMTP", args.smtp_down_s)]
    daemon.start()
    arrivals.start()
    next_kill: float | None = None  # drawn once the daemon's start-up is over
    while arrivals.is_alive() or time.monotonic() - runlog.started_at < args.duration_s:
        now = time.monotonic()
        if pending and now - runlog.started_at >= pending[0][0]:
            _, server, down_s = pending.pop(0)
            runlog.outages.append(outage(server, down_s, dovecot, smtp, arrivals))
            next_kill = None
        if next_kill is None and daemon.watching():
            next_kill = time.monotonic() + rng.uniform(*args.kill_interval)
        if next_kill is not None and now >= next_kill and not recovering(runlog, smtp):
            daemon.kill()
            time.sleep(rng.uniform(0.0, 1.0))
            daemon.start()
            next_kill = None
        daemon.check()
        time.sleep(0.05)
    runlog.settled_s = settle(setup, daemon, args.settle_s)
    daemon.stop()
    return maker.sent, runlog


def outage(server: str, down_s: float, dovecot: Dovecot, smtp: RestartableSmtp,
           arrivals: Arrivals) -> Outage:
    """Take a server away for ``down_s`` seconds; while Dovecot is down no mail arrives."""
    went_at = time.time()
    if server == "IMAP":
        with arrivals.lock:
            dovecot.stop()
            time.sleep(down_s)
            dovecot.start()
    else:
        smtp.stop()
        time.sleep(down_s)
        smtp.start()
    return Outage(server, down_s, went_at, time.monotonic(), time.time())


def recovering(runlog: RunLog, smtp: RestartableSmtp) -> bool:
    """A server came back and no reply has gone out since (for at most RECOVERY_CAP_S)."""
    if not runlog.outages:
        return False
    back_at = runlog.outages[-1].back_at
    if time.monotonic() - back_at > RECOVERY_CAP_S:
        return False
    return not any(d.at > back_at for d in smtp.accepted())


def settle(setup: Installation, daemon: Daemon, limit_s: float) -> float | None:
    """Let the daemon work undisturbed until nothing is left to do; seconds taken, or None."""
    started = time.monotonic()
    quiet = 0
    while time.monotonic() - started < limit_s:
        daemon.check()
        quiet = quiet + 1 if idle(setup) else 0
        if quiet >= 3:
            return time.monotonic() - started
        time.sleep(1.0)
    return None


def idle(setup: Installation) -> bool:
    with setup.dovecot.imap(setup.dovecot.support) as client:
        waiting = client.select_folder("INBOX", readonly=True)[b"EXISTS"]
    with store(setup) as db:
        unsent = db.execute("select count(*) from outbox where state in ('pending', 'sending')")
        unmoved = db.execute("select count(*) from actions where state = 'pending'")
        return waiting == 0 and unsent.fetchone()[0] == 0 and unmoved.fetchone()[0] == 0


def store(setup: Installation) -> sqlite3.Connection:
    path = setup.dir / "inboxd.sqlite3"
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)


# -- the figures ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    mailbox: str
    message_id: str
    in_reply_to: str


def recipients_mail(dovecot: Dovecot) -> list[Received]:
    """Every message in the customers', the list's and the mailer daemon's inboxes."""
    found = []
    for user in (*CUSTOMERS, *ROBOT_BOXES):
        for raw in dovecot.messages(user):
            headers = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
            found.append(Received(user, str(headers.get("Message-ID", "")),
                                  str(headers.get("In-Reply-To", "")).strip()))
    return found


def support_folders(dovecot: Dovecot) -> dict[str, list[str]]:
    """Message-ID -> the support mailbox's folders holding it (once per copy)."""
    where: dict[str, list[str]] = defaultdict(list)
    with dovecot.imap(dovecot.support) as client:
        for flags, _, name in client.list_folders():
            if b"\\Noselect" in flags:
                continue
            client.select_folder(name, readonly=True)
            uids = client.search("ALL")
            wanted = b"BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"
            for data in (client.fetch(uids, [wanted]) if uids else {}).values():
                header = BytesParser(policy=policy.default).parsebytes(
                    data[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"], headersonly=True)
                where[str(header.get("Message-ID", "")).strip()].append(name)
    return where


@dataclass
class Figures:
    rows: list[tuple[str, str, str]]
    notes: list[str]


def figures(sent: list[Sent], runlog: RunLog, dovecot: Dovecot, smtp: RestartableSmtp,
            setup: Installation, daemon: Daemon, args: argparse.Namespace) -> Figures:
    received = recipients_mail(dovecot)
    folders = support_folders(dovecot)
    with store(setup) as db:
        inbound = {r[0]: (r[1], r[2]) for r in db.execute(
            "select message_id, ticket_id, decision from messages where direction = 'in'")}
        outbox = db.execute("select ticket_id, kind, state, message_id from outbox").fetchall()
        moves = db.execute("select m.message_id, a.created_at, a.done_at from actions a join "
                           "messages m on m.id = a.message_row where a.kind = 'move'").fetchall()
    triaged = {r[0]: datetime.fromisoformat(r[1]).timestamp() for r in moves}
    filed = {r[0]: datetime.fromisoformat(r[2]).timestamp() for r in moves if r[2]}
    replies = Counter(r.in_reply_to for r in received)
    by_kind = Counter(s.kind for s in sent)
    questions = [s for s in sent if s.kind in QUESTION_KINDS]
    counts = [replies[q.message_id] for q in questions]
    states = defaultdict(set)
    for ticket_id, kind, state, _ in outbox:
        if kind in ("answer", "acknowledgement"):
            states[ticket_id].add(state)
    missing = [q for q, n in zip(questions, counts) if n == 0]
    why = Counter(_why_missing(q, inbound, states) for q in missing)
    robots = {s.message_id for s in sent if s.kind in AUTOMATED_KINDS}
    to_robots = sum(1 for r in received if r.in_reply_to in robots or r.mailbox in ROBOT_BOXES)
    follow_ups = {s.message_id for s in sent if s.kind == "follow-up"}
    lost = [s for s in sent if s.message_id not in folders and s.message_id not in inbound]
    filed_twice = sum(1 for s in sent if len(folders.get(s.message_id, [])) > 1)
    in_inbox = sum(1 for s in sent if "INBOX" in folders.get(s.message_id, []))
    robots_queued = sum(1 for s in sent if s.message_id in robots and
                        any(f.startswith(QUEUE) for f in folders.get(s.message_id, [])))
    uncertain = sum(1 for row in outbox if row[2] == "uncertain")
    arrived = {r.message_id for r in received}
    uncertain_arrived = sum(1 for row in outbox if row[2] == "uncertain" and row[3] in arrived)
    failed = sum(1 for row in outbox if row[2] == "failed")
    accepted = Counter(d.message_id for d in smtp.accepted())
    decisions = Counter(inbound.get(q.message_id, (None, "not in the store"))[1]
                        for q in questions)
    per_100 = 100 * uncertain / daemon.kills if daemon.kills else 0.0
    rows = [
        ("mails delivered", f"{len(sent)} ({', '.join(f'{k} {by_kind[k]}' for k, _ in MIX)})", ""),
        ("questions (FAQ and unknown)", str(len(questions)), ""),
        ("replied exactly once", str(sum(1 for n in counts if n == 1)), "all but uncertain"),
        ("missing replies", f"{len(missing)} (explained by an uncertain send: "
         f"{why['uncertain']})", "all explained"),
        ("duplicate replies (extra copies)", str(sum(n - 1 for n in counts if n > 1)), "0"),
        ("replies to automated mail", str(to_robots), "0"),
        ("replies to follow-ups", str(sum(replies[m] for m in follow_ups)), "0"),
        ("messages lost (in no folder and no ticket)", str(len(lost)), "0"),
        ("messages left in the inbox", str(in_inbox), "0"),
        ("messages filed in two folders", str(filed_twice), "0"),
        ("automated mail in a queue folder", str(robots_queued), "0"),
        ("mails the SMTP server accepted twice", str(sum(1 for n in accepted.values() if n > 1)),
         "0"),
        ("kills (SIGKILL)", f"{daemon.kills} ({daemon.kills_at_work} after the daemon had "
         "started watching)", ""),
        ("uncertain sends", f"{uncertain} ({per_100:.1f} per 100 kills; {uncertain_arrived} of "
         "them arrived)", "< 3 per 100 kills"),
        ("refused sends", str(failed), "0"),
    ]
    rows += [_recovery_row(o, smtp) for o in runlog.outages]
    rows += [_done_during(o, sent, triaged, "triaged (ticket or record committed)")
             for o in runlog.outages if o.server == "SMTP"]
    rows += [_done_during(o, sent, filed, "filed (moved out of the inbox)")
             for o in runlog.outages if o.server == "SMTP"]
    rows.append(("settled after the faults", f"{runlog.settled_s:.0f} s" if runlog.settled_s
                 is not None else f"not within {args.settle_s:.0f} s", ""))
    notes = [f"Decisions on the questions: {_counted(decisions)}."]
    if missing:
        notes.append(f"Missing replies by the state of their outbox row: {_counted(why)}.")
    if lost:
        notes.append("Lost: " + ", ".join(f"{s.kind} {s.message_id}" for s in lost[:10]) + ".")
    notes.append(_log_note(daemon))
    return Figures(rows, notes)


def _why_missing(q: Sent, inbound: dict[str, tuple[int | None, str]],
                 states: dict[int | None, set[str]]) -> str:
    if q.message_id not in inbound:
        return "not in the store"
    ticket_id, decision = inbound[q.message_id]
    found = states.get(ticket_id)
    if not found:
        return f"no reply queued ({decision})"
    for state in ("uncertain", "failed", "pending", "sending"):
        if state in found:
            return state
    return "sent but not delivered"


def _recovery_row(o: Outage, smtp: RestartableSmtp) -> tuple[str, str, str]:
    after = [d.at for d in smtp.accepted() if d.at > o.back_at]
    took = f"{min(after) - o.back_at:.1f} s" if after else "no reply after it"
    goal = "< 15 s" if o.server == "SMTP" else ""
    return (f"{o.server} down {o.down_s:.0f} s: return -> first reply sent", took, goal)


def _done_during(o: Outage, sent: list[Sent], done_at: dict[str, float],
                 what: str) -> tuple[str, str, str]:
    """How many of the mails that arrived while SMTP was down had ``done_at`` before its end."""
    arrived = [s for s in sent if o.went_at <= s.at < o.back_at_wall]
    done = sum(1 for s in arrived if done_at.get(s.message_id, float("inf")) < o.back_at_wall)
    goal = "all" if what.startswith("triaged") else "all but FAQ-answered (held until sent)"
    return (f"mail arrived during the SMTP outage, {what} before its end", f"{done} of "
            f"{len(arrived)}", goal)


def _counted(counter: Counter[str]) -> str:
    return ", ".join(f"{key} {n}" for key, n in counter.most_common())


def _log_note(daemon: Daemon) -> str:
    text = daemon.log_path.read_text(errors="replace")
    tracebacks = text.count("Traceback")
    exits = f"; it ended by itself {len(daemon.unexpected_exits)} time(s) " \
            f"(exit codes {daemon.unexpected_exits})" if daemon.unexpected_exits else ""
    return (f"Daemon log: {text.count(' WARNING ')} warnings, {text.count(' ERROR ')} errors, "
            f"{tracebacks} tracebacks{exits}.")


# -- report -----------------------------------------------------------------------------------


def measured_commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    dirty = " with uncommitted changes" if git("status", "--porcelain", "inboxd") else ""
    code = git("log", "-1", "--format=%h %s", "--", "inboxd")
    return f"inboxd/ as of `{code}`{dirty} (checkout {git('rev-parse', '--short', 'HEAD')})"


def write_report(fig: Figures, args: argparse.Namespace, took_s: float) -> str:
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"## {measured_commit()}", "",
             f"{started}; seed {args.seed}, {args.mails} mails over {args.duration_s:.0f} s, "
             f"kill interval {args.kill_interval[0]:g}-{args.kill_interval[1]:g} s, "
             f"run took {took_s / 60:.1f} min.", "",
             "| figure | value | goal |", "| --- | --- | --- |",
             *(f"| {a} | {b} | {c} |" for a, b, c in fig.rows), "", *fig.notes, ""]
    section = "\n".join(lines)
    earlier = ""
    out: Path = args.out
    if out.exists():
        old = out.read_text()
        start = old.find("\n## ")
        earlier = old[start + 1:] if start >= 0 else ""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("# Fault suite: SIGKILL, IMAP restart, SMTP outage (127.0.0.1)\n\n"
                      "Newest run first. `benchmarks/faults.py`; see benchmarks/README.md.\n\n"
                      + section + ("\n" + earlier if earlier else ""))
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mails", type=int, default=300)
    parser.add_argument("--kill-interval", type=float, nargs=2, default=(1.0, 5.0),
                        metavar=("MIN_S", "MAX_S"),
                        help="seconds from the daemon's start-up being over to its kill, uniform")
    parser.add_argument("--duration-s", type=float, default=400.0, help="how long mail arrives")
    parser.add_argument("--imap-down-s", type=float, default=10.0)
    parser.add_argument("--smtp-down-s", type=float, default=45.0)
    parser.add_argument("--settle-s", type=float, default=150.0)
    parser.add_argument("--keep", action="store_true", help="keep the run's folder and log")
    parser.add_argument("--out", type=Path, default=RESULT, help="the results file")
    args = parser.parse_args()
    started = time.monotonic()
    dovecot = FaultDovecot()
    dovecot.start()
    smtp = RestartableSmtp(dovecot)
    smtp.start()
    folder = Path(tempfile.mkdtemp(prefix="inboxd-faults-"))
    daemon = None
    try:
        setup = Installation(folder, dovecot, smtp, imap={"poll_interval_s": 5},
                             policy={"auto_replies_per_sender_per_day": 1000})
        shutil.copy(DEMO_FAQ, folder / "faq.toml")
        setup.start()
        daemon = Daemon(setup, folder / "daemon.log")
        sent, runlog = run_faults(args, dovecot, smtp, setup, daemon)
        fig = figures(sent, runlog, dovecot, smtp, setup, daemon, args)
    finally:
        if daemon is not None:
            daemon.stop()
        smtp.stop()
        dovecot.cleanup()
        if args.keep:
            print(f"run folder kept: {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    print(write_report(fig, args, time.monotonic() - started))


if __name__ == "__main__":
    main()
