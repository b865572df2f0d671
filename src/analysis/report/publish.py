"""Publication: every write under the output folder goes through here.

Files are written to a staging folder and moved into place one by one with an atomic
rename, so a reader (or an interrupted run) never sees a half-written file under a
published name, and a failed territory keeps its last good report.

Each published folder holds its record, ``.published.json``: the fingerprint of what
produced the folder and the sha256 (and size, modification time, inode) of every file
published in it. The record is removed
before the first file of a new version lands and written (atomically) after the last,
so whatever moment a run is killed, a folder either has a record that matches its files
or no record at all: :func:`verified_record` tells the two apart, and a folder without a
verified record is re-rendered by the next run, whatever ``manifest.json`` says.

:func:`check_output` refuses, before anything is written, an output folder that is a
file and any link where the batch would write (a territory folder that is a symbolic
link would be written through, outside the output folder).
"""
from __future__ import annotations

import hashlib
import html
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from analysis.errors import PublishError
from analysis.report import text

MANIFEST = "manifest.json"
INDEX = "index.html"
#: A published folder's record: fingerprint and file hashes, written after the files.
RECORD = ".published.json"


def safe_name(territory_id: str) -> str:
    """A folder name for a territory id that cannot leave the output folder."""
    cleaned = "".join(c if c.isalnum() or c in "-_" else "_" for c in str(territory_id)).strip("._")
    if not cleaned:
        raise PublishError(f"territory id {territory_id!r} gives no usable folder name")
    return cleaned


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_leftovers(folder: Path) -> list[Path]:
    """Remove the temporary files :func:`atomic_write` leaves in ``folder`` when a run is
    killed between writing and renaming (``.<name>.<random>.tmp``); returns them."""
    leftovers = [p for p in Path(folder).glob(".*.tmp") if p.is_file() and not p.is_symlink()]
    for path in leftovers:
        path.unlink(missing_ok=True)
    return leftovers


def file_hash(path: Path) -> str:
    """sha256 of one file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_folder(folder: Path) -> None:
    """Make the renames into ``folder`` durable (a power cut keeps them, or their absence)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_record(target: Path) -> dict | None:
    """A published folder's record as written (None: none, or unreadable)."""
    try:
        record = json.loads((Path(target) / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("files"), dict) else None


def _stamp(path: Path) -> dict:
    """What identifies one landed file without reading it: size, modification time, inode."""
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino}


def verified_record(target: Path) -> dict | None:
    """The folder's record when every file it lists is on disk with its recorded content, else None.

    None means the folder's files are not (all) those its record names: no record yet, a
    run killed while the folder's new files were landing, or a file changed since. A file
    still the very one published (same inode, size and modification time: a rename of
    another file changes them) is not read again; any other is hashed and compared.
    """
    record = read_record(target)
    if record is None:
        return None
    root = Path(target).resolve()
    for name, landed in record["files"].items():
        path = root / name
        if root not in path.resolve().parents or path.is_symlink() or not path.is_file():
            return None
        if not isinstance(landed, dict):
            return None
        if _stamp(path) != {k: landed.get(k) for k in ("size", "mtime_ns", "ino")} \
                and file_hash(path) != landed.get("sha256"):
            return None
    return record


def publish_folder(staging: Path, target: Path, record: Mapping | None = None) -> list[Path]:
    """Move every file of ``staging`` into ``target`` (same relative paths), atomically each,
    then write the folder's record (``record`` plus every published file's sha256 and stamp).

    The old record goes first, so a run killed in between leaves a folder without a
    record (re-rendered next time), never one whose record vouches for a mix of files.
    Files the old record listed that the new version does not have are removed. Files
    are moved largest-last so the report files land after their tables; the staging
    folder is removed afterwards.
    """
    staging, target = Path(staging), Path(target)
    files = sorted((p for p in staging.rglob("*") if p.is_file()), key=lambda p: (p.stat().st_size, str(p)))
    hashes = {str(p.relative_to(staging)): {"sha256": file_hash(p), **_stamp(p)} for p in files}  # kept by rename
    old = read_record(target) or {"files": {}}
    target.mkdir(parents=True, exist_ok=True)
    (target / RECORD).unlink(missing_ok=True)
    _fsync_folder(target)  # the record is gone before any new file lands
    moved = []
    for source in files:
        destination = target / source.relative_to(staging)
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, destination)
        moved.append(destination)
    for name in set(old["files"]) - set(hashes):  # published before, not in this version
        stale = target / name
        if target.resolve() in stale.resolve().parents and not stale.is_symlink():
            stale.unlink(missing_ok=True)
    for folder in {d.parent for d in moved} | {target}:
        _fsync_folder(folder)
    atomic_write(target / RECORD, json.dumps({**(record or {}), "files": hashes}, indent=1, default=str))
    shutil.rmtree(staging, ignore_errors=True)
    return moved


