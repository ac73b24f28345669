"""What both client hooks share: read the Connection once, build settings, cache the client."""

from __future__ import annotations

import abc
from typing import Any, Generic, TypeVar

from airflow.sdk import BaseHook

SettingsT = TypeVar("SettingsT")
ClientT = TypeVar("ClientT")


class ClientHook(BaseHook, abc.ABC, Generic[SettingsT, ClientT]):
    """A hook whose ``get_conn`` is a library client built from the Connection's fields.

    Nothing touches the network at import or construction time, and the library is imported
    only when a client is built (the api-server lists hooks without needing it). The client is
    cached per hook instance: one session, one token, one rate budget per task.
    """

    #: Name of the attribute holding the connection id (Airflow reads it too).
    conn_name_attr: str
    #: The form metadata the provider declares for this type (``get_ui_field_behaviour`` format).
    field_behaviour: dict[str, Any]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._client: ClientT | None = None

    @abc.abstractmethod
    def settings_kwargs(self, conn: Any) -> dict[str, Any]:
        """Keyword arguments of the settings class from the Connection ``conn``."""

    @abc.abstractmethod
    def new_settings(self, kwargs: dict[str, Any]) -> SettingsT:
        """The library's settings object (validates; raises ``SettingsError``)."""

    @abc.abstractmethod
    def new_client(self, settings: SettingsT) -> ClientT:
        """The library's client for ``settings``."""

    def get_settings(self) -> SettingsT:
        conn_id = str(getattr(self, self.conn_name_attr))
        return self.new_settings(self.settings_kwargs(self.get_connection(conn_id)))

    def get_conn(self) -> ClientT:
        if self._client is None:
            self._client = self.new_client(self.get_settings())
        return self._client

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Same data as the provider's ``ui-field-behaviour``, which is what Airflow reads."""
        return cls.field_behaviour
