"""The documentation holds together: every relative link and #anchor in the project's Markdown
files leads somewhere, and the README stays a front door, not the reference (that is docs/)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README_LIMIT = 15 * 1024
SKIPPED_FOLDERS = {"var", "test-artifacts", "build", "dist", "__pycache__"}  # and hidden ones

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*```")


def markdown_files() -> list[Path]:
    """The project's own Markdown: not the virtualenv's, not what tests or runs leave behind."""
    found = []
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [
            name for name in subfolders if name not in SKIPPED_FOLDERS and not name.startswith(".")
        ]
        found += [Path(folder, name) for name in files if name.endswith(".md")]
    return sorted(found)


def prose(path: Path) -> list[str]:
    """The file's lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in path.read_text().splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def anchors(path: Path) -> set[str]:
    """The heading anchors GitHub makes: lower case, punctuation dropped, spaces to hyphens,
    a repeated heading numbered."""
    seen: dict[str, int] = {}
    for line in prose(path):
        heading = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not heading:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading.group(1).replace("`", "").lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        if count:
            seen[f"{slug}-{count}"] = 1
    return set(seen)


def links(path: Path) -> list[str]:
    # Inline code may show link syntax as an example: drop it before looking for links.
    return [
        target
        for line in prose(path)
        for target in LINK.findall(re.sub(r"`[^`]*`", "", line))
        if not re.match(r"[a-z][a-z0-9+.-]*:", target)  # http:, https:, mailto:
    ]


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_it_links_only_to_files_and_headings_that_exist(path):
    broken = []
    for target in links(path):
        name, _, anchor = target.partition("#")
        destination = (path.parent / name).resolve() if name else path
        if not destination.exists():
            broken.append(f"{target}: no such file")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target}: no heading #{anchor} in {destination.relative_to(ROOT)}")
    assert not broken, f"{path.relative_to(ROOT)}: " + "; ".join(broken)


def test_it_keeps_the_readme_a_front_door():
    size = len((ROOT / "README.md").read_bytes())
    assert size <= README_LIMIT, (
        f"README.md is {size} bytes: keep it under {README_LIMIT} and put the reference in docs/"
    )


def test_it_checks_anchors_the_way_github_makes_them(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Security: sign-in, roles\n\n## `make run` twice\n\n## Notes\n\n## Notes\n")
    assert anchors(page) == {"security-sign-in-roles", "make-run-twice", "notes", "notes-1"}
