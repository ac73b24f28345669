"""``create_app``: the FastAPI application that plays Checkout.com.

Routes are grouped by API area (routes_*.py); cross-cutting behaviour (auth, limits, faults,
idempotency, request ids) lives in middleware.py; state and background threads in state.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError

from . import (
    poison,
    routes_admin,
    routes_admin_money,
    routes_auth,
    routes_disputes,
    routes_finance,
    routes_links,
    routes_payments,
    routes_workflows,
)
from .build import build_world
from .config import SandboxConfig
from .middleware import CheckoutMiddleware
from .responses import empty, error_response
from .routes_common import BadRequest
from .state import SandboxState
from .world import World, WorldError


def create_app(
    config: SandboxConfig | None = None, *, base_url: str | None = None, world: World | None = None
) -> FastAPI:
    """A ready app; the world is built now (``build_world(config)``) unless one is passed in.

    ``base_url`` is where the server will be reachable; it is used for links inside webhook
    payloads (API responses use the request's own host).
    """
    config = config or SandboxConfig()
    world = world or build_world(config)
    st = SandboxState.create(world)
    if base_url:
        st.webhooks.base_url = base_url.rstrip("/")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        st.start()
        try:
            yield
        finally:
            st.stop()

    app = FastAPI(
        title="Checkout.com sandbox (FreshPortal)",
        docs_url="/_sandbox/docs",
        openapi_url="/_sandbox/openapi.json",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.sandbox = st

    @app.exception_handler(BadRequest)
    async def bad_request(request: Request, exc: BadRequest) -> Response:
        return error_response(request, 422, list(exc.codes), exc.error_type)

    @app.exception_handler(WorldError)
    async def world_error(request: Request, exc: WorldError) -> Response:
        if exc.kind == "not_allowed":
            return empty(403)
        if exc.kind == "not_found":
            return empty(404)
        if exc.kind == "conflict":
            return error_response(request, 409, list(exc.codes), exc.error_type)
        return error_response(request, 422, list(exc.codes), exc.error_type)

    @app.exception_handler(RequestValidationError)
    async def validation(request: Request, exc: RequestValidationError) -> Response:
        return error_response(request, 422, ["request_invalid"])

    for module in (
        routes_auth,
        routes_payments,
        routes_links,
        routes_disputes,
        routes_finance,
        routes_workflows,
        routes_admin,
        routes_admin_money,
    ):
        app.include_router(module.router)
    app.include_router(routes_links.admin_router)
    app.include_router(routes_finance.storage_router)
    app.include_router(poison.router)
    app.state.poison = poison.PoisonBook()
    app.add_middleware(poison.PoisonMiddleware, book=app.state.poison)  # inside: auth and faults first
    app.add_middleware(CheckoutMiddleware, state=st)
    return app
