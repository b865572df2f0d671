"""Report-wide consistency: every number true on every data shape.

The whole national pass (:func:`analysis.domain.national.national_pass`) runs on the demo
data for every option value (``cut`` median / quantile / absolute, ``grid`` 2x2 / 3x3, a
territory override, privacy) and, with the default options and with 3x3, on derived shapes
of it (sales only, single period, no profile fields, one market, sales only + single
period; see ``tests/shapes.py``) and on the real public CMS Part D file converted to the
contract. Every run must satisfy the same invariants (DESIGN 4-6):

* every cost in every table adds up to the territory's activity cost (per market where a
  table is per market), and that cost is the cost of the territory's activities in the
  analysis period;
* ROI by rep, by segment and by channel each add up to the territory's ROI;
* shares lie in [0, 1]; segments partition the segmentable customers;
* a customer with zero or missing support (or potential) is never high or medium;
* flagged counts equal the flagged rows;
* the priority segments of the run's scheme get effort and actions (3x3 included);
* nothing derived from a missing comparison period or missing activities appears as a
  number, and ``kpis.caveats`` says which of these holds.

Each run is computed once (a module-scoped fixture per run); each test collects every
problem of its run and reports them together, naming table, territory and value.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import pytest

import shapes
from analysis.contract import params as parameters
from analysis.contract.dataset import Dataset
from analysis.domain.national import national_pass

# --- the domain, as DESIGN 4 states it (independent of the implementation) --------------

SEGMENTABLE = ("hcp", "department", "hospital", "pharmacy")
LADDER = ("unaware", "aware", "interested", "trial", "adopter", "loyal")
BELOW_TRIAL = "below_trial"
PRE_TRIAL = ("unaware", "aware", "interested")
#: Ladder rank; ``below_trial`` stands for the three rungs below trial.
RANK = {**{p: float(i) for i, p in enumerate(LADDER)}, BELOW_TRIAL: float(LADDER.index("trial") - 1)}
FLAGS = ("competitor_locked", "stalled", "slipping")
CAVEATS = ("no_comparison", "no_activities", "no_profile_fields", "roi_units_only")


@dataclass(frozen=True)
class Scheme:
    """A segment scheme: label -> (potential level, support level), and the priority labels."""

    grid: str
    levels: dict
    priority: tuple

    @property
    def labels(self) -> tuple:
        return tuple(self.levels)


SCHEMES = {
    "2x2": Scheme("2x2", {"A": ("high", "high"), "B": ("high", "low"), "C": ("low", "high"),
                          "D": ("low", "low")}, ("A", "B")),
    "3x3": Scheme("3x3", {f"{p}/{s}": (p, s) for p in ("high", "medium", "low") for s in ("high", "medium", "low")},
                  ("high/high", "high/medium", "high/low")),
}

# --- runs: shapes x options ---------------------------------------------------------------

#: The demo profile's potential methods (params/demo.yaml), without its overrides.
BASE = {"potential": {"default": "market_sum", "by_customer_type": {"department": "patient_flow",
                                                                    "hospital": "catchment"}}}
#: Profile fields that name no column: the run has no profile fields.
NO_PROFILE = {"profile_fields": {"basic": [], "education": [], "surrounding": []}}

OPTIONS = {
    "median": {},
    "quantile": {"segmentation": {"cut": "quantile", "q": 0.7}},
    # the demo's potentials run 0-1000 boxes a month (median about 7), supports 0-1 (median about 0.2)
    "absolute": {"segmentation": {"cut": "absolute", "potential": 10.0, "support": 0.25}},
    "3x3": {"segmentation": {"grid": "3x3"}},
    "3x3-quantile": {"segmentation": {"grid": "3x3", "cut": "quantile", "q": 0.6}},
    "override": {"overrides": {"T01": {"segmentation": {"cut": "quantile", "q": 0.7}}}},
    "privacy": {"privacy": "pseudonymise"},
}
#: Profile patch of each shape (the no-profile shape drops the columns and configures none).
SHAPE_PROFILE = {"no_profile": NO_PROFILE, "cms": shapes.CMS_PROFILE}
DERIVED = ("sales_only", "single_period", "no_profile", "one_market", "sales_only_single_period")

RUNS = ([f"demo/{option}" for option in OPTIONS]
        + [f"{shape}/{option}" for shape in DERIVED for option in ("median", "3x3")]
        + ["cms/median", "cms/3x3"])
RUNS_2X2 = [r for r in RUNS if "3x3" not in r]


def profile_of(run_id: str) -> dict:
    shape, option = run_id.split("/")
    profile = parameters.merge(BASE, SHAPE_PROFILE.get(shape, {}))
    return parameters.merge(profile, OPTIONS[option])


# --- numbers ------------------------------------------------------------------------------

def num(values) -> pd.Series:
    """Any numeric-ish Series (nullable, categorical, object) as float, missing as NaN."""
    values = pd.Series(values)
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    return pd.to_numeric(values.astype(object).where(values.notna(), np.nan), errors="coerce").astype(float)


def fmt(value) -> str:
    """A number for a message: ``46``, ``0.2753``, ``missing``."""
    if value is None or pd.isna(value):
        return "missing"
    try:
        return f"{float(value):.10g}"
    except (TypeError, ValueError):
        return repr(value)


def close(a: float, b: float, rel: float = 1e-6) -> bool:
    """Equal within ``rel`` (relative), both missing counting as equal."""
    if pd.isna(a) or pd.isna(b):
        return bool(pd.isna(a) and pd.isna(b))
    return math.isclose(float(a), float(b), rel_tol=rel, abs_tol=rel * 1e-3)


def text(values) -> pd.Series:
    """Values as plain objects (categoricals and string dtypes unwrapped), missing as None."""
    values = pd.Series(values)
    return values.astype(object).where(values.notna(), None)


def truth(values) -> pd.Series:
    """A nullable boolean Series: True / False / NA (pd.NA)."""
    return pd.Series(values).astype(object).map(lambda v: pd.NA if pd.isna(v) else bool(v))


def is_true(values) -> pd.Series:
    """True where a (nullable) boolean value is True; False where it is False or missing."""
    return pd.Series(values).astype(object).map(lambda v: False if pd.isna(v) else bool(v)).astype(bool)


def differs(values, expected: pd.Series) -> pd.Series:
    """True where a (nullable) boolean value is missing or not ``expected``."""
    got = truth(values)
    return pd.Series([pd.isna(g) or bool(g) != bool(e) for g, e in zip(got, expected)], index=got.index, dtype=bool)


def codes(value) -> set[str]:
    """The codes of a ";"-joined text (missing: none)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return set()
    return {c.strip() for c in str(value).split(";") if c.strip()}


def first(frame: pd.DataFrame, columns: Iterable[str], n: int = 5) -> str:
    """The first ``n`` rows of ``frame`` (the given columns) as text for a message."""
    columns = [c for c in columns if c in frame.columns]
    return f"{len(frame)} row(s), e.g. {frame[columns].head(n).to_dict('records')}"


# --- one run of the pass, and what the data says it must show ------------------------------

