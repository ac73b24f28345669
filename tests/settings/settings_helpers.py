"""Build a settings group from one source, so a test can run the same values through each."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import yaml

from checkout_freshportal.settings_base import TypedSettings

S = TypeVar("S", bound=TypedSettings)

SOURCES = ("mapping", "env", "json", "yaml")


def env_for(cls: type[TypedSettings], values: dict[str, str]) -> dict[str, str]:
    """The variables a deployment would set for ``values`` (``rewalk_days`` -> ``CFP_INGEST_REWALK_DAYS``)."""
    out = {}
    for key, value in values.items():
        field = key if key in cls.model_fields else key.rsplit("_", 1)[0]
        name = cls.env_name(field) + key[len(field) :].upper()
        out[name] = value
    return out


def load(cls: type[S], source: str, values: dict[str, Any], tmp_path: Path) -> S:
    if source == "mapping":
        return cls.from_mapping(values)
    if source == "env":
        return cls.from_env(env_for(cls, values))
    path = tmp_path / f"settings.{source}"
    if source == "json":
        path.write_text(json.dumps(values), encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return cls.from_file(path)
