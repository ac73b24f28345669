"""How to reach one FreshPortal tenant: host, API key, timeouts, retry budget, page size.

Validated when built, so a wrong tenant or an empty key fails at DAG start with a clear message.
The API key never appears in ``repr()`` or in an error message.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..http.config import check_transport, check_url, timeout_pair
from ..http.errors import SettingsError
from ..http.transport import DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_RESPONSE_DEADLINE

__all__ = ["API_HOST_TEMPLATE", "MAX_PAGE_SIZE", "TENANT_RE", "FreshPortalSettings", "SettingsError"]

#: Tenant ids seen in public integration code look like ``850255`` or ``fp042100``.
TENANT_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
API_HOST_TEMPLATE = "https://{tenant}-api.freshportal.com"
DEFAULT_USER_AGENT = "checkout-freshportal/0.1 (+python-requests)"
#: Largest page the contract assumes the server grants (docs/freshportal-openapi.yaml).
MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class FreshPortalSettings:
    """Settings of a :class:`~checkout_freshportal.freshportal.client.FreshPortalClient`.

    ``tenant`` gives the production host ``https://{tenant}-api.freshportal.com``; an explicit
    ``base_url`` wins over it and is how tests and the demo point at the local simulator.
    """

    tenant: str | None = None
    api_key: str = field(default="", repr=False)
    base_url: str | None = None
    #: (connect, read) seconds.
    timeout: tuple[float, float] = (5.0, 30.0)
    #: Largest API answer read into memory (a larger one fails, permanent); a 500-order page
    #: is a few MB. Export downloads have their own cap (``max_export_bytes``).
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    #: Wall-clock seconds one attempt may take, body included, before it fails like a read
    #: timeout: the read timeout bounds each socket read, not a body that drips. > read timeout.
    response_deadline: float = DEFAULT_RESPONSE_DEADLINE
    max_retries: int = 4
    backoff_base: float = 0.5
    backoff_cap: float = 20.0
    page_size: int = 100
    user_agent: str = DEFAULT_USER_AGENT
    #: Tenant mapping override file; ``None`` = ``CFP_FRESHPORTAL_MAPPING`` or the default only.
    mapping_path: str | None = None
    #: Refuse export downloads larger than this (a runaway export must not fill the disk).
    max_export_bytes: int = 2 * 1024**3
    #: Pages one run reads of one change feed before it stops (its cursor kept, the next run
    #: goes on): a server that keeps answering ``has_more`` must not hold a task for ever.
    max_feed_pages: int = 10_000

    def __post_init__(self) -> None:
        if not isinstance(self.timeout, tuple):
            object.__setattr__(self, "timeout", timeout_pair(self.timeout))
        if self.tenant is not None:
            object.__setattr__(self, "tenant", self.tenant.strip().lower() or None)
        self._validate()

    def _validate(self) -> None:
        if self.base_url is None and self.tenant is None:
            raise SettingsError("FreshPortal settings need a tenant (or an explicit base_url)")
        if self.tenant is not None and not TENANT_RE.match(self.tenant):
            raise SettingsError(
                f"tenant {self.tenant!r} is not a FreshPortal tenant id (e.g. 850255, fp042100)"
            )
        if self.base_url is not None:
            check_url(self.base_url, "base_url")
        if not isinstance(self.api_key, str) or not self.api_key.strip():
            raise SettingsError("api_key is required (the FreshPortal API key; value not shown)")
        if self.api_key != self.api_key.strip() or any(c in self.api_key for c in "\r\n\t "):
            raise SettingsError("api_key contains whitespace (value not shown)")
        check_transport(
            self.timeout,
            self.max_retries,
            self.user_agent,
            max_response_bytes=self.max_response_bytes,
            response_deadline=self.response_deadline,
        )
        if self.backoff_base < 0 or self.backoff_cap < 0:
            raise SettingsError("backoff_base and backoff_cap must be >= 0")
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise SettingsError(f"page_size must be within 1..{MAX_PAGE_SIZE}")
        if self.max_export_bytes <= 0:
            raise SettingsError("max_export_bytes must be positive")
        if (
            isinstance(self.max_feed_pages, bool)
            or not isinstance(self.max_feed_pages, int)
            or self.max_feed_pages < 1
        ):
            raise SettingsError("max_feed_pages must be a positive integer")

    @property
    def api_base_url(self) -> str:
        """Base URL of the tenant's API, always ending with ``/``."""
        if self.base_url is not None:
            return self.base_url.rstrip("/") + "/"
        return API_HOST_TEMPLATE.format(tenant=self.tenant) + "/"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> FreshPortalSettings:
        """``CFP_FRESHPORTAL_BASE_URL`` or ``CFP_FRESHPORTAL_TENANT``, ``CFP_FRESHPORTAL_API_KEY``.

        For the CLI and the demo; DAGs use the Airflow Connection ``freshportal_default``.
        """
        env = os.environ if environ is None else environ
        base_url = env.get("CFP_FRESHPORTAL_BASE_URL") or None
        tenant = env.get("CFP_FRESHPORTAL_TENANT") or None
        if base_url is None and tenant is None:
            base_url = "http://127.0.0.1:8200"
        return cls(
            tenant=tenant,
            base_url=base_url,
            api_key=env.get("CFP_FRESHPORTAL_API_KEY", ""),
            mapping_path=env.get("CFP_FRESHPORTAL_MAPPING") or None,
        )
