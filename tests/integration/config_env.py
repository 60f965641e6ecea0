"""A config environment for integration tests: settings file, real git repo, keys, stores."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import run_cli

TRANSFORM = (
    "from streamdr.artifacts.api import OutputEvent\n\n"
    "VERSION = {version!r}\n\n"
    "def transform(event):\n"
    "    return [OutputEvent(payload={{'v': VERSION}})]\n"
)


def workflow(name: str, client: str = "client-a", version: str = "1.0.0", **extra: str) -> str:
    """Return a valid workflow file reading table public.<name> of source ``retail``."""
    lines = [
        f"name: {name}",
        f"client: {client}",
        f"tier: {extra.pop('tier', 'standard')}",
        "source:",
        "  database: retail",
        f"  tables: [public.{name.replace('-', '_')}]",
        "transformation:",
        "  name: enrich",
        f"  version: {version}",
        "sink:",
        f"  url: http://127.0.0.1:9/{name}",
    ]
    lines += [f"{k}: {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def _store(url: str, endpoint: str | None) -> str:
    return f"{{url: '{url}'" + (f", endpoint_override: '{endpoint}'" if endpoint else "") + "}"


@dataclass
class ConfigEnv:
    """Paths of one test's environment and helpers to drive it."""

    root: Path
    config: Path
    repo: Path

    def cli(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        """Run the streamdr CLI with this environment's settings."""
        return run_cli(*args, config=self.config, env={"STREAMDR_ACTOR": "tester@ci"}, **kw)

    def cli_json(self, *args: str, code: int = 0) -> Any:
        """Run a CLI command with --json, check its exit code and return the document."""
        proc = self.cli(*args, "--json")
        assert proc.returncode == code, proc.stderr + proc.stdout
        return json.loads(proc.stdout)

    def git(self, *args: str) -> str:
        """Run git in the config repository and return its output."""
        done = subprocess.run(
            ["git", "-C", str(self.repo), *args], capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    def commit(self, files: dict[str, str | None], message: str) -> str:
        """Write (None: delete) files in the work tree, commit them and return the commit."""
        for path, text in files.items():
            target = self.repo / path
            if text is None:
                target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")

    def publish(self, version: str, name: str = "enrich") -> None:
        """Publish a small transformation as ``name@version`` through the CLI."""
        src = self.root / "src" / f"{name}-{version}"
        src.mkdir(parents=True)
        (src / "transform.py").write_text(TRANSFORM.format(version=version))
        proc = self.cli("artifacts", "publish", str(src), "--name", name, "--version", version)
        assert proc.returncode == 0, proc.stderr


def make_env(
    root: Path,
    *,
    registry: str | None = None,
    backups: str | None = None,
    endpoint: str | None = None,
    sites: str = "  primary: {bootstrap_servers: '127.0.0.1:1'}\n",
    extra: str = "",
) -> ConfigEnv:
    """Create keys, a git repository (identity configured per repo) and a settings file."""
    root.mkdir(parents=True, exist_ok=True)
    repo = root / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    for key, value in (("user.name", "Test Operator"), ("user.email", "ops@example.com")):
        subprocess.run(["git", "-C", str(repo), "config", key, value], check=True)
    config = root / "streamdr.yaml"
    config.write_text(
        f"sites:\n{sites}"
        "stores:\n"
        f"  registry: {_store(registry or str(root / 'registry'), registry and endpoint)}\n"
        f"  archive: {_store(str(root / 'archive'), None)}\n"
        f"  backups: {_store(backups or str(root / 'backups'), backups and endpoint)}\n"
        f"metadata_db: {{url: 'sqlite:///{root / 'meta.db'}'}}\n"
        "sources:\n"
        "  retail: {kind: postgres, dsn: 'host=db dbname=retail', topic_prefix: retail}\n"
        "config_repo: {path: repo, branch: main, backup_store: backups}\n"
        "artifacts:\n"
        "  registry_store: registry\n"
        "  archive_store: archive\n"
        "  trusted_keys: [keys/release.pub]\n"
        "  signing_key: keys/release.key\n" + extra
    )
    env = ConfigEnv(root, config, repo)
    env.commit({"README.md": "Workflow configurations.\n"}, "create the repository")
    proc = env.cli("keys", "generate", "--out", str(root / "keys" / "release"))
    assert proc.returncode == 0, proc.stderr
    return env
