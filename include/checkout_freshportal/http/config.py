"""Settings checks both clients share, so a bad value fails the same way for either API.

Settings are validated when built -- at DAG start, with a clear message -- instead of surfacing
as a 401 or a hang deep inside a paging loop. Messages never include a credential.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from .errors import SettingsError


def timeout_pair(value: object) -> tuple[float, float]:
    """Accept ``30``, ``[5, 30]`` or ``(5, 30)`` (JSON from an Airflow connection gives lists)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (float(value), float(value))
    if isinstance(value, list | tuple) and len(value) == 2:
        return (float(value[0]), float(value[1]))
    raise SettingsError(f"timeout must be a number or a (connect, read) pair, got {value!r}")


def check_url(value: str, name: str) -> None:
    """An absolute http(s) URL without query or fragment (those would leak into every path)."""
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise SettingsError(f"{name} must be an absolute http(s) URL, got {value!r}")
    if parts.query or parts.fragment:
        raise SettingsError(f"{name} must not carry a query string or fragment")


def check_transport(
    timeout: tuple[float, float],
    max_retries: int,
    user_agent: str,
    *,
    max_response_bytes: int,
    response_deadline: float,
) -> None:
    """Positive timeouts (no request may hang forever), a retry budget, a one-line User-Agent,
    a positive body cap and a response deadline above the read timeout (a deadline at or below
    it would cut answers the read timeout still allows)."""
    connect, read = timeout
    if connect <= 0 or read <= 0:
        raise SettingsError(f"timeouts must be positive, got {timeout!r}")
    if (
        isinstance(max_response_bytes, bool)
        or not isinstance(max_response_bytes, int)
        or max_response_bytes < 1
    ):
        raise SettingsError(f"max_response_bytes must be a positive integer, got {max_response_bytes!r}")
    if isinstance(response_deadline, bool) or not isinstance(response_deadline, int | float):
        raise SettingsError(f"response_deadline must be a number of seconds, got {response_deadline!r}")
    if not response_deadline > read:
        raise SettingsError(
            f"response_deadline ({response_deadline:g} s) must be larger than the read timeout ({read:g} s)"
        )
    if max_retries < 0:
        raise SettingsError("max_retries must be >= 0")
    if not user_agent or "\n" in user_agent or "\r" in user_agent:
        raise SettingsError("user_agent must be a non-empty single line")
