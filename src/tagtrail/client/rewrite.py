"""Finding image references in files, and editing them in place without touching anything else.

Files are read as lines (split on ``\\n`` only, so ``\\r\\n`` endings, trailing whitespace and
comments survive) and an edit replaces exactly the characters of one reference; YAML is never
parsed and re-dumped.

- Dockerfiles (``Dockerfile``, ``Containerfile``, ``*.Dockerfile``, ``Dockerfile.*``, ...):
  the image of each ``FROM [--flag=...] IMAGE [AS name]``, continuation lines and heredocs
  understood. ``scratch`` and earlier stages' names are not images; a reference built from an
  ``ARG`` (``$VAR``, ``${VAR}``) is reported and left alone.
- Compose files (``compose.yaml``, ``docker-compose*.yml``, or YAML with a top-level
  ``services:``) and Kubernetes manifests (YAML with top-level ``apiVersion:`` and ``kind:``):
  every ``image:`` key with a plain or quoted scalar on its line. Values with ``${...}`` or
  ``{{ ... }}`` are reported and left alone.

A file named on the command line is read even when its name says nothing: YAML for its
``image:`` keys, anything else as a Dockerfile if it is shaped like one (a ``FROM``, and only
``ARG`` before it). Files read and
found to be none of these (YAML in a directory that is neither compose nor Kubernetes, a named
file with nothing to pin) are listed as skipped, so nothing is ignored silently.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tagtrail.client.errors import UsageError

Kind = Literal["dockerfile", "compose", "kubernetes", "yaml"]

YAML_SUFFIXES = frozenset({".yml", ".yaml"})
SKIPPED_DIRECTORIES = frozenset({".git", ".hg", ".svn", "node_modules"})
_DOCKERFILE_RE = re.compile(
    r"(?:(?:docker|container)file(?:[.-].+)?|.+\.(?:docker|container)file)", re.IGNORECASE
)
# Names such as Dockerfile.md or Dockerfile.sh are about a Dockerfile, not one.
_NOT_DOCKERFILE_SUFFIXES = frozenset(
    {".md", ".txt", ".rst", ".adoc", ".json", ".py", ".sh", ".bak", ".orig", ".swp", ".j2"}
)
_COMPOSE_RE = re.compile(r"(?:docker-)?compose(?:[.-].+)?\.ya?ml", re.IGNORECASE)
_SERVICES_RE = re.compile(r"^services\s*:", re.MULTILINE)
_API_VERSION_RE = re.compile(r"^apiVersion\s*:", re.MULTILINE)
_KIND_RE = re.compile(r"^kind\s*:", re.MULTILINE)
_TOKEN_RE = re.compile(r"\S+")
_HEREDOC_RE = re.compile(r"<<-?\s*([\"']?)([A-Za-z_][A-Za-z0-9_]*)\1")
_IMAGE_LINE_RE = re.compile(
    r"""^(?P<lead>[ \t]*(?:-[ \t]+)?)(?P<key>image|"image"|'image')[ \t]*:[ \t]+"""
    r"""(?P<quote>["']?)(?P<ref>[^\s"'#]+)(?P=quote)[ \t]*(?:#.*)?$"""
)


@dataclass(frozen=True, slots=True)
class Site:
    """A reference in a file: line index (0-based) and its character span on that line."""

    line: int
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Skip:
    """A reference left alone, and why."""

    line: int
    text: str
    reason: str


@dataclass
class SourceFile:
    path: Path
    kind: Kind
    original: str
    sites: list[Site] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        return self.original.split("\n")

    def render(self, replacements: Mapping[Site, str]) -> str:
        """The file's text with each site's reference replaced by its replacement."""
        lines = self.lines
        by_line: dict[int, list[tuple[Site, str]]] = {}
        for site, text in replacements.items():
            by_line.setdefault(site.line, []).append((site, text))
        for index, edits in by_line.items():
            line = lines[index]
            for site, text in sorted(edits, key=lambda edit: edit[0].start, reverse=True):
                assert line[site.start : site.end] == site.text, (line, site)
                line = line[: site.start] + text + line[site.end :]
            lines[index] = line
        return "\n".join(lines)


# -- which files --------------------------------------------------------------------------


def is_dockerfile(path: Path) -> bool:
    return (
        _DOCKERFILE_RE.fullmatch(path.name) is not None
        and path.suffix.lower() not in _NOT_DOCKERFILE_SUFFIXES
    )


def yaml_kind(path: Path, text: str) -> Kind | None:
    """compose, kubernetes, or None for other YAML."""
    if _COMPOSE_RE.fullmatch(path.name) or _SERVICES_RE.search(text):
        return "compose"
    if _API_VERSION_RE.search(text) and _KIND_RE.search(text):
        return "kubernetes"
    return None


def _excluded(path: Path, root: Path, patterns: Sequence[str]) -> bool:
    candidates = {path.name, path.as_posix()}
    if path.is_relative_to(root):
        candidates.add(path.relative_to(root).as_posix())
    return any(fnmatch.fnmatchcase(c, p) for c in candidates for p in patterns)


def _walk(root: Path, patterns: Sequence[str]) -> Iterator[Path]:
    for directory, subdirectories, files in os.walk(root):
        here = Path(directory)
        subdirectories[:] = sorted(
            d
            for d in subdirectories
            if d not in SKIPPED_DIRECTORIES and not _excluded(here / d, root, patterns)
        )
        for name in sorted(files):
            path = here / name
            if not _excluded(path, root, patterns) and (
                is_dockerfile(path) or path.suffix.lower() in YAML_SUFFIXES
            ):
                yield path


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text") from exc
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc


SKIPPED_FILE = "skipped: not a Dockerfile, compose file or Kubernetes manifest"


@dataclass
class Loaded:
    """The files scanned for references, and those read and skipped (see SKIPPED_FILE)."""

    files: list[SourceFile] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)


