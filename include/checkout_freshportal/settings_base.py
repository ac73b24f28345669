"""One way to read settings: typed fields, one parser per kind of value, one error format.

The kinds of value and their parsers are in :mod:`checkout_freshportal.settings_types` (and
re-exported here, so a settings module imports from one place); this module holds the base
model, the sources and the error.

Every settings group (ingest, payment requests, events, status push, sidecar) is a frozen
pydantic model built on :class:`TypedSettings`. Its values may come from a mapping (DAG params,
an Airflow Variable's JSON, CLI ``--settings``), from the environment (``<prefix><FIELD>``) and
from a JSON or YAML file, and each kind of value is parsed by the same function whatever the
source: before this, four hand-written parsers disagreed (``"false"`` became ``True`` in one of
them), so the same text could mean two things depending on where it was typed.

Precedence of :meth:`TypedSettings.load`: defaults < file < environment < mapping (the most
specific source wins: a DAG run's params override the deployment's environment, which
overrides the shared file). A refused key or value raises :class:`SettingsError`, naming the
group, the key as the user typed it, the value (never for a secret) and what is allowed; it is
permanent, because running again with the same configuration cannot succeed.

Unknown keys are refused from every source, the environment included: a variable under a
group's prefix that is neither one of its settings nor listed in :data:`NOT_SETTINGS` (the
schedules, ``<prefix>SETTINGS_FILE``...) is a typo, and a typo silently ignored is a default
silently used (``CFP_SIDECAR_WRITER=8`` would run with 2 writers and nobody would know).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo

from checkout_freshportal.errors import Problem, SettingsError
from checkout_freshportal.settings_types import (
    DURATION_FORMS,
    AwareDatetime,
    Duration,
    Flag,
    NonNegativeInt,
    PositiveInt,
    Seconds,
    SecretKeys,
    TextList,
    bounded_int,
    parse_duration,
    parse_flag,
    parse_number,
)

__all__ = [
    "DURATION_FORMS",
    "AwareDatetime",
    "Duration",
    "Flag",
    "NonNegativeInt",
    "PositiveInt",
    "Problem",
    "Seconds",
    "SecretKeys",
    "SettingsError",
    "TextList",
    "TypedSettings",
    "bounded_int",
    "parse_duration",
    "parse_flag",
    "parse_number",
    "setting_label",
]

S = TypeVar("S", bound="TypedSettings")

#: Unit suffixes a key may carry when its value is a plain number (``rewalk_days: 3``): the
#: unit is then explicit in the name, so the number is not ambiguous.
UNIT_SUFFIXES: dict[str, timedelta] = {
    "_seconds": timedelta(seconds=1),
    "_minutes": timedelta(minutes=1),
    "_hours": timedelta(hours=1),
    "_days": timedelta(days=1),
}
HIDDEN = "<hidden>"

#: Variables under a group's prefix that are real, documented, and not settings of the group:
#: they are read elsewhere (named in the comment), so the unknown-variable check lets them
#: through. ``<prefix>SETTINGS_FILE`` is allowed for every group. A new variable under a
#: group's prefix that is not a field must be added here, or every task of the group refuses it.
NOT_SETTINGS: Mapping[str, frozenset[str]] = {
    "CFP_INGEST_": frozenset({"CFP_INGEST_SCHEDULE"}),  # dags/checkout_ingest.py
    "CFP_PAYMENT_REQUESTS_": frozenset(
        {"CFP_PAYMENT_REQUESTS_SCHEDULE"}
    ),  # dags/freshportal_payment_requests.py
    "CFP_EVENTS_": frozenset({"CFP_EVENTS_SCHEDULE"}),  # dags/checkout_events.py
    "CFP_REFUNDS_": frozenset({"CFP_REFUNDS_SCHEDULE"}),  # dags/freshportal_refunds.py
    "CFP_CAPTURES_": frozenset({"CFP_CAPTURES_SCHEDULE"}),  # dags/freshportal_captures.py
    "CFP_RECON_": frozenset({"CFP_RECON_SCHEDULE"}),  # dags/reconciliation.py
    "CFP_HEALTH_": frozenset({"CFP_HEALTH_SCHEDULE"}),  # dags/pipeline_health.py
    # sidecar/orphans.py; exported by `cfp sidecar serve --workers N` for its worker processes
    "CFP_SIDECAR_": frozenset({"CFP_SIDECAR_SUPERVISOR_PID"}),
}


def setting_label(info: ValidationInfo, field: str) -> str:
    """The name a user typed for ``field`` (an env variable, a suffixed key), for messages."""
    labels = (info.context or {}).get("labels", {})
    return str(labels.get(field, field))


# -- the base model ----------------------------------------------------------------------------


class TypedSettings(BaseModel):
    """Base of every settings group: frozen, unknown keys refused, values parsed strictly.

    Subclasses set ``settings_group`` (named in messages) and ``env_prefix``; ``env_names``
    overrides the variable of a field whose name does not follow the prefix. A field declared
    with ``Field(repr=False)`` is a secret: kept out of ``repr`` and of every error message.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, hide_input_in_errors=True)

    settings_group: ClassVar[str] = "settings"
    env_prefix: ClassVar[str] = "CFP_"
    env_names: ClassVar[Mapping[str, str]] = {}

    def __init__(self, **data: Any) -> None:
        """Every construction (loaders, tests, library callers) refuses with :class:`SettingsError`.

        Pydantic calls an overridden ``__init__`` from ``model_validate`` too, so this is the one
        place errors are translated; a loader passes the keys as the user typed them through
        ``_LOADING`` so that messages name ``CFP_SIDECAR_WRITERS`` or ``rewalk_days``.
        """
        loading = _LOADING.get()
        labels = loading.labels if loading else {}
        try:
            self.__pydantic_validator__.validate_python(data, self_instance=self, context={"labels": labels})
        except ValidationError as exc:
            raw = loading.data if loading else {k: (v, k) for k, v in data.items()}
            raise _translate(type(self), exc, raw, labels, loading.source if loading else "") from None

    # sources

    @classmethod
    def from_mapping(cls: type[S], values: Mapping[str, Any] | None, *, source: str = "") -> S:
        """From DAG params / Variable JSON / CLI JSON; ``None`` values mean "the default"."""
        return cls._build([_Layer(source, _mapping_entries(cls, values))])

    @classmethod
    def from_env(cls: type[S], env: Mapping[str, str] | None = None, **overrides: Any) -> S:
        """From ``<env_prefix><FIELD>`` variables of ``env`` (default ``os.environ``); keyword overrides win.

        Only the group's own variable names are read, so unrelated ``CFP_*`` variables (schedules)
        do not clash; a blank variable counts as unset.
        """
        return cls.load(overrides or None, env=os.environ if env is None else env, file=None)

    @classmethod
    def from_file(cls: type[S], path: str | os.PathLike[str], *, section: str | None = None) -> S:
        """From a JSON or YAML file holding a mapping (or one ``section`` of it)."""
        return cls._build([_Layer(str(path), _file_entries(cls, path, section))])

    @classmethod
    def load(
        cls: type[S],
        values: Mapping[str, Any] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        file: str | os.PathLike[str] | None = None,
        section: str | None = None,
    ) -> S:
        """Defaults < file < environment < ``values``; ``env`` defaults to ``os.environ``.

        The file is ``file`` or, if unset, the one named by ``<env_prefix>SETTINGS_FILE``.
        """
        environ = os.environ if env is None else env
        layers: list[_Layer] = []
        file = file or environ.get(f"{cls.env_prefix}SETTINGS_FILE") or None
        if file:
            layers.append(_Layer(str(file), _file_entries(cls, file, section)))
        layers.append(_Layer("environment", _env_entries(cls, environ), env=True))
        if values:
            layers.append(_Layer("", _mapping_entries(cls, values)))
        return cls._build(layers)

    @classmethod
    def env_name(cls, field: str) -> str:
        return cls.env_names.get(field) or f"{cls.env_prefix}{field.upper()}"

    @classmethod
    def _build(cls: type[S], layers: list[_Layer]) -> S:
        problems: list[Problem] = []
        data: dict[str, tuple[Any, str]] = {}
        for layer in layers:
            problems.extend(layer.problems)
            data.update(layer.entries)
        if any(layer.env for layer in layers):
            labels = {name: cls.env_name(name) for name in cls.model_fields}
        else:
            labels = {name: name for name in cls.model_fields}
        labels.update({field: label for field, (_, label) in data.items()})
        sources = sorted(
            {layer.source for layer in layers if layer.source and (layer.entries or layer.problems)}
        )
        if problems:
            raise _error(cls, problems, ", ".join(sources))
        token = _LOADING.set(_Loading(data, labels, ", ".join(sources)))
        try:
            return cls(**{k: v for k, (v, _) in data.items()})
        finally:
            _LOADING.reset(token)


