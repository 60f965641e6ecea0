"""`streamdr keys …`: ed25519 signing keys for transformation artifacts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from streamdr.artifacts.service import artifact_settings
from streamdr.artifacts.signing import generate_key, key_id, load_public_key, write_keypair
from streamdr.cli.options import Json
from streamdr.cli.render import literal, out, print_json
from streamdr.cli.state import state
from streamdr.errors import InputError

app = typer.Typer(help="Signing keys for transformation artifacts (ed25519).", no_args_is_help=True)


@app.command()
def generate(
    out_prefix: Annotated[
        Path, typer.Option("--out", help="Writes OUT.key (private, 0600) and OUT.pub.")
    ],
    password_env: Annotated[
        str | None,
        typer.Option(help="Encrypt the private key with the password in this env variable."),
    ] = None,
    json_out: Json = False,
) -> None:
    """Create a signing key pair; list the .pub file under artifacts.trusted_keys."""
    password = _key_password(password_env)
    private, public = _key_paths(out_prefix)
    try:
        kid = write_keypair(generate_key(), private, public, password)
    except OSError as exc:
        raise InputError(
            f"cannot write the key pair {private} / {public}: {exc.strerror or exc}",
            hint="Choose an --out prefix in a directory you can write to.",
        ) from exc
    doc = {"key_id": kid, "private_key": str(private), "public_key": str(public)}
    if json_out:
        print_json(doc)
        return
    out.print(f"Key {kid}: private {literal(private)} (keep secret), public {literal(public)}")
    out.print("Add the public key file to artifacts.trusted_keys in streamdr.yaml.")


def _key_password(password_env: str | None) -> bytes | None:
    """Return the password in ``password_env`` (None without one); raises InputError."""
    if not password_env:
        return None
    value = os.environ.get(password_env)
    if not value:
        # An empty password would silently write an unencrypted key.
        raise InputError(
            f"{password_env} is not set or empty", hint=f"Export {password_env} first."
        )
    return value.encode()


def _key_paths(out_prefix: Path) -> tuple[Path, Path]:
    """Return the private and public key paths for ``--out``; raises InputError."""
    if not out_prefix.name or out_prefix.name in (".", ".."):
        raise InputError(
            f"--out {str(out_prefix)!r} names no file",
            hint="Pass a path prefix such as keys/release (writes release.key and release.pub).",
        )
    return (
        out_prefix.with_name(out_prefix.name + ".key"),
        out_prefix.with_name(out_prefix.name + ".pub"),
    )


@app.command("list")
def list_keys(ctx: typer.Context, json_out: Json = False) -> None:
    """List the trusted public keys and their ids."""
    settings = state(ctx).settings()
    rows = []
    for raw in artifact_settings(settings).trusted_keys:
        path = Path(raw) if Path(raw).is_absolute() else settings.base_dir() / raw
        rows.append({"file": str(path), "key_id": key_id(load_public_key(path))})
    if json_out:
        print_json(rows)
        return
    table = Table("key id", "file")
    for r in rows:
        table.add_row(literal(r["key_id"]), literal(r["file"]))
    out.print(table if rows else "No trusted keys configured (artifacts.trusted_keys).")