@dataclass(repr=False)
class Run:
    id: str
    ds: Dataset
    profile: dict
    tables: dict

    def __repr__(self) -> str:
        return f"Run({self.id!r})"

    @property
    def shape(self) -> str:
        return self.id.split("/")[0]

    def effective(self, territory_id: str) -> dict:
        return parameters.effective(self.profile, territory_id)

    @cached_property
    def grid(self) -> str:
        return parameters.effective(self.profile)["segmentation"]["grid"]

    @cached_property
    def scheme(self) -> Scheme:
        return SCHEMES[self.grid]

    # the windows ---------------------------------------------------------------------
    @cached_property
    def months(self) -> int:
        return int(parameters.effective(self.profile)["period_months"])

    @cached_property
    def period_end(self) -> str:
        return str(parameters.effective(self.profile)["period_end"] or self.ds.sales["period"].max())

    @cached_property
    def analysis_periods(self) -> list[str]:
        return shapes.periods_ending(self.period_end, self.months)

    @cached_property
    def comparison_periods(self) -> list[str]:
        end = (pd.Period(self.period_end, freq="M") - self.months).strftime("%Y-%m")
        return shapes.periods_ending(end, self.months)

    # what the data holds -------------------------------------------------------------
    @cached_property
    def has_comparison(self) -> bool:
        return bool(self.ds.sales["period"].isin(self.comparison_periods).any())

    @cached_property
    def has_activities(self) -> bool:
        return bool(self.ds.has_activities and len(self.ds.activities) > 0)

    @cached_property
    def has_profile(self) -> bool:
        fields = parameters.effective(self.profile)["profile_fields"] or {}
        listed = {c for cols in fields.values() if cols for c in ([cols] if isinstance(cols, str) else cols)}
        return bool(listed & set(self.ds.customers.columns))

    @cached_property
    def units_only(self) -> bool:
        """Whether some market's own product lacks a unit margin (ROI in units)."""
        own = self.ds.products[self.ds.products["is_own"].astype(bool)]
        return "unit_margin" not in own or bool(own["unit_margin"].isna().any())

    @cached_property
    def territory_ids(self) -> list[str]:
        return self.ds.territories["territory_id"].astype(str).tolist()

    @cached_property
    def markets(self) -> list[str]:
        return self.ds.markets["market"].astype(str).tolist()

    @cached_property
    def activity_cost(self) -> pd.Series:
        """Cost of each territory's activities (by its customers) in the analysis period."""
        acts = self.ds.activities
        if not self.has_activities:
            return pd.Series(np.nan, index=self.territory_ids)
        start = pd.Period(self.analysis_periods[0], freq="M").start_time
        end = pd.Period(self.analysis_periods[-1], freq="M").end_time
        dates = pd.to_datetime(acts["date"])
        inside = (dates >= start) & (dates <= end)
        territory = acts["customer_id"].map(self.ds.customers.set_index("customer_id")["territory_id"])
        cost = num(acts["cost"]).where(inside, 0.0).groupby(territory.astype(str)).sum()
        return cost.reindex(self.territory_ids, fill_value=0.0)

    # the tables ----------------------------------------------------------------------
    def table(self, name: str, *columns: str) -> pd.DataFrame:
        """The table ``name`` (territory_id as text); fails the test cleanly when it or a column is missing."""
        if name not in self.tables:
            pytest.fail(f"[{self.id}] the pass returned no table {name!r} (it returned: {sorted(self.tables)})",
                        pytrace=False)
        frame = self.tables[name]
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            pytest.fail(f"[{self.id}] table {name} lacks column(s) {', '.join(missing)} needed here",
                        pytrace=False)
        if "territory_id" in frame.columns:
            frame = frame.assign(territory_id=text(frame["territory_id"]).astype(str))
        return frame

    @cached_property
    def customers(self) -> pd.DataFrame:
        return self.table("customers")

    @cached_property
    def kpis(self) -> pd.DataFrame:
        kpis = self.table("kpis")
        return kpis.set_index("territory_id", drop=False)

    @cached_property
    def segmentable(self) -> pd.DataFrame:
        return self.customers[self.customers["customer_type"].isin(SEGMENTABLE)]

    def kpi(self, column: str) -> pd.Series:
        self.table("kpis", column)
        return num(self.kpis[column]).reindex(self.territory_ids)


class Runner:
    """Builds each shape's dataset once and each run's tables once."""

    def __init__(self, tmp_path_factory):
        self.tmp = tmp_path_factory
        self._datasets: dict[str, Dataset] = {}
        self._runs: dict[str, Run] = {}

    def dataset(self, shape: str) -> Dataset:
        if shape not in self._datasets:
            if shape == "cms":
                if not shapes.CMS_FILE.is_file():
                    pytest.skip(f"the public CMS file is absent: {shapes.CMS_FILE} (see its SOURCE.md)")
                self._datasets[shape] = shapes.cms_dataset(self.tmp.mktemp("cms"))
            else:
                if "demo" not in self._datasets:
                    self._datasets["demo"] = shapes.demo_dataset(self.tmp.mktemp("demo"))
                self._datasets[shape] = shapes.SHAPES[shape](self._datasets["demo"])
        return self._datasets[shape]

    def run(self, run_id: str) -> Run:
        if run_id not in self._runs:
            self._runs[run_id] = self._run(run_id)
        return self._runs[run_id]

    def _run(self, run_id: str) -> Run:
        shape = run_id.split("/")[0]
        ds = self.dataset(shape)
        profile = parameters.check(profile_of(run_id), source=run_id)
        parameters.check_territories(profile, ds.territories["territory_id"], source=run_id)
        return Run(run_id, ds, profile, national_pass(ds, profile))


@pytest.fixture(scope="module")
def runner(tmp_path_factory) -> Runner:
    return Runner(tmp_path_factory)


@pytest.fixture(scope="module", params=RUNS)
def run(request, runner) -> Run:
    return runner.run(request.param)


@pytest.fixture(scope="module", params=RUNS_2X2)
def run_2x2(request, runner) -> Run:
    return runner.run(request.param)


def get(run: Run, name: str, columns: Iterable[str], problems: list[str]) -> pd.DataFrame | None:
    """The table ``name`` (territory_id as text), or None with a problem noted when it or a column is missing."""
    if name not in run.tables:
        problems.append(f"table {name}: missing")
        return None
    missing = [c for c in columns if c not in run.tables[name].columns]
    if missing:
        problems.append(f"table {name}: lacks column(s) {', '.join(missing)}")
        return None
    return run.table(name)


def report(run: Run, problems: list[str], limit: int = 25) -> None:
    """Fail with every problem found (the first ``limit``), or pass."""
    if problems:
        more = f"\n... and {len(problems) - limit} more" if len(problems) > limit else ""
        pytest.fail(f"[{run.id}] {len(problems)} problem(s):\n" + "\n".join(problems[:limit]) + more,
                    pytrace=False)


# --- the tables exist with the interface's columns -----------------------------------------

