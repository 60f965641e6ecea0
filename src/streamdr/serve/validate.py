"""Start-up checks of ``schedule:`` that need the rest of the settings, reported as file:line.

The shape of each job (kind, cron, interval, options) is checked when the settings load; what a
kind needs elsewhere in the file (a store, the config repository, two sites) is checked here, so
`streamdr serve` refuses to start instead of failing the job at its first run.
"""

from __future__ import annotations

from streamdr.settings.model import Settings
from streamdr.settings.schedule import JobSpec
from streamdr.yamldoc import DocumentError, FieldError, dotted, locate, read_yaml


def validate_schedule(settings: Settings) -> None:
    """Raise DocumentError listing every job whose kind needs a missing setting (file:line)."""
    problems = schedule_problems(settings)
    if not problems:
        return
    source = settings.source
    doc = read_yaml(source) if source is not None else None
    errors = [
        FieldError(str(source or "streamdr.yaml"), *locate(doc, path), dotted(path), message)
        for path, message in problems
    ]
    raise DocumentError(errors, hint="Add the missing settings or remove the job from schedule.")


def schedule_problems(settings: Settings) -> list[tuple[tuple[str, ...], str]]:
    """Return ``(yaml path, message)`` for each job whose kind needs a setting that is missing."""
    problems: list[tuple[tuple[str, ...], str]] = []
    for name, job in settings.schedule.jobs.items():
        base = ("schedule", "jobs", name)
        for field, message in _requirements(settings, job):
            problems.append(((*base, field), message))
    return problems


def _requirements(settings: Settings, job: JobSpec) -> list[tuple[str, str]]:
    """Return ``(job field, message)`` for each requirement ``job`` has that is not met."""
    found: list[tuple[str, str]] = []
    if job.kind in ("backup", "retention", "backup-verify") and not settings.stores:
        found.append(("kind", f"a {job.kind} job needs at least one store under `stores`"))
    unknown = [t for t in job.targets if t not in settings.stores]
    if unknown:
        found.append(("targets", f"unknown stores {unknown}"))
    if job.site is not None and job.site not in settings.sites:
        found.append(("site", f"unknown site {job.site!r}"))
    if job.kind in ("drift", "config-backup") and settings.config_repo is None:
        found.append(("kind", f"a {job.kind} job needs the config_repo section"))
    elif job.kind == "config-backup" and not settings.config_repo.backup_store:
        found.append(("kind", "a config-backup job needs config_repo.backup_store"))
    if job.kind == "artifacts-verify" and settings.artifacts is None:
        found.append(("kind", "an artifacts-verify job needs the artifacts section"))
    if job.kind == "metadb-backup" and settings.metadata_db.pgbackrest is None:
        found.append(("kind", "a metadb-backup job needs metadata_db.pgbackrest"))
    if job.kind == "lag-sample" and len(settings.sites) < 2:
        found.append(("kind", "a lag-sample job needs two sites to replicate between"))
    return found