def check_output(out: Path, folders: Iterable[str] = (), work: Iterable[str] = ()) -> Path:
    """Refuse an output folder the batch cannot safely write, before anything is written.

    ``out`` (resolved: it may itself be a link the user chose) must be a folder or not
    exist yet, below folders that are folders. No path the batch writes into may be a
    symbolic link (nor anything but a folder): the output folders ``folders`` (relative to
    ``out``, each with its ``tables`` folder), the ``work`` folders, the manifest and the
    index page. Returns the resolved output folder; raises :class:`PublishError`.
    """
    out = Path(out).resolve()
    for folder in [out, *out.parents][::-1]:
        if folder.exists() and not folder.is_dir():
            raise PublishError(f"cannot write the output folder {out}: {folder} is a file, not a folder")
    for name in [*folders, *(f"{f}/tables" for f in folders), *work, MANIFEST, INDEX]:
        path = out / name
        if ".." in Path(name).parts or Path(name).is_absolute():
            raise PublishError(f"cannot write {path}: outside the output folder {out}")
        if path.is_symlink():
            raise PublishError(f"cannot write {path}: it is a symbolic link (to {os.readlink(path)}) and would be "
                               f"written through, possibly outside the output folder {out}; remove the link")
        expect_file = name in (MANIFEST, INDEX)
        if path.exists() and path.is_dir() == expect_file:
            kind = "a folder" if expect_file else "a file"
            raise PublishError(f"cannot write {path}: it is {kind}; remove it or choose another output folder")
    return out


