"""What drills, the demo and tests share to build a world to run in, never used in production.

Sandboxed config environments (``config_sandbox``), derived settings files for child processes
(``derived_settings``) and a local PostgreSQL cluster (``local_postgres``).
"""
