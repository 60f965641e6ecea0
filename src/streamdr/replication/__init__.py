"""Cross-site replication: MirrorMaker 2 (``mm2/``), lag (``lag/``), failover (``failover/``).

Inside the package imports point one way: ``failover`` → ``lag`` → ``mm2`` → ``topology`` and
``naming``; ``service`` (the ``replicate`` commands) and ``supervise`` (the supervisor process)
sit on top.
"""
