"""The data contract (DESIGN 3): which tables a dataset has, their columns and rules.

Everything here is declarative; :mod:`analysis.contract.dataset` reads it to load and validate a
dataset, and the analyses import the domain constants (customer types, channels,
outcomes, phases) from here so that every module agrees on them.

Column kinds:

``id``       an identifier, always read as text (``"007"`` stays ``"007"``)
``text``     free text
``number``   a number (stored as float64)
``integer``  a whole number (stored as float64, so that it may be missing)
``bool``     true/false (also 1/0, yes/no; any case)
``period``   a calendar month written ``YYYY-MM``
``date``     a day written ``YYYY-MM-DD``
``enum:a|b`` one of the listed values (see :func:`enum_values`)
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# --- domain values -------------------------------------------------------------------

#: Customer types; the first four prescribe and are segmented (DESIGN 4.3), the last
#: three are kept for relationship maintenance (DESIGN 4.7).
CUSTOMER_TYPES = ("hcp", "department", "hospital", "pharmacy", "distributor", "supplier", "peripheral")
SEGMENTABLE_TYPES = ("hcp", "department", "hospital", "pharmacy")
MAINTENANCE_TYPES = ("supplier", "distributor", "peripheral")

#: The ten channels of DESIGN 3, in its order. A run profile may declare more
#: (``extra_channels``).
CHANNELS = (
    "f2f_visit", "phone", "email", "web_interview", "web_lecture",
    "offline_lecture", "briefing_session", "chat_app", "edetailing", "social",
)

#: Customer response to an activity; a positive response is ``engaged`` or ``attended``.
OUTCOMES = ("none", "opened", "engaged", "attended")
POSITIVE_OUTCOMES = ("engaged", "attended")

#: The behaviour-change ladder, lowest to highest (DESIGN 4.4).
PHASES = ("unaware", "aware", "interested", "trial", "adopter", "loyal")
#: Without activities the rungs below ``trial`` cannot be told apart (DESIGN 4.4): customers
#: without own units are "not yet prescribing".
BELOW_TRIAL = "below_trial"
#: Every phase a customer can be given, in ladder order (``below_trial`` stands for the
#: three rungs below ``trial``, and only occurs in data without activities).
PHASE_LEVELS = ("unaware", "aware", "interested", BELOW_TRIAL, "trial", "adopter", "loyal")
#: The phases of a sales-only dataset.
SALES_ONLY_PHASES = (BELOW_TRIAL, "trial", "adopter", "loyal")
#: Position of each phase on the ladder (0 = unaware), for comparing phases; ``below_trial``
#: ranks with ``interested``, just below ``trial``.
PHASE_RANK = {**{phase: rank for rank, phase in enumerate(PHASES)}, BELOW_TRIAL: PHASES.index("trial") - 1}

#: The potential algorithms (DESIGN 4.1).
POTENTIAL_METHODS = ("market_sum", "patient_flow", "catchment")

#: Rep roles.
ROLES = ("chronic", "specialty")

# --- column kinds --------------------------------------------------------------------

ID, TEXT, NUMBER, INTEGER, BOOL, PERIOD, DATE = "id", "text", "number", "integer", "bool", "period", "date"


def enum(values: tuple[str, ...]) -> str:
    """The kind of a column holding one of ``values``."""
    return "enum:" + "|".join(values)


def enum_values(kind: str) -> tuple[str, ...] | None:
    """The allowed values of an ``enum:`` kind (``None`` for other kinds)."""
    return tuple(kind[len("enum:"):].split("|")) if kind.startswith("enum:") else None


#: The channel column's kind; the only enum a run profile can extend.
CHANNEL_KIND = enum(CHANNELS)


def allowed_values(kind: str, extra_channels: tuple[str, ...] = ()) -> tuple[str, ...] | None:
    """The values a column of ``kind`` may take: an enum's, the channels with the run
    profile's ``extra_channels`` (``None`` for kinds that are not enums)."""
    allowed = enum_values(kind)
    if allowed is not None and kind == CHANNEL_KIND:
        return allowed + tuple(extra_channels)
    return allowed


#: Regular expressions of the written forms.
PERIOD_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"


