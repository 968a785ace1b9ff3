"""YAML that cannot hurt: files read to a size cap as UTF-8 (a bad byte named by its line), and
parsed with a cap on what aliases expand to.

A config is a few KB; `--recipe /dev/zero` or a 300-byte "billion laughs" file (aliases of aliases,
nine deep) must end in a message, not in a machine out of memory. PyYAML shares an alias's node
rather than copying it, so the blow-up comes later, when the settings are validated or hashed:
the expanded size is counted on the composed nodes, before anything is built from them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from gristmill.errors import UsageError

MAX_BYTES = 4 << 20  # far past any config, far below harm
MAX_NODES = 1_000_000  # scalars, lists and mappings once every alias is expanded


class _BoundedLoader(yaml.SafeLoader):
    def compose_document(self) -> yaml.Node:
        node = super().compose_document()
        if _expanded(node, {}) > MAX_NODES:
            raise yaml.YAMLError(f"aliases expand to more than {MAX_NODES:,} values")
        return node


def _expanded(node: yaml.Node, seen: dict[int, int]) -> int:
    """Values under `node` with aliases expanded; each shared node is counted once per use
    but walked once."""
    if id(node) in seen:
        return seen[id(node)]
    if isinstance(node, yaml.SequenceNode):
        total = 1 + sum(_expanded(child, seen) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        total = 1 + sum(_expanded(k, seen) + _expanded(v, seen) for k, v in node.value)
    else:
        total = 1
    seen[id(node)] = total
    return total


def parse(text: str, where: str) -> Any:
    """The value of a YAML document, or one message naming `where` and what is wrong."""
    try:
        return yaml.load(text, Loader=_BoundedLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as e:
        raise UsageError(f"{where}: not valid YAML: {e}") from None
    except RecursionError:
        raise UsageError(f"{where}: not valid YAML: nested too deeply") from None


def read(path: Path, what: str) -> Any:
    """The YAML document in `path`; refused when larger than MAX_BYTES or not UTF-8."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise UsageError(f"cannot read {what} from {path}: {e.strerror or e}") from None
    if len(data) > MAX_BYTES:
        raise UsageError(f"{path}: {what} is larger than {MAX_BYTES >> 20} MiB; a config is a "
                         "few KB (is this the right file?)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise UsageError(f"{path}:{line}: {what} is not UTF-8 (byte 0x{data[e.start]:02x}); "
                         "save it as UTF-8") from None
    return parse(text, str(path))
