"""What ``inboxd demo`` runs: in-process mail servers (``servers``), sample customer mail
(``samples``) and the story that plays them through inboxd (``scenario``).

The submodules need the ``demo`` extra (pymap, aiosmtpd); this package itself imports neither.
"""

from __future__ import annotations

from pathlib import Path


def sample_faq_path() -> Path:
    """The sample FAQ that ships with inboxd, in English, Chinese, Swedish and Spanish."""
    return Path(__file__).resolve().parents[1] / "data" / "demo_faq.toml"
