"""Workflows as code: the config schema, the git config repository, deploy/rollback/drift."""