COLUMNS = {
    "customers": ("territory_id", "region", "customer_id", "customer_type", "market", "potential",
                  "potential_method", "own_units", "market_units", "own_units_comparison",
                  "market_units_comparison", "support", "potential_level", "support_level", "segment",
                  "potential_cut", "support_cut", "vip", "decile", "phase_previous", "phase",
                  "competitor_position", "activities", "effort_cost", "competitor_locked", "stalled",
                  "slipping", "flags", "next_best_channel", "next_best_basis", "next_best_rate_kind",
                  "next_best_rate", "next_best_base"),
    "segments": ("territory_id", "market", "segment", "customers", "customer_share", "potential",
                 "potential_share", "own_units", "market_units", "support", "priority"),
    "lorenz": ("territory_id",),
    "three_c": ("territory_id", "market", "phase", "competitor_position", "customers", "potential", "effort_cost"),
    "migration": ("territory_id", "market", "phase_previous", "phase", "customers", "rate"),
    "channel_phase": ("territory_id", "market", "channel", "phase", "activities", "cost", "effort_share",
                      "responses", "response_rate", "customers_touched", "customers_moved_up",
                      "progression_rate", "fits"),
    "channels": ("territory_id", "channel", "activities", "cost", "effort_share", "responses", "response_rate",
                 "customers_touched", "customers_moved_up", "progression_rate", "mismatched_share"),
    "coaching": ("territory_id", "rep_id", "rep_name", "role", "customers_covered", "profile_completeness",
                 "profile_qualified_share", "effort_on_priority", "mismatched_effort", "over_service", "cost",
                 "own_units_change", "margin_change", "roi", "progressions", "flags"),
    "roi_rep": ("territory_id", "rep_id", "cost", "own_units_change", "margin_change", "roi", "customers"),
    "roi_segment": ("territory_id", "segment", "cost", "own_units_change", "margin_change", "roi", "customers"),
    "roi_channel": ("territory_id", "channel", "cost", "own_units_change", "margin_change", "roi", "customers"),
    "actions": ("territory_id", "customer_id", "market", "segment", "phase"),
    "maintenance": ("territory_id", "customer_id", "customer_name", "city", "customer_type", "vip",
                    "last_contact", "days_since", "cadence_days", "overdue"),
    "quality": ("territory_id",),
    "kpis": ("territory_id", "customers", "potential", "own_units", "own_units_previous", "market_units",
             "market_units_previous", "support", "support_previous", "vip_customers", "vip_share",
             "customers_covered", "coverage", "effort_on_priority", "mismatched_effort", "over_service", "cost",
             "own_units_change", "margin_change", "roi", "progressions", "slipping", "competitor_locked",
             "stalled", "maintenance_overdue", "has_activities", "has_comparison", "caveats"),
    "regions": ("region",),
    "nation": (),
    # the deeper tables (drill-downs, targeting, trend, forecast, competitors, call plan)
    "targeting": ("territory_id", "market", "decile", "band", "customers", "potential", "potential_share",
                  "support", "effort_cost", "effort_share", "activities", "contacts_per_customer", "coverage"),
    "flag_customers": ("territory_id", "flag", "customer_id", "customer_name", "market", "segment", "potential",
                       "phase_previous", "phase", "competitor_position", "competitor_share", "activities"),
    "profile_gaps": ("territory_id", "customer_id", "profile_completeness", "missing_fields", "missing_groups"),
    "trend": ("territory_id", "market", "period", "window", "own_units", "market_units", "support",
              "prescribing_customers"),
    "trend_activity": ("territory_id", "period", "window", "activities", "cost", "customers_contacted",
                       "coverage", "contacts_per_customer"),
    "phase_forecast": ("territory_id", "market", "phase", "customers", "share", "customers_next", "share_next",
                       "share_steady", "converged"),
    "competitors": ("territory_id", "market", "segment", "product_id", "is_own", "units", "share",
                    "customers_led", "share_previous", "share_change"),
    "call_plan": ("territory_id", "rep_id", "rank", "customer_id", "segment", "phase", "next_best_channel",
                  "contacts_per_month", "interval_days", "last_contact", "due_date", "overdue", "reason"),
}


def test_tables_and_columns(run):
    problems = []
    for name, columns in COLUMNS.items():
        if name not in run.tables:
            problems.append(f"table {name}: missing")
            continue
        missing = [c for c in columns if c not in run.tables[name].columns]
        if missing:
            problems.append(f"table {name}: missing column(s) {', '.join(missing)}")
        frame = run.tables[name]
        if name not in ("regions", "nation") and "territory_id" in frame.columns:
            unknown = set(text(frame["territory_id"]).dropna().astype(str)) - set(run.territory_ids)
            if unknown:
                problems.append(f"table {name}: territory_id(s) not in the data: {sorted(unknown)[:5]}")
    if "kpis" in run.tables:
        kpis = run.tables["kpis"]
        ids = text(kpis["territory_id"]).astype(str)
        if sorted(ids) != sorted(run.territory_ids):
            problems.append(f"table kpis: one row per territory expected; has {sorted(ids)}, "
                            f"territories {sorted(run.territory_ids)}")
    report(run, problems)


# --- customers: one row per customer x market; phases on the ladder -------------------------

def test_customer_rows(run):
    c, problems = run.table("customers", "customer_id", "customer_type", "market", "phase", "phase_previous"), []
    key = ["territory_id", "customer_id", "market"]
    dup = c[c.duplicated(key, keep=False)]
    if len(dup):
        problems.append(f"customers: customer x market rows repeated: {first(dup, key)}")
    want = run.ds.customers.groupby(run.ds.customers["territory_id"].astype(str)).size() * len(run.markets)
    got = c.groupby("territory_id").size().reindex(want.index, fill_value=0)
    for tid in want.index[want != got]:
        problems.append(f"customers: territory {tid} has {got[tid]} rows, expected {fmt(want[tid])} "
                        f"(every customer in each of the {len(run.markets)} market(s))")
    markets = set(text(c["market"]).dropna()) - set(run.markets)
    if markets:
        problems.append(f"customers: markets not in the data: {sorted(markets)}")
    seg = c["customer_type"].isin(SEGMENTABLE)
    for column in ("segment", "phase", "phase_previous"):
        if column not in c:
            continue
        bad = c[~seg & c[column].notna()]
        if len(bad):
            problems.append(f"customers.{column}: set for non-segmentable customer types: "
                            f"{first(bad, ['territory_id', 'customer_id', 'customer_type', column])}")
    levels = set(LADDER) | {BELOW_TRIAL}
    for column in ("phase", "phase_previous"):
        values = text(c[column])
        bad = c[values.notna() & ~values.isin(levels)]
        if len(bad):
            problems.append(f"customers.{column}: values off the ladder: {sorted(set(values[bad.index]))[:5]}")
    bad = c[seg & c["phase"].isna()]
    if len(bad):
        problems.append(f"customers.phase: missing for segmentable customers: "
                        f"{first(bad, ['territory_id', 'customer_id', 'market'])}")
    report(run, problems)


# --- segments partition the segmentable customers --------------------------------------------