@dataclass(frozen=True)
class _Loading:
    """What a loader knows and ``__init__`` does not: the keys as typed, and where they came from."""

    data: Mapping[str, tuple[Any, str]]
    labels: Mapping[str, str]
    source: str


_LOADING: ContextVar[_Loading | None] = ContextVar("settings_loading", default=None)


@dataclass
class _Layer:
    """One source's values by field name (each with the key as typed), and what it refused."""

    source: str
    parsed: tuple[dict[str, tuple[Any, str]], list[Problem]]
    env: bool = False

    @property
    def entries(self) -> dict[str, tuple[Any, str]]:
        return self.parsed[0]

    @property
    def problems(self) -> list[Problem]:
        return self.parsed[1]


def _mapping_entries(
    cls: type[TypedSettings], values: Mapping[str, Any] | None
) -> tuple[dict[str, tuple[Any, str]], list[Problem]]:
    """Keys to fields: ``<duration field>_<unit>`` numbers become timedeltas; unknown keys refused."""
    entries: dict[str, tuple[Any, str]] = {}
    problems: list[Problem] = []
    unknown: list[str] = []
    for key, value in (values or {}).items():
        if value is None:
            continue
        field, unit = _resolve(cls, str(key))
        if field is None:
            unknown.append(str(key))
            continue
        if field in entries:
            problems.append(
                Problem(str(key), _shown(cls, field, value), f"is given twice (also as {entries[field][1]})")
            )
            continue
        if unit is not None:
            number = parse_number(value)
            if number is None or number < 0:
                problems.append(Problem(str(key), _shown(cls, field, value), "must be a non-negative number"))
                continue
            value = unit * number
        entries[field] = (value, str(key))
    if unknown:
        problems.insert(0, _unknown(cls, unknown))
    return entries, problems


