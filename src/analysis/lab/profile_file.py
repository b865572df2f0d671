"""Writing a territory's changes into a run profile, in place, keeping what the file says.

The YAML is edited round-trip (ruamel.yaml): only the keys given are set or removed,
inside the territory's existing override; every other key, its order, its style (flow
``{cut: median}`` or block) and the comments stay as they were. The edited profile is
validated like any profile (with the typed parameter model, and against the dataset when
one is given) before it replaces the file atomically: a bad value leaves the file
untouched and raises :class:`~analysis.errors.ParameterError` with the reason.

A key is a path inside the override, a tuple such as ``("segmentation", "q")`` or
``("fit_matrix", "loyal")``; :func:`dotted` spells it for people.
"""
from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import SingleQuotedScalarString
from ruamel.yaml.util import load_yaml_guess_indent

from analysis.contract import params as parameters
from analysis.errors import ParameterError
from analysis.report.publish import atomic_write

if TYPE_CHECKING:  # pragma: no cover
    from analysis.contract.dataset import Dataset

Key = tuple[str, ...]


def dotted(key: Key) -> str:
    """``("segmentation", "q")`` -> ``segmentation.q``."""
    return ".".join(str(k) for k in key)


def _plain(value):
    """Mappings and sequences as plain dicts and lists (for validation)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@dataclass
class Saved:
    """What a save did: the checked profile, the keys set and removed, the file's bytes
    before (``None``: there was no file) and after (for :func:`restore`)."""

    path: Path
    territory_id: str
    profile: dict
    written: dict[Key, Any] = field(default_factory=dict)
    cleared: list[Key] = field(default_factory=list)
    before: bytes | None = None
    after: bytes = b""


def _yaml() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long lines
    return yaml


def _find(node: Mapping, key: str):
    """The key of ``node`` that reads as ``key`` (an unquoted id such as 101 is an int)."""
    for existing in node:
        if str(existing) == str(key):
            return existing
    return None


def _is_flow(node) -> bool:
    return bool(getattr(node, "fa", None) is not None and node.fa.flow_style())


def _node(value, flow: bool):
    """``value`` as YAML nodes: lists in flow style (``[a, b]``), months quoted."""
    if isinstance(value, Mapping):
        out = CommentedMap()
        for k, v in value.items():
            out[k] = _node(v, flow)
        if flow:
            out.fa.set_flow_style()
        return out
    if isinstance(value, (list, tuple)):
        seq = CommentedSeq(_node(v, True) for v in value)
        seq.fa.set_flow_style()
        return seq
    if isinstance(value, str) and parameters._PERIOD.match(value):
        return SingleQuotedScalarString(value)
    return value


def _set(root: CommentedMap, key: Key, value) -> None:
    node = root
    for part in key[:-1]:
        found = _find(node, part)
        child = node[found] if found is not None else None
        if not isinstance(child, Mapping):
            child = CommentedMap()
            if _is_flow(node):
                child.fa.set_flow_style()
            node[part if found is None else found] = child
        node = child
    found = _find(node, key[-1])
    node[key[-1] if found is None else found] = _node(value, _is_flow(node))


def _clear(root: CommentedMap, key: Key) -> bool:
    """Remove ``key``; mappings left empty by it go too. True when something was removed."""
    trail = [root]
    for part in key[:-1]:
        found = _find(trail[-1], part)
        if found is None or not isinstance(trail[-1][found], Mapping):
            return False
        trail.append(trail[-1][found])
    found = _find(trail[-1], key[-1])
    if found is None:
        return False
    del trail[-1][found]
    for depth in range(len(key) - 1, 0, -1):
        if len(trail[depth]) == 0:
            del trail[depth - 1][_find(trail[depth - 1], key[depth - 1])]
        else:
            break
    return True


def _mapping_indent(text: str) -> int:
    """How far the file indents a nested mapping (2 when it has none)."""
    parent = None
    for line in text.splitlines():
        body = line.lstrip(" ")
        if not body or body.startswith(("#", "- ", "-\t")) or body == "-":
            continue
        column = len(line) - len(body)
        if parent is not None and column > parent:
            return column - parent
        parent = column if body.split("#")[0].rstrip().endswith(":") else None
    return 2


def _load(path: Path):
    """The round-trip document at ``path`` (an empty mapping when there is no file) and a
    YAML dumper with the file's own indentation."""
    yaml = _yaml()
    if not path.is_file():
        return yaml.load("{}"), yaml, None
    before = path.read_bytes()
    parameters.read_yaml(path)  # UTF-8, no anchors or aliases, no duplicate keys: else a clear error
    text = before.decode("utf-8-sig")
    if text.strip():
        mapping = _mapping_indent(text)
        _, seq_indent, block_seq = load_yaml_guess_indent(text)
        if block_seq is not None and seq_indent:  # the file has block sequences: keep their layout
            yaml.indent(mapping=mapping, sequence=max(seq_indent, block_seq + 2), offset=block_seq)
        else:
            yaml.indent(mapping=mapping, sequence=mapping + 2, offset=mapping)
    document = yaml.load(text)
    if document is None:
        document = yaml.load("{}")
    if not isinstance(document, Mapping):
        raise ParameterError(f"{path}: a run profile must be a mapping of parameters")
    return document, yaml, before


