"""The DR control plane (`streamdr serve`): scheduled jobs, leader lease, job history, probes.

Modules: ``lease`` (named leases in the metadata DB), ``history`` (job runs and pauses),
``jobs`` (what each job kind calls), ``runner`` (one run: lease, retries, history, metrics),
``scheduler`` (election + APScheduler), ``validate`` (start-up checks of ``schedule:``),
``app`` (the FastAPI probes, with room for extra routers) and ``service`` (wiring it together).
"""
