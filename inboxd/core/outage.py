"""A server that went away: since when, and when to try it again (a capped backoff).

Pure: every function is handed the time, as seconds of a monotonic clock. A transient outage
(network trouble, a server restarting) is tried again after 1 s, doubling to at most
``RETRY_MAX_S``, so a server that is back is noticed within that time however long it was gone.
A permanent refusal (a wrong password) is tried again far less often.
"""

from __future__ import annotations

from dataclasses import dataclass

RETRY_START_S = 1.0
RETRY_MAX_S = 10.0
REFUSED_RETRY_START_S = 60.0
REFUSED_RETRY_MAX_S = 1800.0


@dataclass(frozen=True)
class Outage:
    since_s: float
    retry_s: float
    next_try_s: float
    refused: bool  # the server answered, but refused us: trying again soon will not help


def after_failure(outage: Outage | None, now_s: float, refused: bool = False) -> Outage:
    """The outage after one more failed try at ``now_s`` (``outage`` None: it starts now)."""
    start, cap = (REFUSED_RETRY_START_S, REFUSED_RETRY_MAX_S) if refused else \
        (RETRY_START_S, RETRY_MAX_S)
    same_kind = outage is not None and outage.refused == refused
    retry_s = min(outage.retry_s * 2, cap) if same_kind else start  # type: ignore[union-attr]
    since_s = outage.since_s if outage is not None else now_s
    return Outage(since_s, retry_s, now_s + retry_s, refused)


def format_duration(seconds: float) -> str:
    """``4 s``, ``3 min 12 s``, ``2 h 5 min``, ``3 d 4 h``: the two largest units."""
    total = max(int(round(seconds)), 0)
    units = [("d", 86400), ("h", 3600), ("min", 60), ("s", 1)]
    first = next(i for i, (_, size) in enumerate(units) if total >= size or size == 1)
    (big, big_size), rest = units[first], units[first + 1:first + 2]
    text = f"{total // big_size} {big}"
    if rest and total % big_size // rest[0][1]:
        text += f" {total % big_size // rest[0][1]} {rest[0][0]}"
    return text
