"""What drills, the demo and tests share to build a world to run in, never used in production.

Sandboxed config environments (``config_sandbox``), derived settings files for child processes
(``derived_settings``), a local PostgreSQL cluster (``local_postgres``), the source database's
change table and CDC slot (``source_db``), steady load (``load``), child processes with log
capture (``processes``), the committed-vs-applied ledger (``ledger``) and polling (``polling``).
"""
