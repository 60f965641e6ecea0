"""Transformation artifacts: the versioned API, packaging, signing, registry, retention."""
