"""Writing a territory override into a run profile, keeping what the file already says.

The YAML is edited round-trip (ruamel.yaml), so existing keys, order and comments stay;
the result is validated like any profile before it replaces the file atomically.
"""
from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

from ruamel.yaml import YAML

from analysis.contract import params as parameters
from analysis.errors import ParameterError
from analysis.report.publish import atomic_write


def _plain(value):
    """Mappings and sequences as plain dicts and lists (for validation)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def save_override(path: str | Path, territory_id: str, override: Mapping) -> dict:
    """Set ``overrides.<territory_id>`` in the profile at ``path`` (created if absent).

    Keys of ``override`` replace the same keys of an existing override; other keys and
    other territories are kept. Returns the new profile as plain data.
    """
    path = Path(path)
    yaml = YAML()
    yaml.preserve_quotes = True
    document = yaml.load(path.read_text(encoding="utf-8")) if path.is_file() else None
    if document is None:
        document = yaml.load("{}")
    if not isinstance(document, Mapping):
        raise ParameterError(f"{path}: a run profile must be a mapping of parameters")
    if document.get("overrides") is None:
        document["overrides"] = {}
    current = document["overrides"].get(territory_id) or {}
    document["overrides"][territory_id] = {**_plain(current), **_plain(override)}
    plain = _plain(document)
    parameters.check(plain, source=str(path))
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    atomic_write(path, buffer.getvalue())
    return plain
