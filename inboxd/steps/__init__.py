"""The steps that act on the mailboxes and the store, each named for its job.

``core/`` decides (pure functions returning values); a step here does what was decided: the inbox
pass (``inbox``), the outbox (``outbox``), the Sent-folder scan (``sent_scan``), the deadline
sweep (``sweep``), relaying (``relay``), status replies (``status``), learning from answers
(``learn``) and from the learn folders (``lessons``), flagging and copying (``marks``) and erasing
a customer (``forget``). Where ``core/X.py`` and ``steps/X.py`` share a name, the first decides
and the second does.
"""
