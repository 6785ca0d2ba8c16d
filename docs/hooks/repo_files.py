"""MkDocs hook: serve the repository files that the pages link to from outside docs/.

The pages link to files such as ``../samples/figure5.png`` or ``../examples/drop_in.py`` by their
path in the repository, so the same links work when the Markdown is read on a code host. MkDocs only
knows files under docs/, so this hook adds every such file that exists to the site at its
repository path, and points the link there. A Markdown file added this way (a README beside the
benchmarks) becomes a page, and its own ``../`` links are followed the same way, including links
back into docs/. A linked gan-mixup viewer (``index.html`` beside ``.gan-mixup-viewer``) brings its
scripts and data along. A link to a file that does not exist is left as written, so
``mkdocs build --strict`` reports it as broken. Nothing is downloaded.
"""
from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files, InclusionLevel

# ](../path) or ](../path#anchor "title"): inline links and images alike.
LINK = re.compile(r"\]\((?P<path>(?:\.\./)+[^)\s#]+)(?P<rest>[^)]*)\)")


def _paths(config: Any) -> tuple[Path, Path]:
    docs = Path(config["docs_dir"]).resolve()
    return docs, Path(config["config_file_path"]).resolve().parent


def _site_uri(source: Path, link: str, docs: Path, repo: Path) -> str | None:
    """Where the file a link names lies in the site (None: not an existing file of the repository)."""
    target = (source.parent / link).resolve()
    if not target.is_file():
        return None
    if target.is_relative_to(docs):
        return target.relative_to(docs).as_posix()
    if target.is_relative_to(repo):
        return target.relative_to(repo).as_posix()
    return None


def on_files(files: Files, config: Any) -> Files:
    docs, repo = _paths(config)
    todo = list(files.documentation_pages())
    while todo:
        page = todo.pop()
        source = Path(page.abs_src_path)
        for match in LINK.finditer(source.read_text(encoding="utf-8")):
            uri = _site_uri(source, match["path"], docs, repo)
            if uri is None or files.get_file_from_path(uri) is not None:
                continue
            added = File(uri, str(repo), config["site_dir"], config["use_directory_urls"],
                         inclusion=InclusionLevel.NOT_IN_NAV)
            files.append(added)
            if added.is_documentation_page():
                todo.append(added)
            for part in _viewer_files(Path(added.abs_src_path), repo):
                if files.get_file_from_path(part) is None:
                    files.append(File(part, str(repo), config["site_dir"], config["use_directory_urls"],
                                      inclusion=InclusionLevel.NOT_IN_NAV))
    return files


def _viewer_files(linked: Path, repo: Path) -> list[str]:
    """A linked ``index.html`` of a gan-mixup viewer (its folder holds ``.gan-mixup-viewer``) brings the
    viewer's other files along: its page loads them by relative path, which no Markdown link names."""
    folder = linked.parent
    if linked.name != "index.html" or not (folder / ".gan-mixup-viewer").is_file():
        return []
    return sorted(p.relative_to(repo).as_posix() for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    docs, repo = _paths(config)
    source = Path(page.file.abs_src_path)
    here = posixpath.dirname(page.file.src_uri) or "."

    def relink(match: re.Match[str]) -> str:
        uri = _site_uri(source, match["path"], docs, repo)
        if uri is None:
            return match[0]
        return f"]({posixpath.relpath(uri, here)}{match['rest']})"

    return LINK.sub(relink, markdown)