def test_segments_partition(run):
    run.table("customers", "customer_id", "customer_type", "market", "segment", "potential")
    s, problems = run.table("segments", "market", "segment", "customers", "potential"), []
    seg = run.segmentable
    labels = set(run.scheme.labels)
    missing = seg[seg["segment"].isna()]
    if len(missing):
        problems.append(f"customers.segment: missing for segmentable customers: "
                        f"{first(missing, ['territory_id', 'customer_id', 'market', 'potential', 'support'])}")
    unknown = seg[seg["segment"].notna() & ~text(seg["segment"]).isin(labels)]
    if len(unknown):
        problems.append(f"customers.segment: labels outside the {run.grid} scheme {sorted(labels)}: "
                        f"{sorted(set(text(unknown['segment'])))[:5]}")
    # each segmentable customer x market in exactly one segment
    per_key = seg.groupby(["territory_id", "customer_id", "market"])["segment"].nunique()
    if (per_key > 1).any():
        problems.append(f"customers: customer x market in several segments: {per_key[per_key > 1].head().to_dict()}")
    # the segments table counts the rows
    keys = ["territory_id", "market", "segment"]
    rows = seg.assign(segment=text(seg["segment"]), market=text(seg["market"])).groupby(keys).agg(
        customers=("customer_id", "nunique"), potential=("potential", "sum"))
    table = s.assign(segment=text(s["segment"]), market=text(s["market"])).set_index(keys)
    dup = table.index[table.index.duplicated()]
    if len(dup):
        problems.append(f"segments: rows repeated for {list(dup[:5])}")
        table = table[~table.index.duplicated()]
    index = rows.index.union(table.index)
    for col in ("customers", "potential"):
        want = rows[col].reindex(index).fillna(0.0)
        got = num(table[col]).reindex(index).fillna(0.0)
        for k in index[[not close(a, b) for a, b in zip(got, want)]][:10]:
            problems.append(f"segments.{col}: territory {k[0]} market {k[1]} segment {k[2]}: "
                            f"{fmt(got[k])} in the table, {fmt(want[k])} in the customers rows")
    # kpis.customers = the territory's segmentable customers
    want = run.ds.customers[run.ds.customers["customer_type"].isin(SEGMENTABLE)].groupby(
        run.ds.customers["territory_id"].astype(str)).size().reindex(run.territory_ids, fill_value=0)
    got = run.kpi("customers")
    for tid in run.territory_ids:
        if not close(got[tid], want[tid]):
            problems.append(f"kpis.customers: territory {tid} has {got[tid]}, the data {fmt(want[tid])} "
                            "segmentable customers")
    report(run, problems)


# --- zero or missing support (or potential) is never high -----------------------------------

def test_zero_or_missing_never_high(run):
    run.table("customers", "customer_type", "support", "potential", "support_level", "potential_level", "segment")
    c, problems = run.segmentable, []
    sup, pot = num(c["support"]), num(c["potential"])
    for what, values, level_col, axis in (("support", sup, "support_level", 1), ("potential", pot, "potential_level", 0)):
        none = values.isna() | (values <= 0)
        level = text(c[level_col])
        bad = c[none & level.isin(("high", "medium"))]
        if len(bad):
            by = bad.groupby("territory_id").size().to_dict()
            problems.append(f"customers.{level_col}: {len(bad)} row(s) with zero or missing {what} are high or "
                            f"medium (by territory {by}): "
                            f"{first(bad, ['territory_id', 'customer_id', 'market', what, level_col, 'segment'])}")
        # the segment label agrees with the level (and so is low on that axis too)
        label_level = text(c["segment"]).map(lambda s: run.scheme.levels.get(s, (None, None))[axis])
        bad = c[label_level.notna() & level.notna() & (label_level != level)]
        if len(bad):
            problems.append(f"customers.segment disagrees with {level_col}: "
                            f"{first(bad, ['territory_id', 'customer_id', 'market', level_col, 'segment'])}")
        bad = c[none & label_level.isin(("high", "medium"))]
        if len(bad):
            problems.append(f"customers.segment: zero or missing {what} in a high/medium-{what} segment: "
                            f"{first(bad, ['territory_id', 'customer_id', 'market', what, 'segment'])}")
    report(run, problems)


def test_cut_points_and_levels(run_2x2):
    """2x2: the cut points are the run's (the territory's own, with an override) and the levels follow them."""
    run, problems = run_2x2, []
    run.table("customers", "customer_type", "market", "support", "potential", "support_cut", "potential_cut",
              "support_level", "potential_level")
    c = run.segmentable
    for (tid, market), g in c.groupby(["territory_id", text(c["market"])]):
        seg = run.effective(tid)["segmentation"]
        pot, sup = num(g["potential"]), num(g["support"])
        if seg["cut"] == "absolute":
            want_p, want_s = float(seg["potential"]), float(seg["support"])
        else:
            q = 0.5 if seg["cut"] == "median" else float(seg["q"])
            want_p, want_s = pot[pot > 0].quantile(q), sup.dropna().quantile(q)
        for col, want in (("potential_cut", want_p), ("support_cut", want_s)):
            got = set(num(g[col]).round(12).fillna(-1.0))
            if len(got) != 1 or not close(num(g[col]).iloc[0], want):
                problems.append(f"customers.{col}: territory {tid} market {market} ({seg['cut']}"
                                f"{' q=' + str(seg.get('q')) if seg['cut'] == 'quantile' else ''}): "
                                f"{sorted(got)[:3]}, expected {want}")
        for what, values, cut, level_col in (("potential", pot, want_p, "potential_level"),
                                             ("support", sup, want_s, "support_level")):
            if pd.isna(cut):
                continue
            margin = 1e-9 * max(1.0, abs(cut))
            high = (values > 0) & (values >= cut + margin)
            low = values.isna() | (values <= 0) | (values < cut - margin)
            level = text(g[level_col])
            bad = g[(high & (level != "high")) | (low & (level == "high"))]
            if len(bad):
                problems.append(f"customers.{level_col}: territory {tid} market {market}: level against the cut "
                                f"{cut:.6g}: {first(bad, ['customer_id', what, level_col])}")
    report(run, problems)


# --- shares lie in [0, 1] --------------------------------------------------------------------

SHARES = {
    "customers": ("support", "competitor_share", "own_share", "next_best_rate"),
    "segments": ("customer_share", "potential_share", "support"),
    "migration": ("rate",),
    "lorenz": ("customer_share", "value_share"),
    "channel_phase": ("effort_share", "response_rate", "progression_rate"),
    "channels": ("effort_share", "response_rate", "progression_rate", "mismatched_share"),
    "coaching": ("profile_completeness", "profile_qualified_share", "effort_on_priority", "mismatched_effort",
                 "over_service"),
    "kpis": ("support", "support_previous", "vip_share", "coverage", "effort_on_priority", "mismatched_effort",
             "over_service"),
    "regions": ("support", "support_previous", "vip_share", "coverage", "effort_on_priority",
                "mismatched_effort", "over_service"),
    "nation": ("support", "support_previous", "vip_share", "coverage", "effort_on_priority",
               "mismatched_effort", "over_service"),
    "targeting": ("potential_share", "support", "effort_share", "coverage"),
    "trend": ("support",),
    "trend_activity": ("coverage",),
    "phase_forecast": ("share", "share_next", "share_steady"),
    "competitors": ("share", "share_previous"),
    "profile_gaps": ("profile_completeness",),
}
#: Shares that add up to 1 over a group (where the group has any base).
SUMS_TO_ONE = {
    "channel_phase": ("effort_share", ["territory_id", "market"], "cost"),
    "channels": ("effort_share", ["territory_id"], "cost"),
    "segments": ("customer_share", ["territory_id", "market"], "customers"),
    "migration": ("rate", ["territory_id", "market", "phase_previous"], "customers"),
    "targeting": ("effort_share", ["territory_id", "market"], "effort_cost"),
    "phase_forecast": ("share_next", ["territory_id", "market"], "customers"),
    "competitors": ("share", ["territory_id", "market", "segment"], "units"),
}