def save_changes(path: str | Path, territory_id: str, written: Mapping[Key, Any] | None = None,
                 cleared: Iterable[Key] = (), ds: Dataset | None = None) -> Saved:
    """Set the keys ``written`` and remove the keys ``cleared`` in ``overrides.<territory_id>``
    of the profile at ``path`` (created if absent); nothing else changes.

    An override left empty is removed. The whole new profile is checked with
    :func:`~analysis.contract.params.check` (and
    :func:`~analysis.contract.params.check_against_data` when ``ds`` is given) before the
    file is replaced; a problem raises :class:`ParameterError` and leaves the file as it was.
    """
    path = Path(path)
    written = {tuple(k): v for k, v in (written or {}).items()}
    cleared = [tuple(k) for k in cleared]
    document, yaml, before = _load(path)
    overrides_key = _find(document, "overrides")
    if overrides_key is None or not isinstance(document[overrides_key], Mapping):
        document[overrides_key or "overrides"] = CommentedMap()
        overrides_key = overrides_key or "overrides"
    overrides = document[overrides_key]
    tid = _find(overrides, territory_id)
    if tid is None or not isinstance(overrides[tid], Mapping):
        overrides[territory_id if tid is None else tid] = CommentedMap()
        tid = territory_id if tid is None else tid
    override = overrides[tid]
    removed = [key for key in cleared if _clear(override, key)]
    for key, value in written.items():
        _set(override, key, value)
    if len(override) == 0:
        del overrides[tid]
    plain = _plain(document)
    checked = (parameters.check(plain, source=str(path)) if ds is None
               else parameters.check_against_data(plain, ds, source=str(path)))
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    after = buffer.getvalue().encode("utf-8")
    atomic_write(path, after)
    return Saved(path, str(territory_id), checked, dict(written), removed, before, after)


def restore(saved: Saved) -> None:
    """Undo ``saved``: put the file back as it was before that save.

    Refused (:class:`ParameterError`) when the file changed since, so a later edit by hand
    or by another save is never lost.
    """
    path = saved.path
    now = path.read_bytes() if path.is_file() else None
    if now != saved.after:
        raise ParameterError(f"{path} changed since the save (edited by hand or saved again): not undone")
    if saved.before is None:
        path.unlink()
    else:
        atomic_write(path, saved.before)


def _leaves(mapping: Mapping, prefix: Key = ()) -> dict[Key, Any]:
    out = {}
    for key, value in mapping.items():
        if isinstance(value, Mapping) and value:
            out.update(_leaves(value, (*prefix, str(key))))
        else:
            out[(*prefix, str(key))] = value
    return out


def save_override(path: str | Path, territory_id: str, override: Mapping, ds: Dataset | None = None) -> dict:
    """Set every key of ``override`` (nested mappings key by key) in ``overrides.<territory_id>``
    of the profile at ``path``, in place (see :func:`save_changes`). Returns the new
    profile as plain, checked data."""
    return save_changes(path, territory_id, _leaves(override), ds=ds).profile
