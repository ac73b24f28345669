"""The repository explains itself: no citation of a document a reader of it cannot open.

The code and docs once cited "reference §6.4", "../shared/DESIGN.md" and other notes that lived
beside the repository, not in it. The facts now live in docs/checkout-com.md (Checkout.com) and
docs/freshportal.md (FreshPortal), cited by section anchor. These tests keep it that way: an
outside citation fails, and so does a cited anchor that no heading of the page produces (a
renamed section would otherwise leave citations pointing nowhere).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCS = REPO_ROOT / "docs"
SCANNED = ["include", "airflow_provider", "dev", "dags", "plugins", "docs", "tests", "examples", "README.md"]
THIS_FILE = Path(__file__).resolve().relative_to(REPO_ROOT).as_posix()

SECTION = "\N{SECTION SIGN}"
#: (what it catches, pattern). Section numbers belong to outside notes: the project's own pages
#: are cited by anchor, never by "§".
OUTSIDE_CITATIONS = [
    ("a section number of an outside document", re.compile(SECTION + r"\s*\d")),
    ("the shared folder beside the repository", re.compile(r"\.\./shared|shared/reference")),
    ("an outside reference file", re.compile(r"reference/(checkout-com-api|freshportal)\.md")),
    ("outside notes", re.compile(r"airflow-3-notes|lessons-from-peers|DESIGN\.md")),
    ("an absolute path of this machine", re.compile(r"/work/(shared|main)\b")),
]

#: ``page.md#anchor`` with optional further ``, #anchor`` / `` and #anchor`` on the same page.
CITED_ANCHORS = re.compile(r"([\w-]+\.md)((?:#[\w-]+)(?:(?:,| and| \()\s*#[\w-]+)*)")


def _tracked_text_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "-z", "--", *SCANNED],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    files = []
    for name in filter(None, out.split("\0")):
        path = REPO_ROOT / name
        if name == THIS_FILE or not path.is_file():
            continue
        try:
            path.read_text(encoding="utf-8")
        except UnicodeDecodeError:  # binary fixtures cite nothing
            continue
        files.append(path)
    return files


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    anchors, fenced = set(), False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (m := re.match(r"#{1,6}\s+(.*)", line)):
            anchors.add(_slug(m.group(1)))
    return anchors


def test_the_slug_rule_matches_github() -> None:
    assert _slug("Captures, refunds and voids") == "captures-refunds-and-voids"
    assert (
        _slug("Decisions on what the reference leaves open ([U] items)")
        == "decisions-on-what-the-reference-leaves-open-u-items"
    )


@pytest.fixture(scope="module")
def tracked() -> list[Path]:
    files = _tracked_text_files()
    assert any(p.name == "checkout-com.md" for p in files)
    return files


def test_nothing_cites_a_document_outside_the_repository(tracked: list[Path]) -> None:
    found = []
    for path in tracked:
        for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for what, pattern in OUTSIDE_CITATIONS:
                if pattern.search(line):
                    found.append(f"{path.relative_to(REPO_ROOT)}:{no}: {what}: {line.strip()[:100]}")
    assert not found, "cite docs/checkout-com.md or docs/freshportal.md instead:\n" + "\n".join(found)


def test_every_cited_section_exists(tracked: list[Path]) -> None:
    pages: dict[str, set[str]] = {}
    missing = []
    for path in tracked:
        for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for m in CITED_ANCHORS.finditer(line):
                page = DOCS / m.group(1)
                if not page.is_file():
                    continue  # a page outside docs/ (README.md) or an example name in prose
                known = pages.setdefault(page.name, _anchors(page))
                for anchor in re.findall(r"#([\w-]+)", m.group(2)):
                    if anchor not in known:
                        missing.append(f"{path.relative_to(REPO_ROOT)}:{no}: {page.name}#{anchor}")
    assert not missing, "cited sections that no heading produces:\n" + "\n".join(missing)


def test_the_facts_page_has_the_sections_the_code_cites() -> None:
    anchors = _anchors(DOCS / "checkout-com.md")
    assert {
        "secret-keys",
        "oauth",
        "idempotency",
        "errors",
        "pagination",
        "payment-search",
        "balances",
        "captures-refunds-and-voids",
        "payment-links",
        "disputes",
        "financial-actions",
        "reports",
        "webhook-signatures",
        "webhook-delivery",
        "rate-limits",
        "timestamps",
    } <= anchors
