"""`streamdr render k8s`: a region's Kubernetes objects as YAML (workers, CDC, serve, backup)."""

from __future__ import annotations

from typing import Annotated

import typer

from streamdr.cli.render import err
from streamdr.cli.state import state
from streamdr.deploy.k8s import K8sOptions
from streamdr.deploy.service import render_region
from streamdr.replication.mm2.strimzi import DEFAULT_STRIMZI_API, check_strimzi_api, render_yaml

app = typer.Typer(help="Render deployment and monitoring files.", no_args_is_help=True)


@app.command("k8s")
def k8s(
    ctx: typer.Context,
    image: Annotated[str, typer.Option(help="streamdr container image (pin a digest).")],
    site: Annotated[
        str | None, typer.Option(help="Region (site) to render for (default: the active site).")
    ] = None,
    namespace: Annotated[str, typer.Option(help="Kubernetes namespace.")] = "streamdr",
    per: Annotated[
        str, typer.Option(help="One worker Deployment per `tier` or per `workflow`.")
    ] = "tier",
    standby: Annotated[
        bool,
        typer.Option("--standby", help="A standby region: workers, CDC and backup at 0 replicas."),
    ] = False,
    mm2: Annotated[
        bool, typer.Option("--mm2/--no-mm2", help="Include the Strimzi KafkaMirrorMaker2.")
    ] = True,
    strimzi_api: Annotated[
        str,
        typer.Option(
            help="KafkaMirrorMaker2 API: v1 (Strimzi 1.0 and later) or v1beta2 (before 1.0)."
        ),
    ] = DEFAULT_STRIMZI_API,
    config_map: Annotated[str, typer.Option(help="ConfigMap holding streamdr.yaml.")] = (
        "streamdr-config"
    ),
    env_secret: Annotated[
        str, typer.Option(help="Secret whose keys become environment variables (passwords).")
    ] = "streamdr-env",
    keys_secret: Annotated[
        str, typer.Option(help="Secret holding the trusted signing keys (public PEM files).")
    ] = "streamdr-signing-keys",
) -> None:
    """Print the Kubernetes objects of one region as multi-document YAML."""
    check_strimzi_api(strimzi_api)
    st = state(ctx)
    settings = st.settings()
    site_name, _ = settings.site(site)
    opts = K8sOptions(
        site=site_name,
        image=image,
        namespace=namespace,
        per=per,
        standby=standby,
        config_map=config_map,
        env_secret=env_secret,
        keys_secret=keys_secret,
    )
    objects = render_region(settings, st.store(), opts, mm2=mm2, strimzi_api=strimzi_api)
    err.print(f"{len(objects)} objects for site {site_name} (namespace {namespace})")
    if not any(o["metadata"]["name"].startswith("streamdr-worker-") for o in objects):
        err.print("[yellow]no workflow is deployed: no worker Deployment[/] (`config deploy`)")
    typer.echo(render_yaml(objects), nl=False)
