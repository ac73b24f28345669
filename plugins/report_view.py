"""The latest finance report inside the Airflow UI: an Airflow 3 plugin (FastAPI app + menu link).

Finance opens Airflow, not a file share: **Browse > Reconciliation report** shows
``<ReportSettings.out_dir>/latest/report.html`` (written by the ``reconciliation`` DAG's
``render_report`` task) in the UI, and its exports (``exceptions.csv``, ``matches.csv``,
``payouts.csv``, ``report.xlsx``) at relative links, so the report's own links work unchanged.

Read-only: GET and HEAD only; a name is served only when it resolves to a regular file inside
``latest/`` (no ``..``, no absolute path, no symlink out of it), anything else is a 404 that names
nothing on disk. The routes require an authenticated Airflow user (the UI's session cookie or a
bearer token, Airflow's own check): plugin apps are not protected by Airflow unless they ask.
The folder is looked up per request, so a new report (``latest/`` is replaced atomically) shows
without a restart; a relative ``CFP_REPORT_OUT_DIR`` is taken from the API server's working
directory, so deployments set an absolute one shared with the workers.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

URL_PREFIX = "/cfp-report"
REPORT = "report.html"
#: Never cached: the same URL shows the newest report after every run.
HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
NO_REPORT = (
    "<!doctype html><meta charset=utf-8><title>No report yet</title>"
    "<p>No reconciliation report yet: run the <code>reconciliation</code> DAG "
    "(its <code>render_report</code> task writes it), or <code>cfp report --out DIR</code>.</p>"
)


def latest_dir() -> Path:
    """``<out_dir>/latest`` of the deployment's ReportSettings (``CFP_REPORT_*``)."""
    from checkout_freshportal.reports.settings import ReportSettings

    return Path(ReportSettings.load().out_dir) / "latest"


def resolve_inside(root: Path, name: str) -> Path | None:
    """``root/name`` if it is a regular file inside ``root`` once every link is resolved."""
    if not name or "\x00" in name or name.startswith(("/", "\\")) or "\\" in name:
        return None
    try:
        base = root.resolve(strict=True)
        target = (base / name).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not target.is_relative_to(base) or not target.is_file():
        return None
    return target


def build_app(root: Callable[[], Path] = latest_dir, dependencies: Sequence[Any] = ()) -> FastAPI:
    """The read-only app; ``root`` gives the folder to serve, ``dependencies`` guard every route."""
    app = FastAPI(
        title="Reconciliation report", docs_url=None, redoc_url=None, openapi_url=None,
        dependencies=list(dependencies),
    )  # fmt: skip

    @app.api_route("/", methods=["GET", "HEAD"], response_model=None)
    def report() -> FileResponse | HTMLResponse:
        found = resolve_inside(root(), REPORT)
        if found is None:
            return HTMLResponse(NO_REPORT, status_code=404, headers=HEADERS)
        return FileResponse(found, media_type="text/html; charset=utf-8", headers=HEADERS)

    @app.api_route("/{name:path}", methods=["GET", "HEAD"])
    def export(name: str) -> FileResponse:
        found = resolve_inside(root(), name)
        if found is None:
            raise HTTPException(status_code=404, detail="not in the latest report")
        media = mimetypes.guess_type(found.name)[0] or "application/octet-stream"
        return FileResponse(found, media_type=media, headers=HEADERS)

    return app


def _airflow_user_required() -> list[Any]:
    """Airflow's own "authenticated user" check (its session cookie or a bearer JWT)."""
    from airflow.api_fastapi.core_api.security import requires_authenticated

    return [Depends(requires_authenticated())]


app = build_app(dependencies=_airflow_user_required())


class ReconciliationReportPlugin(AirflowPlugin):
    name = "cfp_reconciliation_report"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "Reconciliation report"}]
    # url_route: shown inside the Airflow UI (an iframe) under Browse; href is relative to the
    # UI's base URL, so it works behind a reverse proxy with a path prefix.
    external_views = [
        {
            "name": "Reconciliation report",
            "href": URL_PREFIX.lstrip("/") + "/",
            "destination": "nav",
            "category": "browse",
            "url_route": "reconciliation-report",
        }
    ]
