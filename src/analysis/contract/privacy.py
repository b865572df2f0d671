"""Privacy (DESIGN 5 ``privacy``): keyed, stable pseudonyms for customers and reps.

With ``privacy: pseudonymise`` the dataset is pseudonymised right after it is loaded and
before anything is written (the validated-input cache included), so no file under the
output folder carries a real name or a real id:

- ``customer_id`` becomes ``C-3F9A2C71B0D4`` and ``customer_name`` ``HCP 3F9A2C71B0D4``
  (the type's label and the same digits), in every table that carries a customer id
  (customers, sales, activities, phases);
- ``rep_id`` becomes ``R-9A0B...`` and ``rep_name`` ``Rep 9A0B...`` (reps, activities);
- ``account_id`` becomes ``AC-...``, ``activity_id`` ``A-...`` (16 digits: activities
  are many) and a territory's ``manager`` ``Manager ...``;
- every other customer column except the analysis inputs (type, territory, specialty,
  patient-flow and catchment numbers), and every column the data contract does not know
  in reps, activities and phases, is reduced to ``"filled"`` / empty: profile
  completeness still counts, nothing else is kept.

Territory ids and names, regions, products and markets are the company's own and stay.

The digits are an HMAC-SHA256 of the real value under a secret key, so the same
customer gets the same pseudonym every month (with the same key) while nobody without
the key can recompute or confirm one. 12 hex digits (48 bits) make a collision
practically impossible (about 2 in 100,000 runs at 100,000 customers); a collision in a
given dataset is detected and raised, never merged.

The key (:func:`load_key`) comes from ``--privacy-key FILE``, else the file named by
:data:`KEY_ENV`, else the per-user :data:`DEFAULT_KEY_FILE` (created on first use with 32
random bytes, mode 0600). It must never lie inside the output folder; caches are keyed
by :func:`key_fingerprint` (an HMAC of a constant, never the key).
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import sys
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.contract.dataset import Dataset
from analysis.contract.schema import TABLES
from analysis.errors import ParameterError

#: Environment variable naming the key file (used when no ``--privacy-key`` is given).
KEY_ENV = "TERRITORY_REPORTS_PRIVACY_KEY_FILE"
#: The per-user key file used when neither ``--privacy-key`` nor :data:`KEY_ENV` is set.
DEFAULT_KEY_FILE = Path("~/.config/territory-reports/privacy.key")
#: Bytes of a new key; a key file must hold at least :data:`MIN_KEY_BYTES`.
KEY_BYTES, MIN_KEY_BYTES = 32, 16
#: Hex digits of a pseudonym (48 bits); activity ids, far more numerous, get 64 bits.
DIGITS, ACTIVITY_DIGITS = 12, 16

TYPE_LABELS = {"hcp": "HCP", "department": "Department", "hospital": "Hospital", "pharmacy": "Pharmacy",
               "distributor": "Distributor", "supplier": "Supplier", "peripheral": "Peripheral"}

#: Customer columns kept as they are: what the analyses use and identifies nobody.
CUSTOMER_KEPT = ("customer_type", "territory_id", "specialty", "beds", "bed_turnover_per_month",
                 "indication_share", "catchment_population", "incidence_rate")
#: Customer columns that identify a person or an institution (reduced to filled/empty);
#: any other column outside :data:`CUSTOMER_KEPT` is reduced too.
IDENTIFYING = ("phone", "email", "city", "hometown", "university", "department")

#: Id namespaces: (prefix of the pseudonymous id, label of the pseudonymous name, digits).
NAMESPACES = {"customer": ("C-", None, DIGITS), "rep": ("R-", "Rep", DIGITS),
              "account": ("AC-", None, DIGITS), "activity": ("A-", None, ACTIVITY_DIGITS),
              "manager": (None, "Manager", DIGITS)}
#: Where each namespace's values live: table -> column -> namespace.
ID_COLUMNS = {
    "territories": {"manager": "manager"},
    "reps": {"rep_id": "rep"},
    "customers": {"customer_id": "customer", "account_id": "account"},
    "sales": {"customer_id": "customer"},
    "activities": {"activity_id": "activity", "customer_id": "customer", "rep_id": "rep"},
    "phases": {"customer_id": "customer"},
}
#: pandas' default dtype of text (object on pandas 2, str on pandas 3), for reduced columns.
_TEXT = pd.Series(["a"]).dtype
_FINGERPRINT_MESSAGE = b"territory-reports privacy key fingerprint v1"
#: What a pseudonymous id looks like, per namespace (matched whole).
_PSEUDONYMOUS = {ns: re.compile(rf"{re.escape(prefix)}[0-9A-F]{{{digits}}}")
                 for ns, (prefix, _, digits) in NAMESPACES.items() if prefix}


# --- the key -------------------------------------------------------------------------

def key_file(out: str | Path | None = None, explicit: str | Path | None = None) -> Path:
    """The key file to use: ``explicit``, else ``$TERRITORY_REPORTS_PRIVACY_KEY_FILE``, else
    the per-user default. Raises :class:`ParameterError` when it lies inside ``out``."""
    chosen = explicit or os.environ.get(KEY_ENV) or DEFAULT_KEY_FILE
    path = Path(chosen).expanduser().resolve()
    if out is not None:
        folder = Path(out).expanduser().resolve()
        if path == folder or folder in path.parents:
            raise ParameterError(f"privacy key file {path} lies inside the output folder {folder}: the key must "
                                 "never be published with the reports; move it elsewhere (e.g. "
                                 f"{DEFAULT_KEY_FILE}) and point --privacy-key or {KEY_ENV} at it")
    return path


def load_key(out: str | Path | None = None, explicit: str | Path | None = None) -> bytes:
    """The secret key (see :func:`key_file` for which file).

    The per-user default file is created on first use (32 random bytes, mode 0600) and
    that is said once on stderr; a file named by ``--privacy-key`` or the environment
    must exist. Raises :class:`ParameterError` for a missing, unreadable or too short key.
    """
    path = key_file(out, explicit)
    named = bool(explicit or os.environ.get(KEY_ENV))
    if not path.exists():
        if named:
            source = "--privacy-key" if explicit else KEY_ENV
            raise ParameterError(f"privacy key file not found: {path} (named by {source}); point it at an existing "
                                 f"key file, or unset it to use the per-user key {DEFAULT_KEY_FILE} "
                                 "(created on first use)")
        _create_key(path)
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise ParameterError(f"cannot read privacy key file {path}: {exc.strerror or exc}") from None
    if len(key) < MIN_KEY_BYTES:
        raise ParameterError(f"privacy key file {path} holds {len(key)} bytes; a key needs at least "
                             f"{MIN_KEY_BYTES} (e.g. {KEY_BYTES} random bytes)")
    return key


def _create_key(path: Path) -> None:
    """Write a new random key to ``path`` (mode 0600), atomically and never over another."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(KEY_BYTES))
        os.link(tmp, path)  # fails if another process created the key meanwhile: theirs stands
        print(f"territory-reports: created the privacy key {path} (keep it: the same key gives the same "
              "pseudonyms every run)", file=sys.stderr)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def key_fingerprint(key: bytes) -> str:
    """A short public fingerprint of ``key`` (an HMAC of a constant; reveals nothing of it)."""
    return hmac.new(key, _FINGERPRINT_MESSAGE, hashlib.sha256).hexdigest()[:16]


