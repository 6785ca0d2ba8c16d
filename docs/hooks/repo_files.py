"""MkDocs hook: serve the repository files that the pages link to from outside docs/.

The pages link to files such as ``../samples/figure5.png`` or ``../examples/drop_in.py`` by their
path in the repository, so the same links work when the Markdown is read on a code host. MkDocs only
knows files under docs/, so this hook adds every such file that exists to the site at its
repository path and points the link there. A link to a file that does not exist is left as written,
so ``mkdocs build --strict`` reports it as broken. Nothing is downloaded.
"""
from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files, InclusionLevel

# ](../path) or ](../path#anchor), with optional link title; inline links and images alike.
LINK = re.compile(r"\]\((?P<path>(?:\.\./)+[^)\s#]+)(?P<rest>[^)]*)\)")


def _repo_target(page_uri: str, link: str, docs_dir: Path, repo: Path) -> str | None:
    """The repository-relative path a page's ``../`` link names, when it is an existing file outside docs/."""
    target = (docs_dir / posixpath.dirname(page_uri) / link).resolve()
    try:
        target.relative_to(docs_dir.resolve())
        return None  # inside docs/: MkDocs checks it itself
    except ValueError:
        pass
    try:
        relative = target.relative_to(repo.resolve())
    except ValueError:
        return None
    return relative.as_posix() if target.is_file() else None


def on_files(files: Files, config: Any) -> Files:
    docs_dir = Path(config["docs_dir"])
    repo = Path(config["config_file_path"]).parent
    wanted: set[str] = set()
    for page in list(files.documentation_pages()):
        for match in LINK.finditer(Path(page.abs_src_path).read_text(encoding="utf-8")):
            target = _repo_target(page.src_uri, match["path"], docs_dir, repo)
            if target is not None:
                wanted.add(target)
    for target in sorted(wanted):
        if files.get_file_from_path(target) is None:
            files.append(File(target, str(repo), config["site_dir"], config["use_directory_urls"],
                              inclusion=InclusionLevel.NOT_IN_NAV))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    docs_dir = Path(config["docs_dir"])
    repo = Path(config["config_file_path"]).parent
    page_uri = page.file.src_uri
    if not Path(page.file.abs_src_path).resolve().is_relative_to(docs_dir.resolve()):
        return markdown  # a repository file served by this hook: its links are its own

    def relink(match: re.Match[str]) -> str:
        target = _repo_target(page_uri, match["path"], docs_dir, repo)
        if target is None:
            return match[0]
        return f"]({posixpath.relpath(target, posixpath.dirname(page_uri) or '.')}{match['rest']})"

    return LINK.sub(relink, markdown)
