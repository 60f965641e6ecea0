"""Tiers, the topic HA policy, and `streamdr check` (Appendix A as code)."""