def cache_tag(params: Mapping, key: bytes | None) -> str:
    """What the privacy setting adds to cache keys: ``"none"`` or ``"pseudonymise:<fingerprint>"``."""
    if not pseudonymising(params):
        return "none"
    if key is None:
        raise ParameterError("privacy: pseudonymise needs a key (see analysis.contract.privacy.load_key)")
    return f"pseudonymise:{key_fingerprint(key)}"


def pseudonymising(params: Mapping) -> bool:
    """Whether the run profile asks for pseudonyms."""
    return params.get("privacy") == "pseudonymise"


# --- pseudonyms ----------------------------------------------------------------------

def digits(values: Iterable[str], namespace: str, key: bytes) -> list[str]:
    """The upper-case hex digits of each value's pseudonym in ``namespace``: the first
    digits of HMAC-SHA256(key, ``"territory-reports:<namespace>:" + value``).

    HMAC (RFC 2104) is built from two pre-keyed SHA-256 states copied per value, which is
    the same MAC as :func:`hmac.new` at twice its speed (millions of activity ids).
    """
    width = NAMESPACES[namespace][2]
    block = hashlib.sha256().block_size
    padded = (hashlib.sha256(key).digest() if len(key) > block else key).ljust(block, b"\0")
    inner0 = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
    inner0.update(f"territory-reports:{namespace}:".encode())
    outer0 = hashlib.sha256(bytes(b ^ 0x5C for b in padded))
    out = []
    for value in values:
        inner = inner0.copy()
        inner.update(str(value).encode())
        outer = outer0.copy()
        outer.update(inner.digest())
        out.append(outer.hexdigest()[:width].upper())
    return out


