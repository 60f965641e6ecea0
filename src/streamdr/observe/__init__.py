"""Observability: Prometheus metrics (one module), and later the dashboard and alert rules."""
