"""Observability: Prometheus metrics (one module), alert rules and the Grafana dashboard."""