def pseudonym(value: str, namespace: str, key: bytes) -> str:
    """The pseudonymous id (``C-3F9A2C71B0D4``) or name (``Manager ...``) of one value."""
    prefix, label, _ = NAMESPACES[namespace]
    hexed = digits([value], namespace, key)[0]
    return f"{prefix}{hexed}" if prefix else f"{label} {hexed}"


def customer_name(customer_id: str, customer_type: str, key: bytes) -> str:
    """A customer's readable pseudonym, e.g. ``HCP 3F9A2C71B0D4`` (the digits of its id's)."""
    return f"{TYPE_LABELS.get(customer_type, 'Customer')} {digits([customer_id], 'customer', key)[0]}"


def _mapping(values: pd.Series, namespace: str, key: bytes) -> dict[str, str]:
    """Real value -> pseudonym for the distinct values; raises on a collision."""
    distinct = values.dropna().astype(str).unique().tolist()
    prefix, label, _ = NAMESPACES[namespace]
    hexed = digits(distinct, namespace, key)
    fake = [f"{prefix}{h}" if prefix else f"{label} {h}" for h in hexed]
    mapping = dict(zip(distinct, fake))
    if len(set(fake)) < len(fake):
        seen: dict[str, str] = {}
        for real, alias in mapping.items():
            if alias in seen:
                raise ParameterError(f"privacy: the {namespace} values {seen[alias]!r} and {real!r} get the same "
                                     f"pseudonym {alias!r} under this key (vanishingly rare); rather than merge "
                                     f"them, nothing was written: use another key ({KEY_ENV} or --privacy-key)")
            seen[alias] = real
    return mapping


def _replace(column: pd.Series, mapping: Mapping[str, str]) -> pd.Series:
    """``column`` with every value replaced by its pseudonym (missing stays missing)."""
    codes, uniques = pd.factorize(column)
    mapped = np.array([mapping[str(u)] for u in np.asarray(uniques, dtype=object)] + [None], dtype=object)
    return pd.Series(mapped[codes], index=column.index, dtype=column.dtype, name=column.name)


def _filled(column: pd.Series) -> pd.Series:
    """``"filled"`` where a value is present (not missing, not blank), else missing."""
    present = column.notna().to_numpy() & (column.astype(str).str.strip() != "").to_numpy()
    return pd.Series(np.where(present, "filled", None), index=column.index, dtype=_TEXT, name=column.name)


def _reduce(frame: pd.DataFrame, keep: Iterable[str]) -> pd.DataFrame:
    """``frame`` with every column outside ``keep`` reduced to filled/empty."""
    kept = set(keep)
    return frame.assign(**{c: _filled(frame[c]) for c in frame.columns if c not in kept})


