"""`streamdr offsets …`: consumer-group positions (translate here; rewind/snapshot/restore come
with the restore capability and are merged into this app)."""

from __future__ import annotations

import typer

from streamdr.cli.offsets_translate import translate

app = typer.Typer(help="Consumer-group offsets across sites and restores.", no_args_is_help=True)
app.command("translate")(translate)
