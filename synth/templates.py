"""Prompt templates: Jinja2 with StrictUndefined, so a missing variable is an error naming it.

Each generator ships defaults in `templates/NAME.j2`; a user overrides any of them by file
(`--template NAME=FILE`). A template's variables are what it uses: `variables()` lists them and
`render` refuses a call that leaves one out, before anything is sent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gristmill.errors import UsageError

SHIPPED = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class Template:
    name: str
    source: str
    origin: str  # "shipped" or the override's path

    @property
    def digest(self) -> str:
        """Recorded with each example: which exact wording produced it."""
        return hashlib.sha256(self.source.encode()).hexdigest()[:16]

    def variables(self) -> set[str]:
        from jinja2 import meta

        return meta.find_undeclared_variables(_env().parse(self.source))

    def render(self, **values: Any) -> str:
        import jinja2

        missing = sorted(self.variables() - values.keys())
        if missing:
            raise UsageError(f"template {self.name} ({self.origin}): missing variable "
                             f"{missing[0]!r} (it uses: {', '.join(sorted(self.variables()))})")
        try:
            return _env().from_string(self.source).render(**values).strip()
        except jinja2.UndefinedError as e:  # an attribute or key of a given variable
            raise UsageError(f"template {self.name} ({self.origin}): {e.message}") from None


class Templates:
    """The shipped templates with the user's overrides laid over them."""

    def __init__(self, overrides: dict[str, Path] | None = None, shipped: Path = SHIPPED):
        self.overrides = dict(overrides or {})
        self.shipped = shipped  # the folder of defaults: the generators' or the eval judges'
        self._read: dict[str, Template] = {}  # each read and parsed once per run
        unknown = sorted(set(self.overrides) - set(shipped_names(shipped)))
        if unknown:
            raise UsageError(f"no template named {unknown[0]!r} to override "
                             f"(templates: {', '.join(shipped_names(shipped))})")

    def get(self, name: str) -> Template:
        if name not in self._read:
            self._read[name] = self._load(name)
        return self._read[name]

    def _load(self, name: str) -> Template:
        import jinja2

        path = self.overrides.get(name)
        origin = str(path) if path else "shipped"
        try:
            source = (path or self.shipped / f"{name}.j2").read_text(encoding="utf-8")
        except OSError as e:
            raise UsageError(f"cannot read template {name} from {origin}: {e.strerror or e}") from None
        try:
            _env().parse(source)
        except jinja2.TemplateSyntaxError as e:
            raise UsageError(f"template {name} ({origin}) line {e.lineno}: {e.message}") from None
        return Template(name, source, origin)


def shipped_names(directory: Path = SHIPPED) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.j2"))


def parse_overrides(pairs: list[str]) -> dict[str, Path]:
    """`NAME=FILE` pairs from the command line."""
    out = {}
    for pair in pairs:
        name, sep, file = pair.partition("=")
        if not sep or not name or not file:
            raise UsageError(f"--template takes NAME=FILE, not {pair!r}")
        out[name] = Path(file)
    return out


_ENV: list[Any] = []


def _env():
    if not _ENV:
        import jinja2

        _ENV.append(jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False,
                                       autoescape=False))
    return _ENV[0]