def test_shares_in_unit_interval(run):
    problems = []
    for name, columns in SHARES.items():
        if name not in run.tables:
            continue
        frame = run.tables[name]
        for col in columns:
            if col not in frame:
                continue
            values = num(frame[col])
            bad = frame[(values < -1e-12) | (values > 1 + 1e-12) | np.isinf(values)]
            if len(bad):
                problems.append(f"{name}.{col}: outside [0, 1]: {first(bad, ['territory_id', 'region', 'market', col])}")
    for name, (col, keys, base) in SUMS_TO_ONE.items():
        if name not in run.tables or col not in run.tables[name] or len(run.tables[name]) == 0:
            continue
        frame = run.table(name)
        frame = frame.assign(**{k: text(frame[k]) for k in keys}, _share=num(frame[col]), _base=num(frame[base]))
        sums = frame.groupby(keys, dropna=False).agg(share=("_share", "sum"), base=("_base", "sum"))
        bad = sums[(sums["base"] > 0) & ((sums["share"] - 1).abs() > 1e-6)]
        if len(bad):
            problems.append(f"{name}.{col}: does not add up to 1 over {'/'.join(keys)}: "
                            f"{bad['share'].head().to_dict()}")
    report(run, problems)


# --- every cost adds up to the territory's activity cost ---------------------------------------

def _sums(frame: pd.DataFrame, column: str, keys: list[str]) -> pd.Series:
    frame = frame.assign(**{k: text(frame[k]).astype(str) for k in keys}, _v=num(frame[column]))
    return frame.groupby(keys)["_v"].sum(min_count=1)


def _compare(run: Run, label: str, sums: pd.Series, totals: pd.Series, per_market: bool,
             total_name: str = "kpis.cost") -> list[str]:
    """``sums`` (by territory, or territory x market) against ``totals`` (by territory)."""
    problems = []
    keys = ([(t, m) for t in run.territory_ids for m in run.markets] if per_market
            else list(run.territory_ids))
    for key in keys:
        tid = key[0] if per_market else key
        where = f"territory {tid}" + (f" market {key[1]}" if per_market else "")
        want = totals.get(tid, np.nan)
        got = sums.get(key, np.nan)
        if pd.isna(want):
            if not pd.isna(got):  # a number derived from missing data
                problems.append(f"{label}: {where}: {fmt(got)} where {total_name} is missing")
            continue
        got = 0.0 if pd.isna(got) else got
        if not close(got, want):
            problems.append(f"{label}: {where}: adds up to {fmt(got)}, {total_name} is {fmt(want)}")
    return problems


def test_costs_add_up(run):
    problems = []
    cost = run.kpi("cost")
    for tid in run.territory_ids:  # the territory's activity cost, from the data
        want = run.activity_cost[tid]
        if not close(cost[tid], want):
            problems.append(f"kpis.cost: territory {tid} is {fmt(cost[tid])}; its activities in "
                            f"{run.analysis_periods[0]}..{run.analysis_periods[-1]} cost {fmt(want)}"
                            + (" (no activities: must be missing)" if pd.isna(want) else ""))
    per_market = {"channel_phase": "cost", "three_c": "effort_cost", "customers": "effort_cost",
                  "targeting": "effort_cost"}
    for name, col in per_market.items():
        frame = get(run, name, ("territory_id", "market", col), problems)
        if frame is not None:
            problems += _compare(run, f"{name}.{col} (per market)", _sums(frame, col, ["territory_id", "market"]),
                                 cost, per_market=True)
    for name in ("channels", "coaching", "roi_rep", "roi_segment", "roi_channel"):
        frame = get(run, name, ("territory_id", "cost"), problems)
        if frame is not None:
            problems += _compare(run, f"{name}.cost", _sums(frame, "cost", ["territory_id"]), cost, per_market=False)
    # roll-ups: the regions' and the nation's cost are the sums of their territories'
    kpis = run.kpis
    region = kpis["region"].astype(str) if "region" in kpis else None
    if region is not None and "regions" in run.tables and "cost" in run.tables["regions"]:
        regions = run.tables["regions"].assign(region=lambda f: text(f["region"]).astype(str)).set_index("region")
        want = num(kpis["cost"]).groupby(region).sum(min_count=1)
        for r in want.index:
            got = num(regions["cost"]).get(r, np.nan)
            if not close(got, want[r]):
                problems.append(f"regions.cost: region {r} is {fmt(got)}, its territories' kpis.cost add up to {fmt(want[r])}")
    if "nation" in run.tables and "cost" in run.tables["nation"]:
        got = num(run.tables["nation"]["cost"]).sum(min_count=1)
        want = num(kpis["cost"]).sum(min_count=1)
        if not close(got, want):
            problems.append(f"nation.cost: {fmt(got)}, the territories' kpis.cost add up to {fmt(want)}")
    report(run, problems)


def test_roi_adds_up(run):
    problems = []
    margin, cost, roi = run.kpi("margin_change"), run.kpi("cost"), run.kpi("roi")
    for name in ("roi_rep", "roi_segment", "roi_channel"):
        frame = get(run, name, ("territory_id", "cost", "margin_change", "roi"), problems)
        if frame is None:
            continue
        problems += _compare(run, f"{name}.margin_change", _sums(frame, "margin_change", ["territory_id"]),
                             margin, per_market=False, total_name="kpis.margin_change")
        # each row's roi is its margin change per unit of cost (missing without cost)
        c, m, r = num(frame["cost"]), num(frame["margin_change"]), num(frame["roi"])
        want = m / c.where(c > 0)
        bad = frame[[not close(a, b) for a, b in zip(r, want)]]
        if len(bad):
            problems.append(f"{name}.roi is not margin_change / cost: "
                            f"{first(bad, ['territory_id', 'rep_id', 'segment', 'channel', 'cost', 'margin_change', 'roi'])}")
    for tid in run.territory_ids:
        want = margin[tid] / cost[tid] if cost[tid] > 0 else np.nan
        if not close(roi[tid], want):
            problems.append(f"kpis.roi: territory {tid} is {fmt(roi[tid])}, margin_change / cost is {fmt(want)}")
    report(run, problems)


# --- flagged counts equal the flagged rows -------------------------------------------------------

