"""Chaos runs: random, seeded faults against the real pipeline under load, with a ledger.

``catalog`` (pure: the faults and a seeded schedule), ``ledger`` (pure: does committed =
applied + dead-lettered balance, and which fault windows explain what does not), ``faults``
(how each fault is injected and healed on the lab) and ``run`` (the orchestration, stored in the
drill history as scenario ``chaos``).
"""