def write_tables(tables: Mapping[str, pd.DataFrame], folder: Path) -> list[Path]:
    """Each table as ``<name>.csv`` (UTF-8; floats at full precision: they read back bit-identical)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in tables.items():
        path = folder / f"{name}.csv"
        frame.to_csv(path, index=False)
        paths.append(path)
    return paths


def read_manifest(out: Path) -> dict:
    path = Path(out) / MANIFEST
    if not path.is_file():
        return {"territories": {}}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return {"territories": {}}


def write_manifest(out: Path, manifest: dict) -> Path:
    path = Path(out) / MANIFEST
    atomic_write(path, json.dumps(manifest, indent=2, default=str, sort_keys=False))
    return path


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


INDEX_CSS = """
body{font-family:"Segoe UI","Helvetica Neue",Arial,sans-serif;color:#1f2933;max-width:1100px;margin:0 auto;padding:2rem}
h1{color:#0b5394;margin-bottom:.2rem}p.meta{color:#52606d;margin-top:0}
h2{color:#0b5394;border-bottom:1px solid #d9e2ec;margin-top:2rem}
table{border-collapse:collapse;width:100%;font-size:.92rem}
th{background:#0b5394;color:#fff;text-align:left;padding:.4rem .6rem;cursor:pointer;user-select:none}
th.num,td.num{text-align:right}td{padding:.35rem .6rem;border-bottom:1px solid #d9e2ec}
tr:nth-child(even) td{background:#f5f7fa}.ok{color:#1a7f37;font-weight:600}.failed{color:#b42318;font-weight:600}
.stale{color:#8a6d00;font-weight:600}a{color:#0b5394}
.caveats{background:#fff8e1;border-left:4px solid #f0b400;padding:.2rem 1rem;margin:1rem 0}
"""

SORT_SCRIPT = """
document.querySelectorAll('table.sortable th').forEach(function(th, col){
  th.addEventListener('click', function(){
    var body = th.closest('table').tBodies[0], rows = Array.from(body.rows);
    var asc = th.dataset.asc !== '1'; th.dataset.asc = asc ? '1' : '0';
    rows.sort(function(a, b){
      var x = a.cells[col].dataset.v || a.cells[col].textContent, y = b.cells[col].dataset.v || b.cells[col].textContent;
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return asc ? c : -c;
    });
    rows.forEach(function(r){ body.appendChild(r); });
  });
});
"""


def index_page(manifest: dict, title: str = "Territory reports") -> str:
    """A self-contained index page: territories grouped by region, sortable, linked."""
    esc = lambda v: html.escape(str(v))
    entries = manifest.get("territories", {})
    regions: dict[str, list[tuple[str, dict]]] = {}
    for tid, entry in sorted(entries.items()):
        regions.setdefault(str(entry.get("region", "")), []).append((tid, entry))
    columns = [("customers", "Customers", "{:,.0f}"), ("coverage", "Coverage", "{:.0%}"),
               ("support", "Support", "{:.1%}"), ("vip_share", "VIP share", "{:.0%}"),
               ("effort_on_priority", "Priority effort", "{:.0%}"), ("mismatched_effort", "Mismatched effort", "{:.0%}"),
               ("roi", "ROI", "{:.2f}")]
    parts = [f"<h1>{esc(title)}</h1>",
             f"<p class='meta'>Generated {esc(manifest.get('generated', ''))} · "
             f"analysis period {esc(manifest.get('analysis_period', ''))} · "
             f"{len(entries)} territories · renderer {esc(manifest.get('renderer', ''))}</p>"]
    caveats = [c for c in text.CAVEATS if any(c in text.codes((e.get("headline") or {}).get("caveats"))
                                             for e in entries.values())]
    if caveats:
        parts.append("<div class='caveats'>" + "".join(
            f"<p><b>{esc(text.CAVEATS[c][0])}</b>. {esc(text.CAVEATS[c][1])}"
            f" ({sum(c in text.codes((e.get('headline') or {}).get('caveats')) for e in entries.values())} of "
            f"{len(entries)} territories)</p>" for c in caveats) + "</div>")
    rollups = manifest.get("rollups", {})
    if rollups:
        links = []
        for key, entry in sorted(rollups.items(), key=lambda kv: (kv[1].get("kind") != "national", kv[0])):
            folder = esc(entry.get("folder", ""))
            state = "" if entry.get("status") == "ok" else f" <span class='{esc(entry.get('status'))}'>({esc(entry.get('status'))})</span>"
            target = (f"<a href='{folder}/report.html'>{esc(entry.get('territory_name', key))}</a> "
                      f"(<a href='{folder}/report.pdf'>PDF</a>)") if entry.get("published") else esc(entry.get("territory_name", key))
            links.append(f"<li>{target}{state}</li>")
        parts.append(f"<h2>Roll-up reports</h2><ul class='rollups'>{''.join(links)}</ul>")
    for region, items in sorted(regions.items()):
        parts.append(f"<h2>{esc(region) or 'No region'}</h2>")
        head = "".join(f"<th class='num'>{esc(label)}</th>" for _, label, _ in columns)
        parts.append(f"<table class='sortable'><thead><tr><th>Territory</th><th>Name</th>{head}"
                     "<th>Missing data</th><th>Status</th><th>Report</th></tr></thead><tbody>")
        for tid, entry in items:
            folder = entry.get("folder", safe_name(tid))
            figures = entry.get("headline", {}) or {}
            cells = []
            for key, _, pattern in columns:
                value = figures.get(key)
                shown = pattern.format(value) if isinstance(value, (int, float)) and value == value else "–"
                cells.append(f"<td class='num' data-v='{esc(value if value is not None else '')}'>{esc(shown)}</td>")
            status = entry.get("status", "")
            reason = f" — {esc(entry.get('error', ''))}" if status != "ok" and entry.get("error") else ""
            links = (f"<a href='{esc(folder)}/report.html'>HTML</a> · <a href='{esc(folder)}/report.pdf'>PDF</a> · "
                     f"<a href='{esc(folder)}/tables/'>tables</a>") if entry.get("published") else "–"
            missing = ", ".join(text.SHORT_REASONS.get(c, c) for c in text.codes(figures.get("caveats")))
            parts.append(f"<tr><td>{esc(tid)}</td><td>{esc(entry.get('territory_name', ''))}</td>{''.join(cells)}"
                         f"<td>{esc(missing)}</td><td class='{esc(status)}'>{esc(status)}{reason}</td><td>{links}</td></tr>")
        parts.append("</tbody></table>")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{esc(title)}</title>"
            f"<style>{INDEX_CSS}</style></head><body>{''.join(parts)}<script>{SORT_SCRIPT}</script></body></html>")


def write_index(out: Path, manifest: dict) -> Path:
    path = Path(out) / INDEX
    atomic_write(path, index_page(manifest))
    return path