@dataclass(frozen=True)
class Bound:
    """An allowed numeric range: ``minimum <= x`` (``<`` when exclusive) ``<= maximum``,
    and a sanity ``limit``: ``|x| <= limit``.

    The range is the meaning of the column (units are never negative, a share is at most
    1). The limit is where a value stops being data: larger values are taken for an
    export glitch or a unit slip (see :data:`MAX_AMOUNT`), and are rejected with their own
    rule so that the message says which one was broken.
    """

    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    limit: float | None = None

    def describe(self, column: str) -> str:
        """The range rule in words, e.g. ``units must be >= 0``."""
        if self.minimum is not None and self.maximum is not None:
            return f"{column} must be between {self.minimum:g} and {self.maximum:g}"
        if self.minimum is not None:
            return f"{column} must be {'>' if self.exclusive_minimum else '>='} {self.minimum:g}"
        if self.maximum is not None:
            return f"{column} must be <= {self.maximum:g}"
        return self.describe_limit(column)

    def describe_limit(self, column: str) -> str:
        """The sanity limit in words, e.g. ``units must be <= 1e+12 (sanity limit)``."""
        if self.minimum is not None and self.minimum >= 0:
            return f"{column} must be <= {self.limit:g} (sanity limit)"
        return f"{column} must be between {-self.limit:g} and {self.limit:g} (sanity limit)"


#: Sanity limits ("absurd" values). A value beyond them is a data error, not data: the
#: analyses multiply and sum these columns (potentials = beds x turnover x share x boxes;
#: a national total sums millions of rows), and these limits keep every result finite
#: and far from float64 overflow (about 1.8e308), where 1e308 units would become ``inf``.
#:
#: ``MAX_AMOUNT``: units, costs (per activity, per rep day) and unit margins.
MAX_AMOUNT = 1e12
#: ``MAX_BEDS``: beds of one customer (the largest hospitals have about 1e4).
MAX_BEDS = 1e5
#: ``MAX_POPULATION``: catchment population (the world has about 8e9 people).
MAX_POPULATION = 1e10
#: ``MAX_RATE``: patients per bed per month, units per box, boxes per patient.
MAX_RATE = 1e6

#: Control characters rejected in id columns: every C0 character (tab and line breaks
#: included), DEL and the C1 range; an id is a file-name, URL and key component.
ID_CONTROL_PATTERN = r"[\x{00}-\x{1f}\x{7f}-\x{9f}]"
#: Control characters rejected in text columns (names, regions, content): C0 except tab,
#: line feed and carriage return (a quoted CSV cell may hold a line break), DEL and C1.
#: NUL, BEL, ESC and the like are never meant in a name: they come from a broken export
#: and would reach every output (HTML, PDF, CSV) raw, so they are errors naming the rows
#: rather than characters silently dropped.
TEXT_CONTROL_PATTERN = r"[\x{00}-\x{08}\x{0b}\x{0c}\x{0e}-\x{1f}\x{7f}-\x{9f}]"

NON_NEGATIVE = Bound(minimum=0)
POSITIVE = Bound(minimum=0, exclusive_minimum=True)
SHARE = Bound(minimum=0, maximum=1)
#: Units and costs: never negative, at most MAX_AMOUNT.
AMOUNT = Bound(minimum=0, limit=MAX_AMOUNT)
#: A signed amount (unit margins may be negative).
SIGNED_AMOUNT = Bound(limit=MAX_AMOUNT)


@dataclass(frozen=True)
class TableSpec:
    """One table of a dataset.

    ``required``/``optional`` map column -> kind. ``key`` columns identify a row
    (unique together). ``references`` maps a column to the ``(table, column)`` it must
    refer to. ``bounds`` maps a numeric column to its allowed range.
    ``required_table`` is False for tables a company may not have; a required table
    must also hold at least one row (a header-only file is an error), an optional one
    may be empty. Every ``number``/``integer`` column has a bound with a sanity limit
    (see :data:`MAX_AMOUNT`); ``id`` and ``text`` columns must not hold control
    characters (see :data:`ID_CONTROL_PATTERN`, :data:`TEXT_CONTROL_PATTERN`).
    """

    name: str
    required: Mapping[str, str]
    optional: Mapping[str, str] = field(default_factory=dict)
    key: tuple[str, ...] = ()
    required_table: bool = True
    references: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    bounds: Mapping[str, Bound] = field(default_factory=dict)

    @property
    def columns(self) -> dict[str, str]:
        """Every known column (required first) -> kind."""
        return {**self.required, **self.optional}

    @property
    def file_names(self) -> tuple[str, str]:
        """The accepted file names, e.g. ``("sales.csv", "sales.parquet")``."""
        return (f"{self.name}.csv", f"{self.name}.parquet")


TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec(
            "territories",
            required={"territory_id": ID, "territory_name": TEXT, "region": TEXT},
            optional={"manager": TEXT},
            key=("territory_id",),
        ),
        TableSpec(
            "reps",
            required={"rep_id": ID, "rep_name": TEXT, "territory_id": ID, "role": enum(ROLES)},
            optional={"cost_per_day": NUMBER},
            key=("rep_id",),
            references={"territory_id": ("territories", "territory_id")},
            bounds={"cost_per_day": AMOUNT},
        ),
        TableSpec(
            "customers",
            required={"customer_id": ID, "customer_name": TEXT, "customer_type": enum(CUSTOMER_TYPES),
                      "territory_id": ID},
            optional={"specialty": TEXT, "account_id": ID, "department": TEXT, "city": TEXT,
                      "beds": NUMBER, "bed_turnover_per_month": NUMBER, "indication_share": NUMBER,
                      "catchment_population": NUMBER, "incidence_rate": NUMBER},
            key=("customer_id",),
            references={"territory_id": ("territories", "territory_id")},
            bounds={"beds": Bound(minimum=0, limit=MAX_BEDS),
                    "bed_turnover_per_month": Bound(minimum=0, limit=MAX_RATE),
                    "catchment_population": Bound(minimum=0, limit=MAX_POPULATION),
                    "indication_share": SHARE, "incidence_rate": SHARE},
        ),
        TableSpec(
            "products",
            required={"product_id": ID, "product_name": TEXT, "market": ID, "is_own": BOOL},
            optional={"units_per_box": NUMBER, "unit_margin": NUMBER},
            key=("product_id",),
            references={"market": ("markets", "market")},
            bounds={"units_per_box": Bound(minimum=0, exclusive_minimum=True, limit=MAX_RATE),
                    "unit_margin": SIGNED_AMOUNT},
        ),
        TableSpec(
            "markets",
            required={"market": ID},
            optional={"boxes_per_patient": NUMBER},
            key=("market",),
            bounds={"boxes_per_patient": Bound(minimum=0, exclusive_minimum=True, limit=MAX_RATE)},
        ),
        TableSpec(
            "sales",
            required={"customer_id": ID, "product_id": ID, "period": PERIOD, "units": NUMBER},
            key=("customer_id", "product_id", "period"),
            references={"customer_id": ("customers", "customer_id"),
                        "product_id": ("products", "product_id")},
            bounds={"units": AMOUNT},
        ),
        TableSpec(
            "activities",
            required={"activity_id": ID, "customer_id": ID, "rep_id": ID, "date": DATE,
                      "channel": CHANNEL_KIND, "cost": NUMBER},
            optional={"outcome": enum(OUTCOMES), "content": TEXT},
            key=("activity_id",),
            required_table=False,
            references={"customer_id": ("customers", "customer_id"), "rep_id": ("reps", "rep_id")},
            bounds={"cost": AMOUNT},
        ),
        TableSpec(
            "phases",
            required={"customer_id": ID, "period": PERIOD, "phase": enum(PHASES)},
            optional={"source": TEXT},
            key=("customer_id", "period"),
            required_table=False,
            references={"customer_id": ("customers", "customer_id")},
        ),
    )
}


#: Bump when validation changes in a way TABLES does not show (a new kind of check in
#: :mod:`analysis.contract.dataset`): part of the input cache's key, so that a dataset
#: validated under older rules is validated again.
RULES_VERSION = 2


def rules_fingerprint() -> str:
    """A short hash of every validation rule (TABLES, limits, patterns, RULES_VERSION)."""
    import hashlib
    text = repr((RULES_VERSION, sorted(TABLES.items()), ID_CONTROL_PATTERN, TEXT_CONTROL_PATTERN))
    return hashlib.sha256(text.encode()).hexdigest()[:16]

#: DESIGN 4.5 fit table: phase -> fitting channels, in preference order (the order is
#: the fallback order of the next best channel).
DEFAULT_FIT: dict[str, tuple[str, ...]] = {
    "unaware": ("email", "web_lecture", "social", "edetailing"),
    "aware": ("email", "web_lecture", "web_interview", "edetailing", "chat_app"),
    "interested": ("web_interview", "briefing_session", "offline_lecture", "phone"),
    "trial": ("f2f_visit", "phone", "offline_lecture", "web_interview"),
    "adopter": ("f2f_visit", "offline_lecture", "phone"),
    "loyal": ("f2f_visit", "chat_app", "phone"),
}