def test_flag_counts(run):
    c, problems = run.table("customers", "customer_id", "customer_type", *FLAGS, "flags", "phase",
                            "phase_previous", "vip", "activities"), []
    seg = run.segmentable
    for flag in FLAGS:
        # kpis count the segmentable customers (the others have no phase to flag)
        flagged = seg[is_true(seg[flag])]
        count = flagged.groupby("territory_id")["customer_id"].nunique()
        known = truth(seg[flag]).notna().groupby(seg["territory_id"]).any()
        got = run.kpi(flag)
        for tid in run.territory_ids:
            want = count.get(tid, 0) if known.get(tid, False) else np.nan
            if not close(got[tid], want):
                problems.append(f"kpis.{flag}: territory {tid} is {fmt(got[tid])}, customers has "
                                + (f"{want} distinct flagged segmentable customers" if not pd.isna(want)
                                   else "the flag missing (not computable) on every segmentable row"))
        # the flags text says the same as the flag column (on every row)
        flagged_rows = is_true(c[flag])
        listed = c["flags"].map(lambda v: flag in codes(v))
        bad = c[flagged_rows & ~listed]
        if len(bad):
            problems.append(f"customers.flags: lacks {flag} where {flag} is True: "
                            f"{first(bad, ['territory_id', 'customer_id', 'market', flag, 'flags'])}")
        bad = c[~flagged_rows & listed]
        if len(bad):
            problems.append(f"customers.flags: lists {flag} where {flag} is not True: "
                            f"{first(bad, ['territory_id', 'customer_id', 'market', flag, 'flags'])}")
    # slipping is "phase went down"
    now, before = text(c["phase"]).map(RANK), text(c["phase_previous"]).map(RANK)
    known = now.notna() & before.notna()
    bad = c[known & differs(c["slipping"], now < before)]
    if len(bad):
        problems.append(f"customers.slipping: not 'phase below phase_previous': "
                        f"{first(bad, ['territory_id', 'customer_id', 'market', 'phase_previous', 'phase', 'slipping'])}")
    # progressions: distinct segmentable customers who moved up a phase
    if run.has_comparison:
        moved = seg[text(seg["phase"]).map(RANK) > text(seg["phase_previous"]).map(RANK)]
        want = moved.groupby("territory_id")["customer_id"].nunique().reindex(run.territory_ids, fill_value=0)
        got = run.kpi("progressions")
        for tid in run.territory_ids:
            if not close(got[tid], want[tid]):
                problems.append(f"kpis.progressions: territory {tid} is {fmt(got[tid])}, customers has {fmt(want[tid])} "
                                "distinct customers who moved up")
    # VIPs and coverage
    vip = seg[is_true(seg["vip"])]
    want = vip.groupby("territory_id")["customer_id"].nunique().reindex(run.territory_ids, fill_value=0)
    got = run.kpi("vip_customers")
    for tid in run.territory_ids:
        if not close(got[tid], want[tid]):
            problems.append(f"kpis.vip_customers: territory {tid} is {fmt(got[tid])}, customers has {fmt(want[tid])} VIPs")
    if run.has_activities:
        covered = seg[num(seg["activities"]) > 0]
        want = covered.groupby("territory_id")["customer_id"].nunique().reindex(run.territory_ids, fill_value=0)
        got = run.kpi("customers_covered")
        for tid in run.territory_ids:
            if not close(got[tid], want[tid]):
                problems.append(f"kpis.customers_covered: territory {tid} is {fmt(got[tid])}, customers has "
                                f"{fmt(want[tid])} segmentable customers with activities")
        m = run.table("maintenance", "overdue")
        overdue = m[is_true(m["overdue"])].groupby("territory_id").size()
        got = run.kpi("maintenance_overdue")
        for tid in run.territory_ids:
            if not close(got[tid], overdue.get(tid, 0)):
                problems.append(f"kpis.maintenance_overdue: territory {tid} is {fmt(got[tid])}, maintenance has "
                                f"{overdue.get(tid, 0)} overdue rows")
    report(run, problems)


# --- the scheme's priority segments get effort and actions ------------------------------------

def test_priority_effort_and_actions(run):
    problems, scheme = [], run.scheme
    s = get(run, "segments", ("segment", "priority"), problems)
    if s is not None:
        want = text(s["segment"]).isin(scheme.priority)
        bad = s[differs(s["priority"], want)]
        if len(bad):
            problems.append(f"segments.priority: not the {scheme.grid} scheme's priority {scheme.priority}: "
                            f"{first(bad, ['territory_id', 'market', 'segment', 'priority'])}")
    run.table("customers", "customer_type", "segment", "phase", "effort_cost")
    a, seg = run.table("actions", "segment", "phase"), run.segmentable
    if len(a) == 0:
        problems.append(f"actions: empty under {scheme.grid}")
    bad = a[~text(a["segment"]).isin(scheme.priority)]
    if len(bad):
        problems.append(f"actions: segments outside the priority {scheme.priority}: "
                        f"{first(bad, ['territory_id', 'customer_id', 'market', 'segment'])}")
    bad = a[text(a["phase"]) == "loyal"]
    if len(bad):
        problems.append(f"actions: loyal customers listed: {first(bad, ['territory_id', 'customer_id', 'market'])}")
    candidates = seg[text(seg["segment"]).isin(scheme.priority) & (text(seg["phase"]) != "loyal")]
    for tid in sorted(set(candidates["territory_id"]) - set(a["territory_id"])):
        problems.append(f"actions: territory {tid} has no action, though "
                        f"{(candidates['territory_id'] == tid).sum()} priority non-loyal rows")
    if run.has_activities:
        priority_effort = (seg[text(seg["segment"]).isin(scheme.priority)]
                           .assign(_e=lambda f: num(f["effort_cost"])).groupby("territory_id")["_e"].sum())
        k, coaching = run.kpi("effort_on_priority"), run.table("coaching", "effort_on_priority")
        by_rep = num(coaching["effort_on_priority"]).groupby(coaching["territory_id"]).max()
        for tid in run.territory_ids:
            if priority_effort.get(tid, 0.0) > 0:
                if not k[tid] > 0:
                    problems.append(f"kpis.effort_on_priority: territory {tid} is {fmt(k[tid])}, though its priority "
                                    f"customers got {priority_effort[tid]:.2f} of effort")
                if not by_rep.get(tid, np.nan) > 0:
                    problems.append(f"coaching.effort_on_priority: no rep of territory {tid} above 0 "
                                    f"({fmt(by_rep.get(tid, np.nan))}), though its priority customers got effort")
        if not (num(coaching["effort_on_priority"]) > 0).any():
            problems.append(f"coaching.effort_on_priority: no rep above 0 under {scheme.grid}")
    report(run, problems)


# --- missing data is missing, never a number -------------------------------------------------------

def _all_missing(run: Run, name: str, columns: Iterable[str], why: str, problems: list[str],
                 frame: pd.DataFrame | None = None) -> None:
    """Every value of ``columns`` of table ``name`` (or of its rows ``frame``) is missing."""
    frame = get(run, name, (), problems) if frame is None else frame
    if frame is None:
        return
    for col in columns:
        if col not in frame:
            continue
        shown = frame[frame[col].notna()]
        if len(shown):
            problems.append(f"{name}.{col}: shown although {why}: {first(shown, ['territory_id', 'region', 'rep_id', col])}")