def pseudonymise_dataset(ds: Dataset, key: bytes) -> Dataset:
    """``ds`` with customer and rep names and ids (and account, activity ids and managers)
    replaced by keyed pseudonyms, consistently in every table; see the module docstring.

    Raises :class:`ParameterError` if two distinct values would get the same pseudonym.
    """
    tables = {name: getattr(ds, name) for name in ID_COLUMNS}
    mappings = {}
    for namespace in NAMESPACES:
        values = [pd.Series(frame[col].dropna().unique(), dtype=object) for name, frame in tables.items()
                  if frame is not None for col, ns in ID_COLUMNS[name].items() if ns == namespace and col in frame]
        if values:
            mappings[namespace] = _mapping(pd.concat(values, ignore_index=True), namespace, key)
    out = {}
    for name, frame in tables.items():
        if frame is None:
            out[name] = None
            continue
        frame = frame.assign(**{col: _replace(frame[col], mappings[ns])
                                for col, ns in ID_COLUMNS[name].items() if col in frame})
        if name == "customers":
            names = pd.Series([f"{TYPE_LABELS.get(t, 'Customer')} {c[2:]}"
                               for c, t in zip(frame["customer_id"], frame["customer_type"])],
                              index=frame.index, dtype=frame["customer_name"].dtype)
            frame = _reduce(frame.assign(customer_name=names),
                            ["customer_id", "customer_name", "account_id", *CUSTOMER_KEPT])
        elif name == "reps":
            names = pd.Series([f"Rep {r[2:]}" for r in frame["rep_id"]], index=frame.index,
                              dtype=frame["rep_name"].dtype)
            frame = _reduce(frame.assign(rep_name=names), TABLES["reps"].columns)
        elif name in ("activities", "phases"):
            frame = _reduce(frame, TABLES[name].columns)
        out[name] = frame
    if ds.summaries is not None:  # their ids too (the sales summary holds territory ids only)
        contacts = ds.summaries.contacts
        contacts = contacts.assign(customer_id=_replace(contacts["customer_id"], mappings.get("customer", {})),
                                   rep_id=_replace(contacts["rep_id"], mappings.get("rep", {})))
        out["summaries"] = replace(ds.summaries, contacts=contacts)
    if ds.window_sales is not None:  # the sales summed out of core: their customer ids too
        out["window_sales"] = {months: units.assign(customer_id=_replace(units["customer_id"],
                                                                         mappings.get("customer", {})))
                               for months, units in ds.window_sales.items()}
    return replace(ds, **out)


def is_pseudonymised(ds: Dataset) -> bool:
    """Whether every customer and rep id of ``ds`` is already a pseudonym (so a second
    pass would only garble them)."""
    ids = [ds.customers["customer_id"], ds.reps["rep_id"]]
    if not sum(len(s) for s in ids):
        return False
    return all(_all_pseudonymous(s, ns) for s, ns in zip(ids, ("customer", "rep")))


def _all_pseudonymous(values: pd.Series, namespace: str) -> bool:
    return bool(values.astype(str).str.fullmatch(_PSEUDONYMOUS[namespace].pattern).all())


def apply_dataset(ds: Dataset, params: Mapping, key: bytes | None = None) -> Dataset:
    """``ds`` as the run profile's ``privacy`` setting allows it to be used.

    No-op for ``privacy: none`` and for a dataset already pseudonymised (e.g. read from
    the batch's input cache). ``key`` None: :func:`load_key` (no output-folder check).
    """
    if not pseudonymising(params) or is_pseudonymised(ds):
        return ds
    return pseudonymise_dataset(ds, load_key() if key is None else key)


# --- the customers table alone (older entry points) ----------------------------------

def pseudonymise(customers: pd.DataFrame, key: bytes) -> pd.DataFrame:
    """Customers with keyed pseudonyms for names (ids kept: other tables refer to them)
    and every non-analysis column reduced to filled/empty. Prefer :func:`apply_dataset`,
    which replaces the ids too, everywhere."""
    out = customers.copy()
    hexed = digits(out["customer_id"], "customer", key)
    out["customer_name"] = [f"{TYPE_LABELS.get(t, 'Customer')} {h}" for h, t in zip(hexed, out["customer_type"])]
    return _reduce(out, ["customer_id", "customer_name", *CUSTOMER_KEPT])


def apply(customers: pd.DataFrame, params: Mapping) -> pd.DataFrame:
    """The customers table as the ``privacy`` setting allows it to be shown.

    Safe on a table already pseudonymised by :func:`apply_dataset` (returned as it is);
    otherwise, with ``privacy: pseudonymise``, names are pseudonymised (see
    :func:`pseudonymise`). Kept for callers that have not moved to :func:`apply_dataset`.
    """
    if not pseudonymising(params):
        return customers
    if len(customers) and _all_pseudonymous(customers["customer_id"], "customer"):
        return customers
    return pseudonymise(customers, load_key())
