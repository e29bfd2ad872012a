"""What ``inboxd demo`` runs: in-process mail servers (``servers``), sample customer mail
(``samples``) and the story that plays them through inboxd (``scenario``).

Needs the ``demo`` extra (pymap, aiosmtpd); nothing else in inboxd imports this package.
"""
