"""The pure part of the repository connector: remote URLs, host-key pins, issue keys,
git log records, and what a failure means. Bytes and strings in, typed results (or a
GitwardError subclass) out; no disk, network, database or clock.

Its I/O lives elsewhere: ssh, ssh-keyscan and git run in ``gitward.git`` (outbound.py,
mirror.py), its state in ``gitward.store``, its use-cases in ``gitward.services.connector``.
"""
