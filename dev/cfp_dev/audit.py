"""Dependency audit of ``requirements.lock``: online when a service answers, offline always.

``pip-audit`` asks PyPI's JSON API (or OSV) about each pin. Where that service is unreachable or
is a mirror without vulnerability data, pip-audit marks every package "not found on PyPI" and
still prints "No known vulnerabilities found" with exit status 0; a check that passes because
it checked nothing is worse than none. So:

1. **online** (``--online auto``, the default): pip-audit runs; its findings count only for the
   packages it could audit, and when it audited none the result says so instead of passing;
2. **offline** (always): every pin is evaluated against a committed, dated snapshot of the PyPA
   advisory database (OSV format, only the advisories of packages in the lock:
   ``security/advisories/pypa-advisory-db.json``), with the OSV range rules
   (``introduced``/``fixed``/``last_affected``, explicit ``versions``) and ``packaging`` versions;
3. **exceptions** (``security/audit-exceptions.toml``): a finding listed there with a reason is
   accepted until its ``expires`` date; an expired exception fails the audit like the finding.

``python -m cfp_dev.audit check`` runs all three (``make test`` does); ``python -m cfp_dev.audit
refresh --from DIR`` rewrites the snapshot from a checkout of github.com/pypa/advisory-database.
Docs: docs/security.md, "Dependency audit".
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from cfp_dev.paths import REPO_ROOT

LOCK = REPO_ROOT / "requirements.lock"
SNAPSHOT = REPO_ROOT / "security" / "advisories" / "pypa-advisory-db.json"
EXCEPTIONS = REPO_ROOT / "security" / "audit-exceptions.toml"
SOURCE = "https://github.com/pypa/advisory-database"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


@dataclass(frozen=True)
class Finding:
    package: str
    version: str
    id: str
    aliases: tuple[str, ...]
    fixed: tuple[str, ...]
    summary: str
    source: str  # "snapshot" | "pip-audit"

    def ids(self) -> set[str]:
        return {self.id, *self.aliases}

    def line(self) -> str:
        fix = f"fixed in {', '.join(self.fixed)}" if self.fixed else "no fixed version"
        also = f" ({', '.join(self.aliases)})" if self.aliases else ""
        return f"{self.package} {self.version}: {self.id}{also}, {fix} [{self.source}] {self.summary}"


def read_lock(path: Path = LOCK) -> dict[str, str]:
    """Canonical package name -> pinned version."""
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        m = _PIN.match(line.strip())
        if m:
            pins[canonicalize_name(m.group(1))] = m.group(2)
    return pins


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")


# -- OSV evaluation ---------------------------------------------------------------------------------
def _v(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _event_key(event: Mapping[str, str]) -> Version:
    value = next(iter(event.values()))
    return Version("0") if value == "0" else (_v(value) or Version("0"))


def in_range(version: Version, events: Iterable[Mapping[str, str]]) -> bool:
    """OSV ECOSYSTEM range: walk the events in version order; the last one at or below decides."""
    affected = False
    for event in sorted((e for e in events if _v(next(iter(e.values()))) is not None), key=_event_key):
        kind, _raw = next(iter(event.items()))
        at = _event_key(event)
        if kind == "introduced" and version >= at:
            affected = True
        elif (kind == "fixed" and version >= at) or (kind == "last_affected" and version > at):
            affected = False
    return affected


def affects(advisory: Mapping[str, Any], package: str, version: str) -> bool:
    """Whether ``advisory`` covers ``package`` at ``version`` (explicit list or ECOSYSTEM ranges)."""
    if advisory.get("withdrawn"):
        return False
    v = _v(version)
    for aff in advisory.get("affected", []):
        pkg = aff.get("package", {})
        if pkg.get("ecosystem") != "PyPI" or canonicalize_name(pkg.get("name", "")) != package:
            continue
        if version in aff.get("versions", []):
            return True
        if v is None:
            continue
        for rng in aff.get("ranges", []):
            if rng.get("type") == "ECOSYSTEM" and in_range(v, rng.get("events", [])):
                return True
    return False


def _fixed(advisory: Mapping[str, Any], package: str) -> tuple[str, ...]:
    out = []
    for aff in advisory.get("affected", []):
        if canonicalize_name(aff.get("package", {}).get("name", "")) == package:
            for rng in aff.get("ranges", []):
                out += [e["fixed"] for e in rng.get("events", []) if "fixed" in e]
    return tuple(sorted(set(out), key=lambda s: _v(s) or Version("0")))


def offline_findings(pins: Mapping[str, str], snapshot: Mapping[str, Any]) -> list[Finding]:
    found = []
    for adv in snapshot["advisories"]:
        for aff in adv.get("affected", []):
            package = canonicalize_name(aff.get("package", {}).get("name", ""))
            if package in pins and affects(adv, package, pins[package]):
                summary = (adv.get("summary") or adv.get("details") or "").split("\n")[0][:120]
                found.append(
                    Finding(
                        package,
                        pins[package],
                        adv["id"],
                        tuple(adv.get("aliases", [])),
                        _fixed(adv, package),
                        summary,
                        "snapshot",
                    )
                )
                break
    return sorted(set(found), key=lambda f: (f.package, f.id))


def uncovered(pins: Mapping[str, str], snapshot: Mapping[str, Any]) -> list[str]:
    """Pinned packages the snapshot was not built for (it holds only the lock's packages)."""
    return sorted(set(pins) - set(snapshot.get("packages", [])))


# -- online ------------------------------------------------------------------------------------------
def online_findings(lock: Path, timeout: float) -> tuple[list[Finding] | None, str]:
    """pip-audit's findings and a sentence on what it could check; None when it checked nothing."""
    cmd = [
        str(Path(sys.executable).parent / "pip-audit"),
        *("-r", str(lock), "--no-deps", "--disable-pip", "--progress-spinner", "off", "-f", "json"),
    ]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        report = json.loads(done.stdout or "{}")
    except (subprocess.TimeoutExpired, OSError, ValueError) as exc:
        return None, f"pip-audit did not answer ({type(exc).__name__})"
    deps = report.get("dependencies", [])
    audited = [d for d in deps if "skip_reason" not in d]
    if not audited:
        return None, f"pip-audit could audit none of {len(deps)} pins (service unreachable or without data)"
    found = [
        Finding(
            canonicalize_name(d["name"]),
            d.get("version", "?"),
            v["id"],
            tuple(v.get("aliases", [])),
            tuple(v.get("fix_versions", [])),
            (v.get("description") or "").split("\n")[0][:120],
            "pip-audit",
        )
        for d in audited
        for v in d.get("vulns", [])
    ]
    return found, f"pip-audit audited {len(audited)} of {len(deps)} pins"


# -- exceptions --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Exception_:
    id: str
    package: str
    reason: str
    date: dt.date
    expires: dt.date


def read_exceptions(path: Path = EXCEPTIONS) -> list[Exception_]:
    if not path.exists():
        return []
    data = tomllib.loads(path.read_text())
    out = []
    for i, e in enumerate(data.get("exception", []), start=1):
        missing = {"id", "package", "reason", "date", "expires"} - set(e)
        if missing or not isinstance(e["expires"], dt.date) or not str(e["reason"]).strip():
            raise ValueError(f"{path.name}: exception #{i} needs id, package, reason, date, expires (dates)")
        out.append(Exception_(e["id"], canonicalize_name(e["package"]), e["reason"], e["date"], e["expires"]))
    return out


def judge(
    findings: list[Finding], exceptions: list[Exception_], today: dt.date
) -> tuple[list[str], list[str]]:
    """(failures, notes): a finding fails unless an unexpired exception names it."""
    failures, notes = [], []
    for f in findings:
        match = next((e for e in exceptions if e.package == f.package and e.id in f.ids()), None)
        if match is None:
            failures.append(f"VULNERABLE {f.line()}")
        elif match.expires < today:
            failures.append(f"EXPIRED EXCEPTION (expired {match.expires}) {f.line()}")
        else:
            notes.append(f"accepted until {match.expires}: {f.line()} -- {match.reason}")
    ids = {(f.package, i) for f in findings for i in f.ids()}
    for e in exceptions:
        if (e.package, e.id) not in ids:
            notes.append(f"exception {e.id} ({e.package}) matches no finding: remove it")
    return failures, notes


def check(args: argparse.Namespace) -> int:
    pins = read_lock(args.lock)
    snapshot = json.loads(args.snapshot.read_text())
    findings = offline_findings(pins, snapshot)
    _say(
        f"audit: {len(pins)} pins in {args.lock.name}; advisory snapshot {snapshot['snapshot_date']} "
        f"({snapshot['source']} @ {snapshot['source_commit'][:12]}, {len(snapshot['advisories'])} advisories)"
    )
    if args.online != "never":
        online, said = online_findings(args.lock, args.timeout)
        _say(f"audit: online: {said}")
        if online is None and args.online == "require":
            _say("audit: FAILED: --online require and the online audit checked nothing")
            return 1
        findings = sorted(set(findings) | set(online or []), key=lambda f: (f.package, f.id, f.source))
    failures, notes = judge(findings, read_exceptions(args.exceptions), dt.datetime.now(dt.UTC).date())
    # A package added to the lock after the snapshot was made has never been looked up in it.
    failures += [
        f"NOT IN THE SNAPSHOT {p}: refresh it (python -m cfp_dev.audit refresh)"
        for p in uncovered(pins, snapshot)
    ]
    for line in notes:
        _say(f"audit: {line}")
    for line in failures:
        _say(f"audit: {line}")
    _say(f"audit: {'FAILED' if failures else 'ok'}: {len(findings)} finding(s), {len(failures)} not accepted")
    return 1 if failures else 0


# -- refresh -----------------------------------------------------------------------------------------
def build_snapshot(checkout: Path, pins: Mapping[str, str], commit: str, date: str) -> dict[str, Any]:
    """The advisories under ``checkout/vulns`` for the packages in ``pins`` (YAML -> JSON)."""
    import yaml

    dirs = {canonicalize_name(p.name): p for p in (checkout / "vulns").iterdir() if p.is_dir()}
    advisories = []
    for package in sorted(pins):
        if package in dirs:
            for f in sorted(dirs[package].glob("*.yaml")):
                advisories.append(yaml.safe_load(f.read_text()))
    return {
        "source": SOURCE,
        "source_commit": commit,
        "snapshot_date": date,
        "packages": sorted(pins),
        "advisories": json.loads(json.dumps(advisories, default=str)),
    }


def _git(checkout: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(checkout), *args], capture_output=True, text=True, check=True)
    except (subprocess.CalledProcessError, OSError):
        return None
    return out.stdout.strip()


