"""`streamdr check`: gathers facts from every capability and judges them against the DR policy.

Sits beside ``drills/`` above the capabilities: ``site`` holds the pure HA rules of one site,
``replication`` and ``config`` the gather/evaluate pairs of their areas, ``service`` the run.
"""