def _unknown(cls: type[TypedSettings], keys: list[str]) -> Problem:
    """Listing the known keys makes a typo (``batch_sise``) obvious from the message alone."""
    return Problem(", ".join(sorted(keys)), "", f"unknown; known keys: {_known_keys(cls)}")


def _known_keys(cls: type[TypedSettings]) -> str:
    """The keys a group accepts, a duration's unit variants folded: ``rewalk[_seconds|...|_days]``."""
    units = "|".join(UNIT_SUFFIXES)
    durations = _duration_fields(cls)
    return ", ".join(f"{f}[{units}]" if f in durations else f for f in sorted(cls.model_fields))


def _resolve(cls: type[TypedSettings], key: str) -> tuple[str | None, timedelta | None]:
    if key in cls.model_fields:
        return key, None
    for suffix, unit in UNIT_SUFFIXES.items():
        base = key[: -len(suffix)]
        if key.endswith(suffix) and base in _duration_fields(cls):
            return base, unit
    return None, None


def _duration_fields(cls: type[TypedSettings]) -> list[str]:
    return [name for name, f in cls.model_fields.items() if f.annotation is timedelta]


def _env_entries(
    cls: type[TypedSettings], env: Mapping[str, str]
) -> tuple[dict[str, tuple[Any, str]], list[Problem]]:
    """The group's variables (``<prefix><FIELD>`` or ``<prefix><FIELD>_<UNIT>``); blanks are unset.

    Any other variable under the prefix is refused unless :func:`env_not_settings` lists it.
    """
    values: dict[str, Any] = {}
    labels: dict[str, str] = {}
    for name, key in _env_variables(cls).items():
        raw = env.get(name)
        if raw is not None and raw.strip():
            values[key] = raw
            labels[key] = name
    entries, problems = _mapping_entries(cls, values)
    relabel = {key: labels.get(key, key) for key in values}
    entries = {field: (value, relabel.get(key, key)) for field, (value, key) in entries.items()}
    problems = [Problem(relabel.get(p.key, p.key), p.shown, p.allowed) for p in problems]
    unknown = _unknown_variables(cls, env)
    if unknown:
        problems.insert(0, unknown)
    return entries, problems


def _env_variables(cls: type[TypedSettings]) -> dict[str, str]:
    """Every variable the group reads, to its key (``CFP_INGEST_REWALK_DAYS``: ``rewalk_days``).

    Built from the fields, so a new field is readable (and known) without a list to update.
    """
    names: dict[str, str] = {}
    for field in cls.model_fields:
        names[cls.env_name(field)] = field
        if field in _duration_fields(cls):
            names.update({f"{cls.env_name(field)}{s.upper()}": f"{field}{s}" for s in UNIT_SUFFIXES})
    return names


