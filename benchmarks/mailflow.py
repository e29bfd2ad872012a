"""Mail-flow figures against a real Dovecot and SMTP server on 127.0.0.1.

    .venv/bin/python benchmarks/mailflow.py [--backlog 1000] [--latency-rounds 60]

1. Latency: `inboxd run` (IMAP IDLE) is started; a customer question is delivered over LMTP and
   the time until the auto-reply reaches the SMTP server is measured, several times.
2. Throughput: a backlog of N customer mails (half FAQ questions, half others) is delivered,
   then one `inboxd once` handles all of them; messages per second over that run.

Needs Dovecot (`bash tests/run.sh` installs it). Writes benchmarks/results/mailflow.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from harness import Installation, mail  # noqa: E402
from servers import Dovecot, SmtpServer  # noqa: E402

QUESTIONS = ["How long does delivery take?", "My lamp arrived with a cracked shade.",
             "Hur lång tid tar leveransen?", "Quiero hablar con alguien sobre mi factura."]


def wait_until(predicate, timeout_s: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.002)
    return False


def measure_latency(setup: Installation, smtp: SmtpServer, rounds: int) -> list[float]:
    process = subprocess.Popen([sys.executable, "-m", "inboxd", "-q", "-c",
                                str(setup.config_path), "run"])
    latencies = []
    try:
        time.sleep(1.5)
        warm_up = len(smtp.received)  # the daemon's start-up (imports, model, encoder) not timed
        setup.send(mail("warm-up@customers.example", "Delivery", "How long does delivery take?"))
        if not wait_until(lambda: len(smtp.received) > warm_up, 60):
            raise RuntimeError("no reply to the warm-up mail")
        time.sleep(0.3)
        for i in range(rounds):
            before = len(smtp.received)
            started = time.perf_counter()
            setup.send(mail(f"latency{i}@customers.example", f"Delivery {i}",
                            "How long does delivery take?"))
            if not wait_until(lambda: len(smtp.received) > before, 30):
                raise RuntimeError(f"no reply in round {i}")
            latencies.append(time.perf_counter() - started)
            time.sleep(0.3)
    finally:
        process.terminate()
        process.wait(timeout=15)
    return latencies


def measure_backlog(setup: Installation, count: int) -> float:
    for i in range(count):
        setup.send(mail(f"customer{i}@customers.example", f"Question {i}",
                        QUESTIONS[i % len(QUESTIONS)]))
    started = time.perf_counter()
    result = setup.run_process("-q", "once", timeout_s=3600)
    took_s = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(result.stderr)
    return took_s


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backlog", type=int, default=1000)
    parser.add_argument("--latency-rounds", type=int, default=60)
    args = parser.parse_args()
    dovecot = Dovecot()
    dovecot.start()
    smtp = SmtpServer(dovecot)
    smtp.start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            setup = Installation(Path(folder), dovecot, smtp).start()
            latencies = measure_latency(setup, smtp, args.latency_rounds)
        dovecot.reset_all()
        with tempfile.TemporaryDirectory() as folder:
            setup = Installation(Path(folder), dovecot, smtp).start()
            took_s = measure_backlog(setup, args.backlog)
    finally:
        smtp.stop()
        dovecot.cleanup()
    write_report(latencies, args.backlog, took_s)


def write_report(latencies: list[float], count: int, took_s: float) -> None:
    ms = sorted(x * 1000 for x in latencies)
    lines = ["| figure | value |", "| --- | --- |",
             f"| delivery -> auto-reply with IDLE, median of {len(ms)} | {statistics.median(ms):.0f} ms |",
             f"| delivery -> auto-reply with IDLE, p95 | "
             f"{statistics.quantiles(ms, n=20)[-1]:.0f} ms |",
             f"| delivery -> auto-reply with IDLE, worst | {ms[-1]:.0f} ms |",
             f"| every round, sorted (ms) | {', '.join(f'{m:.0f}' for m in ms)} |",
             f"| `inboxd once` over a backlog of {count} mails | {took_s:.1f} s |",
             f"| throughput | {count / took_s:.1f} messages/s |"]
    report = "\n".join(lines) + "\n"
    out = ROOT / "benchmarks" / "results" / "mailflow.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    from inboxd.model import encoder

    out.write_text("# Mail flow on 127.0.0.1 (Dovecot + aiosmtpd)\n\n" + report +
                   f"\nFAQ model: words and meaning, encoder "
                   f"{encoder.describe(encoder.load(threads=1))}; load average at the end "
                   f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs.\n")
    print(report)


if __name__ == "__main__":
    main()
