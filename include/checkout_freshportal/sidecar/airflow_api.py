"""The three calls the trigger loop makes to Airflow's REST API v2, with JWT handling.

Plain ``requests`` rather than ``apache-airflow-client``: that client has no username/password
login for the SimpleAuthManager (checked with apache-airflow-client 3.3) and would pull pydantic models in
for three calls. The token comes from ``POST /auth/token``; it is renewed shortly before the
``exp`` it carries and once more on any 401 (the API server may have been restarted with another
secret, or the token revoked).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

TOKEN_MARGIN = 60.0  # renew this long before the token's exp


class AirflowUnavailable(RuntimeError):
    """Airflow did not do what was asked (down, 5xx, bad credentials, unknown DAG); back off."""


@dataclass
class AirflowClient:
    base_url: str
    username: str
    password: str = field(repr=False)
    timeout: float = 10.0
    session: requests.Session = field(default_factory=requests.Session, repr=False)
    _token: str | None = field(default=None, repr=False)
    _token_exp: float = 0.0

    # -- auth ---------------------------------------------------------------------------------

    def token(self, refresh: bool = False) -> str:
        if refresh or self._token is None or time.time() > self._token_exp - TOKEN_MARGIN:
            try:
                r = self.session.post(
                    f"{self.base_url}/auth/token",
                    json={"username": self.username, "password": self.password},
                    timeout=self.timeout,
                )
            except requests.RequestException as exc:
                raise AirflowUnavailable(f"POST /auth/token: {type(exc).__name__}") from None
            if r.status_code not in (200, 201):
                raise AirflowUnavailable(f"POST /auth/token: HTTP {r.status_code}")
            self._token = r.json()["access_token"]
            self._token_exp = _jwt_exp(self._token) or time.time() + 3600
        return self._token

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        r: requests.Response | None = None
        for attempt in (0, 1):
            try:
                r = self.session.request(
                    method,
                    f"{self.base_url}/api/v2{path}",
                    headers={"Authorization": f"Bearer {self.token(refresh=attempt == 1)}"},
                    timeout=self.timeout,
                    **kwargs,
                )
            except requests.RequestException as exc:
                raise AirflowUnavailable(f"{method} {path}: {type(exc).__name__}") from None
            if r.status_code != 401:
                return r
        assert r is not None
        return r

    # -- the calls ----------------------------------------------------------------------------

    def count_runs(self, dag_id: str, states: tuple[str, ...]) -> int:
        """How many runs of ``dag_id`` are in ``states`` (e.g. ("queued",))."""
        params = [("state", s) for s in states] + [("limit", "1")]
        r = self._call("GET", f"/dags/{dag_id}/dagRuns", params=params)
        if r.status_code != 200:
            raise AirflowUnavailable(f"GET dagRuns of {dag_id}: HTTP {r.status_code}")
        return int(r.json().get("total_entries", 0))

    def trigger(self, dag_id: str, run_id: str, conf: Mapping[str, Any]) -> bool:
        """Queue a run; True if created, False if ``run_id`` already existed (409)."""
        body = {"dag_run_id": run_id, "logical_date": None, "conf": dict(conf)}
        r = self._call("POST", f"/dags/{dag_id}/dagRuns", json=body)
        if r.status_code in (200, 201):
            return True
        if r.status_code == 409:
            return False
        raise AirflowUnavailable(f"POST dagRuns of {dag_id}: HTTP {r.status_code} {_detail(r)}")

    def close(self) -> None:
        self.session.close()


def _detail(r: requests.Response) -> str:
    """Airflow's error detail (a DAG import error, a validation message), short; no credentials."""
    try:
        detail = r.json().get("detail")
    except ValueError:
        return ""
    return str(detail)[:200] if detail else ""


def _jwt_exp(token: str) -> float | None:
    """The ``exp`` claim, read without verifying (we only need to know when to renew)."""
    try:
        payload = token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(data["exp"])
    except (IndexError, KeyError, ValueError, TypeError):
        return None