def env_not_settings(cls: type[TypedSettings]) -> frozenset[str]:
    """Variables under the group's prefix that are not its settings: its file, and :data:`NOT_SETTINGS`."""
    return frozenset({f"{cls.env_prefix}SETTINGS_FILE"}) | NOT_SETTINGS.get(cls.env_prefix, frozenset())


def _unknown_variables(cls: type[TypedSettings], env: Mapping[str, str]) -> Problem | None:
    """A variable under the prefix that nothing reads: named (never its value) with what is known."""
    known = _env_variables(cls)
    others = env_not_settings(cls)
    unknown = sorted(
        name for name in env if name.startswith(cls.env_prefix) and name not in known and name not in others
    )
    if not unknown:
        return None
    units = "|".join(s.upper() for s in UNIT_SUFFIXES)
    durations = _duration_fields(cls)
    variables = ", ".join(
        sorted(f"{cls.env_name(f)}[{units}]" if f in durations else cls.env_name(f) for f in cls.model_fields)
    )
    return Problem(
        ", ".join(unknown),
        "",
        f"unknown; known variables: {variables}; also read, not settings: {', '.join(sorted(others))}",
    )


def _file_entries(
    cls: type[TypedSettings], path: str | os.PathLike[str], section: str | None
) -> tuple[dict[str, tuple[Any, str]], list[Problem]]:
    """JSON (``.json``) or YAML (anything else) holding a mapping, or a mapping under ``section``."""
    p = Path(path)
    import yaml

    try:
        text = p.read_text(encoding="utf-8")
        content = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        # The exception's name only: its text may quote a line of the file, secrets included.
        raise SettingsError(
            f"{cls.settings_group} settings ({p}): cannot read the file ({type(exc).__name__})"
        ) from None
    if section is not None and isinstance(content, Mapping):
        content = content.get(section) or {}
    if content is None:
        content = {}
    if not isinstance(content, Mapping):
        raise SettingsError(
            f"{cls.settings_group} settings ({p}): the file must hold a mapping of keys to values"
        )
    return _mapping_entries(cls, content)


# -- errors ------------------------------------------------------------------------------------


def _shown(cls: type[TypedSettings], field: str | None, value: Any) -> str:
    """The value for a message: a short repr (escaped by repr), never a secret's."""
    info = cls.model_fields.get(field or "")
    if info is not None and info.repr is False:
        return HIDDEN
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def _error(cls: type[TypedSettings], problems: list[Problem], source: str) -> SettingsError:
    where = f" ({source})" if source else ""
    parts = []
    for p in problems:
        if not p.key:
            parts.append(p.allowed)
        elif p.allowed.startswith("unknown"):
            parts.append(
                f"unknown {cls.settings_group} setting(s): {p.key} ({p.allowed[len('unknown; ') :]})"
            )
        elif p.shown:
            parts.append(f"{p.key} {p.allowed}, got {p.shown}")
        else:
            parts.append(f"{p.key} {p.allowed}")
    return SettingsError(f"{cls.settings_group} settings{where}: " + "; ".join(parts), tuple(problems))


def _translate(
    cls: type[TypedSettings],
    exc: ValidationError,
    data: Mapping[str, tuple[Any, str]],
    labels: Mapping[str, str],
    source: str,
) -> SettingsError:
    problems: list[Problem] = []
    unknown: list[str] = []
    for err in exc.errors(include_input=False):
        field = str(err["loc"][0]) if err["loc"] else None
        if err["type"] == "extra_forbidden" and field:
            unknown.append(field)
            continue
        if field is None:  # a rule across fields (or a default that failed): it names the keys itself
            problems.append(Problem("", "", err["msg"].removeprefix("Value error, ")))
            continue
        label = labels.get(field) or (data[field][1] if field in data else field)
        if err["type"] == "missing":
            problems.append(Problem(label, "", "is required"))
            continue
        shown = _shown(cls, field, data[field][0]) if field in data else ""
        # The hint names the key the user would type: rewalk_hours, or CFP_INGEST_REWALK_HOURS.
        allowed = err["msg"].replace("<key>_hours", f"{label}{'_HOURS' if label.isupper() else '_hours'}")
        if err["type"] == "literal_error":
            allowed = f"must be one of {err.get('ctx', {}).get('expected', '')}"
        elif allowed.startswith("Input should be "):  # pydantic's own checks (text fields): same voice
            allowed = "must be " + allowed.removeprefix("Input should be ")
        problems.append(Problem(label, shown, allowed))
    if unknown:
        problems.insert(0, _unknown(cls, unknown))
    return _error(cls, problems, source)
