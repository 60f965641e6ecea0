"""DR readiness at a glance: facts (gather) → verdicts and alerts (model) → gauges and web pages."""
