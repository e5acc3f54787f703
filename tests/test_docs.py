"""The repo's own docs stay true: nothing points outside the repo, and `.env.example`
enables and configures every venue as the registry does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from arb.venues.registry import NAMES, SPECS

ROOT = Path(__file__).resolve().parent.parent
# Design notes that live beside the repo, never in it: no file of the repo may send a
# reader to them. Spelled in pieces so that this file does not name them itself.
OUTSIDE = ("DESIGN" + ".md", "exchanges" + ".md", "../" + "shared", "../" + "reference")
SKIP_DIRS = {".venv", ".git", "node_modules", "__pycache__", ".pytest_cache", ".ruff_cache"}


def repo_files(pattern: str) -> list[Path]:
    return sorted(p for p in ROOT.rglob(pattern) if not SKIP_DIRS & set(p.relative_to(ROOT).parts))


def test_the_docs_are_found():
    names = {p.relative_to(ROOT).as_posix() for p in repo_files("*.md")}
    assert {"README.md", "tests/fixtures/README.md"} <= names


@pytest.mark.parametrize(
    "path", [p.relative_to(ROOT).as_posix() for p in repo_files("*.md") + repo_files("*.py")]
)
def test_no_file_points_to_design_notes_outside_the_repo(path):
    if path == Path(__file__).relative_to(ROOT).as_posix():
        return
    text = (ROOT / path).read_text(encoding="utf-8")
    assert [name for name in OUTSIDE if name in text] == []


# `path/to/file.md` in backticks, or a markdown link's target: a file of the repo. Not
# an endpoint (`/v5/...`), a URL, a template (`arb/venues/<name>/`) or a query.
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
CODE = re.compile(r"`([^`\s]+)`")
FILE_LIKE = re.compile(r"^[\w.\-*]+(?:/[\w.\-*]+)*/?$")


def referenced_paths(text: str) -> set[str]:
    found = set(LINK.findall(text)) | {t for t in CODE.findall(text) if _file_like(t)}
    return {p for p in found if not re.match(r"^[a-z]+:", p)}  # no http:, mailto:


def _file_like(token: str) -> bool:
    if "/" not in token or token.startswith("/") or not FILE_LIKE.match(token):
        return False
    return token.endswith("/") or bool(re.search(r"\.(md|py|toml|json|txt|example)$", token))


def exists(doc: Path, ref: str) -> bool:
    """Relative to the document, or to the repo's root; a glob must match something."""
    for base in (doc.parent, ROOT):
        if any(base.glob(ref.rstrip("/"))) if "*" in ref else (base / ref).exists():
            return True
    return False


@pytest.mark.parametrize("path", [p.relative_to(ROOT).as_posix() for p in repo_files("*.md")])
def test_every_path_a_doc_names_is_in_the_repo(path):
    doc = ROOT / path
    refs = referenced_paths(doc.read_text(encoding="utf-8"))
    assert sorted(r for r in refs if not exists(doc, r)) == []


def test_the_path_check_would_catch_a_missing_file():
    text = "see `../reference/exchanges.md`, [notes](docs/NOTES.md) and `arb/http.py`"
    refs = referenced_paths(text)
    assert refs == {"../reference/exchanges.md", "docs/NOTES.md", "arb/http.py"}
    missing = sorted(r for r in refs if not exists(ROOT / "README.md", r))
    assert missing == ["../reference/exchanges.md", "docs/NOTES.md"]


# --- .env.example ----------------------------------------------------------------


def example_values() -> dict[str, str]:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    return dict(re.findall(r"^([A-Z0-9_]+)=(.*)$", text, re.M))


def test_env_example_enables_every_venue_of_the_registry():
    assert example_values()["ARB_VENUES"].split(",") == list(NAMES)


@pytest.mark.parametrize("venue", NAMES)
def test_env_example_gives_each_venue_its_default_urls_and_fee(venue):
    values, spec, prefix = example_values(), SPECS[venue], venue.upper()
    assert values[f"{prefix}_REST_URL"] == spec.rest_url
    assert values[f"{prefix}_WS_URL"] == spec.ws_url
    assert float(values[f"{prefix}_TAKER_FEE"]) == spec.taker_fee