def refresh(args: argparse.Namespace) -> int:
    commit = args.commit or _git(args.source, "rev-parse", "HEAD")
    date = args.date or _git(args.source, "log", "-1", "--format=%cs")
    if not commit or not date:
        _say("refresh: not a git checkout: give --commit and --date of the tree you copied")
        return 2
    snapshot = build_snapshot(args.source, read_lock(args.lock), commit, date)
    args.snapshot.parent.mkdir(parents=True, exist_ok=True)
    args.snapshot.write_text(json.dumps(snapshot, indent=1, sort_keys=True) + "\n")
    counts = f"{len(snapshot['advisories'])} advisories for {len(snapshot['packages'])} pins"
    _say(f"refresh: {counts} -> {args.snapshot}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cfp_dev.audit", description="dependency audit of the lock")
    p.add_argument("--lock", type=Path, default=LOCK)
    p.add_argument("--snapshot", type=Path, default=SNAPSHOT)
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="online (when it answers) + offline audit, exceptions applied")
    c.add_argument("--online", choices=["auto", "never", "require"], default="auto")
    c.add_argument("--timeout", type=float, default=120.0, help="seconds pip-audit may take")
    c.add_argument("--exceptions", type=Path, default=EXCEPTIONS)
    c.set_defaults(func=check)
    r = sub.add_parser("refresh", help="rewrite the snapshot from a pypa/advisory-database checkout")
    r.add_argument("--from", dest="source", type=Path, required=True, help="the checkout's root")
    r.add_argument("--commit", help="its commit (read with git when omitted)")
    r.add_argument("--date", help="its commit date, YYYY-MM-DD (read with git when omitted)")
    r.set_defaults(func=refresh)
    args = p.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