def test_comparison_period(run):
    problems = []
    c = run.table("customers", "customer_type", "phase", "phase_previous")
    has = truth(run.table("kpis", "has_comparison").set_index("territory_id")["has_comparison"]).reindex(run.territory_ids)
    if differs(has, pd.Series(run.has_comparison, index=has.index)).any():
        problems.append(f"kpis.has_comparison: {has.to_dict()}, the data "
                        f"{'has' if run.has_comparison else 'has no'} sales in {run.comparison_periods[0]}.."
                        f"{run.comparison_periods[-1]}")
    if run.has_comparison:
        bad = run.segmentable[run.segmentable["phase_previous"].isna()]
        if len(bad):
            problems.append(f"customers.phase_previous: missing although there is a comparison period: "
                            f"{first(bad, ['territory_id', 'customer_id', 'market'])}")
        if len(run.table("migration")) == 0:
            problems.append("migration: no rows although there is a comparison period")
        report(run, problems)
        return
    why = "there is no comparison period"
    _all_missing(run, "customers", ("phase_previous", "own_units_comparison", "market_units_comparison"),
                 why, problems)
    # the flags of the customers on the ladder (the others have no phase to flag)
    _all_missing(run, "customers", (*FLAGS, "flags"), why, problems, frame=run.segmentable)
    loyal = c[text(c["phase"]) == "loyal"]
    if len(loyal):  # loyal needs support in the period before; an absent period does not count
        problems.append(f"customers.phase: loyal without a period before: "
                        f"{first(loyal, ['territory_id', 'customer_id', 'market'])}")
    m = get(run, "migration", (), problems)
    if m is not None and len(m):
        problems.append(f"migration: {len(m)} row(s) although {why} (by territory "
                        f"{m.groupby('territory_id').size().head().to_dict()})")
    _all_missing(run, "kpis", ("own_units_previous", "market_units_previous", "support_previous", "progressions",
                               "slipping", "competitor_locked", "stalled", "own_units_change", "margin_change",
                               "roi"), why, problems)
    _all_missing(run, "coaching", ("own_units_change", "margin_change", "roi", "progressions"), why, problems)
    for name in ("roi_rep", "roi_segment", "roi_channel"):
        _all_missing(run, name, ("own_units_change", "margin_change", "roi"), why, problems)
    _all_missing(run, "channel_phase", ("progression_rate",), why, problems)
    _all_missing(run, "channels", ("progression_rate",), why, problems)
    for name in ("regions", "nation"):
        _all_missing(run, name, ("own_units_previous", "market_units_previous", "support_previous",
                                 "progressions", "slipping", "competitor_locked", "stalled"), why, problems)
    report(run, problems)


def test_activities(run):
    problems = []
    c = run.table("customers", "customer_type", "phase", "phase_previous", "own_units", "own_units_comparison")
    seg = run.segmentable
    has = truth(run.table("kpis", "has_activities").set_index("territory_id")["has_activities"]).reindex(run.territory_ids)
    if differs(has, pd.Series(run.has_activities, index=has.index)).any():
        problems.append(f"kpis.has_activities: {has.to_dict()}, the data "
                        f"{'has' if run.has_activities else 'has no'} activities")
    phases = pd.concat([text(c["phase"]), text(c["phase_previous"])])
    if run.has_activities:
        if phases.eq(BELOW_TRIAL).any():
            problems.append("customers: phase below_trial although the data has activities")
        report(run, problems)
        return
    why = "the data has no activities"
    for col, units in (("phase", "own_units"), ("phase_previous", "own_units_comparison")):
        phase = text(seg[col])
        bad = seg[phase.isin(PRE_TRIAL)]
        if len(bad):
            problems.append(f"customers.{col}: rungs below trial told apart without activities: "
                            f"{sorted(set(phase[bad.index]))} in {first(bad, ['territory_id', 'customer_id', 'market', col])}")
        own = num(seg[units])
        bad = seg[phase.notna() & (own.fillna(0) <= 0) & (phase != BELOW_TRIAL)]
        if len(bad):
            problems.append(f"customers.{col}: customers without own units not below_trial: "
                            f"{first(bad, ['territory_id', 'customer_id', 'market', units, col])}")
        bad = seg[phase.eq(BELOW_TRIAL) & (own > 0)]
        if len(bad):
            problems.append(f"customers.{col}: below_trial with own units: "
                            f"{first(bad, ['territory_id', 'customer_id', 'market', units, col])}")
    _all_missing(run, "customers", ("effort_cost", "next_best_channel"), why, problems)
    _all_missing(run, "customers", ("stalled",), why, problems, frame=seg)
    if "next_best_basis" in c:
        bad = seg[text(seg["next_best_basis"]) != "no_activities"]
        if len(bad):
            problems.append(f"customers.next_best_basis: not no_activities: "
                            f"{first(bad, ['territory_id', 'customer_id', 'market', 'next_best_basis'])}")
    _all_missing(run, "kpis", ("cost", "coverage", "customers_covered", "effort_on_priority", "mismatched_effort",
                               "over_service", "roi", "stalled", "maintenance_overdue"), why, problems)
    for name in ("channel_phase", "channels"):
        frame = get(run, name, (), problems)
        if frame is not None and len(frame):
            problems.append(f"{name}: {len(frame)} row(s) although {why}")
    _all_missing(run, "three_c", ("effort_cost",), why, problems)
    _all_missing(run, "coaching", ("customers_covered", "profile_completeness", "profile_qualified_share",
                                   "effort_on_priority", "mismatched_effort", "over_service", "cost",
                                   "own_units_change", "margin_change", "roi", "progressions"), why, problems)
    coaching = run.table("coaching", "flags")
    raised = coaching[coaching["flags"].map(lambda v: bool(codes(v)))]
    if len(raised):
        problems.append(f"coaching.flags: raised from missing activities: {first(raised, ['territory_id', 'rep_id', 'flags'])}")
    for name in ("roi_rep", "roi_segment", "roi_channel"):
        _all_missing(run, name, ("cost", "margin_change", "roi"), why, problems)
    _all_missing(run, "maintenance", ("last_contact", "days_since", "overdue"), why, problems)
    for name in ("regions", "nation"):
        _all_missing(run, name, ("cost", "coverage", "customers_covered", "effort_on_priority", "mismatched_effort",
                                 "over_service", "roi", "stalled", "maintenance_overdue"), why, problems)
    report(run, problems)


def test_profile_fields(run):
    problems = []
    coaching = run.table("coaching", "flags", "customers_covered", "profile_completeness")
    if not run.has_profile:
        _all_missing(run, "coaching", ("profile_completeness", "profile_qualified_share"),
                     "no profile fields are configured in the data", problems)
        raised = coaching[coaching["flags"].map(lambda v: "profiles_unqualified" in codes(v))]
        if len(raised):
            problems.append(f"coaching.flags: profiles_unqualified without profile fields: "
                            f"{first(raised, ['territory_id', 'rep_id', 'flags'])}")
    elif run.has_activities:
        covered = num(coaching["customers_covered"]) > 0
        bad = coaching[covered & num(coaching["profile_completeness"]).isna()]
        if len(bad):
            problems.append(f"coaching.profile_completeness: missing for reps with customers, though the data has "
                            f"profile fields: {first(bad, ['territory_id', 'rep_id', 'customers_covered'])}")
    report(run, problems)


def test_caveats(run):
    problems = []
    expected = {"no_comparison": not run.has_comparison, "no_activities": not run.has_activities,
                "no_profile_fields": not run.has_profile}
    if run.has_activities and not run.units_only:
        expected["roi_units_only"] = False
    kpis = run.table("kpis", "caveats")
    for tid, value in zip(kpis["territory_id"], kpis["caveats"]):
        got = codes(value)
        unknown = got - set(CAVEATS)
        if unknown:
            problems.append(f"kpis.caveats: territory {tid}: unknown code(s) {sorted(unknown)} in {value!r}")
        for code, want in expected.items():
            if (code in got) != want:
                problems.append(f"kpis.caveats: territory {tid}: {code} {'missing from' if want else 'wrongly in'} "
                                f"{value!r}")
    report(run, problems)


# --- the real public file (CMS Medicare Part D, 2013) ------------------------------------------------

