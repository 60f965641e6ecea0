"""Deployment recipes: Kubernetes objects for a region, built as data and validated offline."""
