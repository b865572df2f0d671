"""Writing a territory override into a run profile, keeping what the file already says.

The YAML is edited round-trip (ruamel.yaml), so existing keys, order and comments stay;
the result is validated like any profile (and, given the dataset, against its data)
before it replaces the file atomically: a bad value leaves the file untouched.
"""
from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ruamel.yaml import YAML

from analysis.contract import params as parameters
from analysis.errors import ParameterError
from analysis.report.publish import atomic_write

if TYPE_CHECKING:  # pragma: no cover
    from analysis.contract.dataset import Dataset


def _plain(value):
    """Mappings and sequences as plain dicts and lists (for validation)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def save_override(path: str | Path, territory_id: str, override: Mapping, ds: Dataset | None = None) -> dict:
    """Set ``overrides.<territory_id>`` in the profile at ``path`` (created if absent).

    Keys of ``override`` replace the same keys of an existing override; other keys and
    other territories are kept. The new profile is checked with
    :func:`~analysis.contract.params.check` (and with
    :func:`~analysis.contract.params.check_against_data` when ``ds`` is given) before
    anything is written. Returns the new profile as plain, checked data.
    """
    path = Path(path)
    if path.is_file():
        parameters.read_yaml(path)  # UTF-8, no anchors or aliases, no duplicate keys: else a clear error
    yaml = YAML()
    yaml.preserve_quotes = True
    document = yaml.load(path.read_text(encoding="utf-8-sig")) if path.is_file() else None
    if document is None:
        document = yaml.load("{}")
    if not isinstance(document, Mapping):
        raise ParameterError(f"{path}: a run profile must be a mapping of parameters")
    if document.get("overrides") is None:
        document["overrides"] = {}
    current = document["overrides"].get(territory_id) or {}
    document["overrides"][territory_id] = {**_plain(current), **_plain(override)}
    plain = _plain(document)
    checked = (parameters.check(plain, source=str(path)) if ds is None
               else parameters.check_against_data(plain, ds, source=str(path)))
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    atomic_write(path, buffer.getvalue())
    return checked