def test_cms_public_file_shows_no_false_number(runner):
    """Zero share is not high support; the missing comparison period is not 'unaware'; missing
    activities are not zero (the issue's first three defects, seen on the real file)."""
    run = runner.run("cms/median")
    c = run.table("customers", "customer_type", "support", "support_level", "segment", "phase", "phase_previous",
                  "effort_cost")
    seg, problems = run.segmentable, []
    sup = num(seg["support"])
    zero = seg[sup == 0]
    assert len(zero) > 0, f"[{run.id}] the converted file has no zero-share prescriber: the test would prove nothing"
    high = zero[text(zero["support_level"]).isin(("high", "medium"))
                | text(zero["segment"]).isin(("A", "C"))]
    if len(high):
        problems.append(f"customers: {len(high)} of {len(zero)} zero-share prescriber rows are high support "
                        f"(support_level high or segment A/C): "
                        f"{first(high, ['territory_id', 'market', 'support', 'support_cut', 'support_level', 'segment'])}")
    shown = c[c["phase_previous"].notna()]
    if len(shown):
        problems.append(f"customers.phase_previous: {len(shown)} row(s) have a previous phase though the annual "
                        f"file has no comparison period ({sorted(set(text(shown['phase_previous'])))})")
    pre = seg[text(seg["phase"]).isin(PRE_TRIAL)]
    if len(pre):
        problems.append(f"customers.phase: {len(pre)} row(s) in {sorted(set(text(pre['phase'])))} without any "
                        "activity data (should be below_trial)")
    for col in ("cost", "coverage", "customers_covered"):
        shown = run.kpis[run.kpis[col].notna()] if col in run.kpis else run.kpis.iloc[0:0]
        if len(shown):
            problems.append(f"kpis.{col}: numbers without activity data: {shown[col].head().to_dict()}")
    if c["effort_cost"].notna().any():
        problems.append(f"customers.effort_cost: {int(c['effort_cost'].notna().sum())} number(s) without activity data")
    if len(run.table("channel_phase")):
        problems.append("channel_phase: rows without activity data")
    kpis = run.table("kpis", "caveats")
    for tid, value in zip(kpis["territory_id"], kpis["caveats"]):
        missing = {"no_comparison", "no_activities"} - codes(value)
        if missing:
            problems.append(f"kpis.caveats: territory {tid}: {value!r} lacks {sorted(missing)}")
    report(run, problems)


# --- the deeper tables agree with the rest of the report -------------------------------------------

def test_deeper_tables_agree(run):
    """The trend's analysis months add up to the headline; drill-downs to the flag counts; the
    forecast keeps its customers; competitors' own units are the headline's; the call plan
    ranks each rep's customers once."""
    problems = []
    tr = run.table("trend", "window", "own_units", "market_units")
    inside = tr[text(tr["window"]) == "analysis"]
    for column, kpi in (("own_units", "own_units"), ("market_units", "market_units")):
        got = num(inside[column]).groupby(inside["territory_id"]).sum().reindex(run.territory_ids, fill_value=0.0)
        want = run.kpi(kpi)
        for tid in run.territory_ids:
            if not close(got[tid], want[tid]):
                problems.append(f"trend.{column}: territory {tid}: the analysis months add up to {fmt(got[tid])}, "
                                f"kpis.{kpi} is {fmt(want[tid])}")
    months = sorted(set(text(tr["period"])))
    if months and months[-1] != run.period_end:
        problems.append(f"trend: last month {months[-1]}, the period ends {run.period_end}")
    ta = run.table("trend_activity", "window", "cost")
    if not run.has_activities:
        if len(ta):
            problems.append(f"trend_activity: {len(ta)} row(s) although the data has no activities")
    else:
        got = num(ta.loc[text(ta["window"]) == "analysis", "cost"]).groupby(
            ta.loc[text(ta["window"]) == "analysis", "territory_id"]).sum()
        problems += _compare(run, "trend_activity.cost (analysis months)", got, run.kpi("cost"), per_market=False)
    fc = run.table("flag_customers", "flag")
    flags = run.table("three_c_flags", *FLAGS)
    for flag in FLAGS:
        want = num(flags[flag]).groupby(flags["territory_id"]).sum(min_count=1)
        rows = fc[text(fc["flag"]) == flag]
        got = rows.groupby("territory_id").size()
        for tid in run.territory_ids:
            w, g = want.get(tid, np.nan), got.get(tid, 0)
            if pd.isna(w) and g:
                problems.append(f"flag_customers: {g} {flag} row(s) in territory {tid}, where the flag is not available")
            elif not pd.isna(w) and not close(g, w):
                problems.append(f"flag_customers: territory {tid} lists {g} {flag} rows, three_c_flags counts {fmt(w)}")
    f = run.table("phase_forecast", "customers", "customers_next")
    if not run.has_comparison and len(f):
        problems.append(f"phase_forecast: {len(f)} row(s) although there is no comparison period")
    if run.has_comparison and not len(f):
        problems.append("phase_forecast: no rows although there is a comparison period")
    sums = f.assign(now=num(f["customers"]), nxt=num(f["customers_next"])).groupby(["territory_id", "market"])[
        ["now", "nxt"]].sum()
    bad = sums[(sums["now"] - sums["nxt"]).abs() > 1e-6 * sums["now"].clip(lower=1)]
    if len(bad):
        problems.append(f"phase_forecast: customers_next does not keep the customers: {bad.head().to_dict('index')}")
    c = run.table("competitors", "segment", "is_own", "units", "share_previous")
    own = c[(text(c["segment"]) == "all") & is_true(c["is_own"])]
    got = num(own["units"]).groupby(own["territory_id"]).sum().reindex(run.territory_ids, fill_value=0.0)
    want = run.kpi("own_units")
    for tid in run.territory_ids:
        if not close(got[tid], want[tid]):
            problems.append(f"competitors: our units in territory {tid} are {fmt(got[tid])}, kpis.own_units {fmt(want[tid])}")
    if not run.has_comparison:
        _all_missing(run, "competitors", ("share_previous", "share_change", "customers_led_previous"),
                     "there is no comparison period", problems)
    p = run.table("call_plan", "rep_id", "rank", "customer_id", "due_date", "overdue")
    dup = p[p.duplicated(["territory_id", "customer_id"], keep=False)]
    if len(dup):
        problems.append(f"call_plan: customers listed twice: {first(dup, ['territory_id', 'customer_id', 'rep_id'])}")
    ranks = p.groupby(["territory_id", text(p["rep_id"]).fillna("")])["rank"].apply(
        lambda r: sorted(num(r).astype(int).tolist()) == list(range(1, len(r) + 1)))
    if not ranks.all():
        problems.append(f"call_plan: ranks not 1..n per rep: {ranks[~ranks].index.tolist()[:5]}")
    if not run.has_activities:
        _all_missing(run, "call_plan", ("last_contact", "due_date", "overdue", "next_best_channel"),
                     "the data has no activities", problems)
        _all_missing(run, "targeting", ("effort_cost", "effort_share", "activities", "contacts_per_customer",
                                        "coverage"), "the data has no activities", problems)
    if not run.has_profile:
        g = run.table("profile_gaps")
        if len(g):
            problems.append(f"profile_gaps: {len(g)} row(s) although no profile fields are configured")
    report(run, problems)