def load(paths: Sequence[Path], excludes: Sequence[str] = ()) -> Loaded:
    """The files under ``paths`` that hold references, scanned. A file named on the command
    line is always read; in a directory, Dockerfiles (by name) and YAML files are, and the
    YAML kept when it is a compose file or a Kubernetes manifest."""
    found = Loaded()
    seen: set[Path] = set()
    for given in paths:
        if given.is_dir():
            candidates = [(path, False) for path in _walk(given, excludes)]
        elif given.is_file():
            candidates = [(given, True)]
        else:
            raise UsageError(f"no such file or directory: {given}")
        for path, explicit in candidates:
            if path.resolve() in seen:
                continue
            seen.add(path.resolve())
            scanned = scan(path, _read(path), explicit=explicit)
            if scanned is None:
                found.skipped.append(path)
            else:
                found.files.append(scanned)
    return found


def scan(path: Path, text: str, *, explicit: bool = False) -> SourceFile | None:
    """``path`` scanned, or None when it is not a file to pin (see the module's rules)."""
    if path.suffix.lower() in YAML_SUFFIXES:
        kind = yaml_kind(path, text)
        if kind is None and not explicit:
            return None
        source = SourceFile(path, kind or "yaml", text)
        _scan_yaml(source)
        if kind is None and not (source.sites or source.skipped):
            return None
        return source
    named = is_dockerfile(path)
    if not explicit and not named:
        return None
    source = SourceFile(path, "dockerfile", text)
    if not _scan_dockerfile(source) and not named:
        return None
    return source


# -- Dockerfiles --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    line: int
    start: int
    end: int
    text: str


def _instructions(lines: list[str]) -> Iterator[list[_Token]]:
    """Each instruction's tokens (with positions), across continuation lines; comments and
    heredoc bodies skipped."""
    index = 0
    while index < len(lines):
        text = lines[index].rstrip("\r")
        if not text.strip() or text.lstrip().startswith("#"):
            index += 1
            continue
        tokens: list[_Token] = []
        heredocs: list[str] = []
        while True:
            body = text.rstrip()
            # A comment (or empty) line inside an instruction is dropped; the instruction
            # goes on.
            inside = bool(tokens) and (not body or body.lstrip().startswith("#"))
            continued = inside or body.endswith("\\")
            if body.endswith("\\"):
                body = body[:-1]
            if not (tokens and body.lstrip().startswith("#")):
                tokens += [
                    _Token(index, m.start(), m.end(), m.group()) for m in _TOKEN_RE.finditer(body)
                ]
                heredocs += [m.group(2) for m in _HEREDOC_RE.finditer(body)]
            index += 1
            if not continued or index >= len(lines):
                break
            text = lines[index].rstrip("\r")
        for word in heredocs:
            while index < len(lines) and lines[index].rstrip("\r").strip() != word:
                index += 1
            index += 1
        yield tokens


def _scan_dockerfile(source: SourceFile) -> bool:
    """Collect the FROM images; whether the text is shaped like a Dockerfile: a FROM, and
    only ARGs before the first one (so prose with a line starting "From" is not)."""
    stages: set[str] = set()
    shaped: bool | None = None
    for tokens in _instructions(source.lines):
        keyword = tokens[0].text.upper() if tokens else ""
        if shaped is None and keyword not in ("", "ARG"):
            shaped = keyword == "FROM"
        if keyword != "FROM":
            continue
        arguments = tokens[1:]
        while arguments and arguments[0].text.startswith("--"):
            arguments = arguments[1:]
        if not arguments:
            continue
        image, rest = arguments[0], arguments[1:]
        name = image.text
        if name.lower() == "scratch" or name.lower() in stages:
            pass
        elif "$" in name:
            source.skipped.append(Skip(image.line, name, "built from an ARG; left alone"))
        else:
            source.sites.append(Site(image.line, image.start, image.end, name))
        if len(rest) >= 2 and rest[0].text.lower() == "as":
            stages.add(rest[1].text.lower())
    return bool(shaped)


# -- YAML ---------------------------------------------------------------------------------


def _scan_yaml(source: SourceFile) -> None:
    for index, raw in enumerate(source.lines):
        match = _IMAGE_LINE_RE.match(raw.rstrip("\r"))
        if match is None:
            continue
        value = match.group("ref")
        if "$" in value or "{{" in value or "}}" in value:
            source.skipped.append(Skip(index, value, "uses a variable or template; left alone"))
            continue
        source.sites.append(Site(index, match.start("ref"), match.end("ref"), value))
