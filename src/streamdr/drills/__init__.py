"""Drills: scenarios that inject a fault into a live system and measure RTO and RPO."""
