"""Deterministic synthetic demo data in the data contract (DESIGN 3).

``generate()`` builds every input table of a fictional field force; ``write()`` saves
them as one CSV or Parquet file per table. Everything is invented: names are combined
from small made-up lists, phones use the fictional ``555`` range and e-mails the
reserved ``.example`` domain.

The data are built to show the problems the reports are about (DESIGN 1, 4):

* **Skewed potential**: a customer's monthly potential is lognormal, scaled by customer
  type, so about a fifth of the customers hold three quarters of the market units.
* **Moving support**: each customer has a latent share of our product per market that
  drifts month by month. Some customers stay put, some climb from zero to loyal, some
  slip away, some never use us; so phases move both ways between periods. A customer's
  markets are correlated (one attitude to the company).
* **Competitor strongholds**: in about a fifth of the territories (at least two) one
  competitor dominates one market and our share there is low.
* **Misplaced effort**: reps contact customers more the higher their share in the
  previous period (the loyal are over-served, mostly face to face); part of each rep's
  channel choice is habit rather than fit to the customer's phase (how much varies by
  rep); specialty reps focus on departments and hospitals, chronic reps on hcps and
  pharmacies; some customers are never seen.
* **Responses**: the chance of a positive response depends on the channel and is higher
  when the channel fits the customer's phase (DESIGN 4.5 fit table).
* **Relationship customers**: suppliers, distributors and peripheral customers are
  contacted occasionally, at a customer-specific rhythm, so some are overdue.
* **Thin profiles**: profile fields are filled for about 30-90% of customers, depending
  on the territory.

Generation is vectorised with numpy (no Python loop over sales or activity rows), so a
national-size data set (500 territories, 100,000 customers, about five million
activities) takes 10-20 seconds and about 2.5 GB. The same seed gives identical tables.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.contract.schema import CHANNELS, DEFAULT_FIT, CUSTOMER_TYPES, PHASES, ROLES

TABLES = ("territories", "reps", "customers", "products", "markets", "sales", "activities")

# --- invented name material ---------------------------------------------------------
REGION_NAMES = ("North", "South", "East", "West", "Central", "Coast", "Lakes", "Highlands",
                "Valley", "Plains")
CITY_PREFIXES = ("Ash", "Bel", "Cor", "Dun", "Elm", "Fal", "Glen", "Har", "Iver", "Kel",
                 "Lin", "Mar", "Nor", "Oak", "Pen", "Quen", "Ros", "Sel", "Tam", "Ul",
                 "Val", "Wes", "Yar", "Zel", "Brin", "Cal", "Dor", "Fen", "Gor", "Hol")
CITY_SUFFIXES = ("ford", "ham", "ton", "by", "wick", "mouth", "field", "dale", "burg",
                 "stead", "haven", "bridge", "moor", "vale", "port", "holm", "wood",
                 "stone", "cliff", "mere")
FIRST_NAMES = ("Alvin", "Brena", "Casper", "Dalia", "Eskil", "Fenna", "Gideon", "Hanne",
               "Ilan", "Jorun", "Kasimir", "Liora", "Milo", "Nerys", "Oren", "Petra",
               "Quinlan", "Rhea", "Soren", "Talia", "Ulric", "Vesna", "Wren", "Xenia",
               "Yorick", "Zora", "Anouk", "Bastian", "Cleo", "Dagny")
LAST_NAMES = ("Ardley", "Brunvik", "Castellane", "Dorrance", "Elvstrand", "Falkenrath",
              "Grieve", "Halloran", "Ingleby", "Jaskowin", "Korhaven", "Lindqvar",
              "Marrow", "Norbeck", "Ostervald", "Pellworth", "Quell", "Ravensholt",
              "Sandgren", "Tolliver", "Ubbinck", "Vantreight", "Whitlow", "Yelverhay",
              "Zandberk", "Ashgrove", "Brookmere", "Calloway", "Denholm", "Eversby")
HOSPITAL_KINDS = ("General", "University", "Regional", "Memorial", "District")
DISTRIBUTOR_NAMES = ("Medline", "Pharmaway", "Carelink", "Vitaroute", "Northstar",
                     "Healthbridge", "Quickmed", "Apex")
PERIPHERAL_KINDS = ("Nursing Home", "Health Centre", "Rehabilitation Clinic", "Care Home")
EMAIL_DOMAINS = ("mail.example", "clinic.example", "health.example")

# --- customers ----------------------------------------------------------------------
TYPES = CUSTOMER_TYPES
HCP, DEPARTMENT, HOSPITAL, PHARMACY, DISTRIBUTOR, SUPPLIER, PERIPHERAL = range(len(TYPES))
PRESCRIBING = (HCP, DEPARTMENT, HOSPITAL, PHARMACY)
#: Type mix of the prescribing customers (hcp, department, hospital, pharmacy).
PRESCRIBER_MIX = (0.64, 0.13, 0.03, 0.20)
#: Per territory: 2-4 each of distributors, suppliers and peripheral customers.
UPSTREAM_PER_TERRITORY = (2, 4)
#: Share of hcps working in a hospital (they get the hospital's account and city).
HOSPITAL_HCP_SHARE = 0.35

#: hcp specialty: (weight, probability of buying in each market).
HCP_SPECIALTIES = {
    "general practice": (0.40, (0.55, 0.85)),
    "cardiology": (0.18, (0.90, 0.90)),
    "internal medicine": (0.17, (0.70, 0.70)),
    "neurology": (0.10, (0.95, 0.25)),
    "endocrinology": (0.08, (0.20, 0.95)),
    "vascular surgery": (0.07, (0.90, 0.35)),
}
#: Hospital department: (weight, probability of buying in each market).
DEPARTMENTS = {
    "Cardiology": (0.30, (0.95, 0.90)),
    "Neurology": (0.20, (0.95, 0.30)),
    "Internal Medicine": (0.25, (0.80, 0.80)),
    "Vascular Surgery": (0.10, (0.90, 0.30)),
    "Endocrinology": (0.15, (0.20, 0.95)),
}
#: Probability of buying in each market for the other types (distributors: some buy).
TYPE_MARKETS = {HOSPITAL: (0.95, 0.95), PHARMACY: (0.90, 0.90), DISTRIBUTOR: (0.45, 0.45),
                SUPPLIER: (0.0, 0.0), PERIPHERAL: (0.0, 0.0)}
#: Monthly potential: lognormal (median boxes for an hcp, sigma) times a type scale.
POTENTIAL_MEDIAN, POTENTIAL_SIGMA = 3.0, 1.35
TYPE_SCALE = np.array([1.0, 6.0, 12.0, 2.5, 10.0, 0.0, 0.0])

PROFILE_FIELDS = ("phone", "email", "university", "hometown")
#: How much more (or less) often each profile field is filled than the territory rate.
PROFILE_FILL_FACTOR = np.array([1.1, 1.0, 0.9, 0.85])

# --- markets and products -----------------------------------------------------------
MARKETS = (("anticoagulation", 6.0), ("lipid_lowering", 4.0))   # market, boxes per patient
MARKET_SCALE = (1.0, 1.4)
#: product_id, product_name, market, is_own, units_per_box, unit_margin; own product first.
PRODUCTS = (
    ("P01", "Vexolan", "anticoagulation", True, 28, 14.0),
    ("P02", "Trombizan", "anticoagulation", False, 28, 12.0),
    ("P03", "Coagustat", "anticoagulation", False, 30, 11.0),
    ("P04", "Heparona", "anticoagulation", False, 56, 9.5),
    ("P05", "Lipovance", "lipid_lowering", True, 30, 6.5),
    ("P06", "Statorin", "lipid_lowering", False, 30, 5.0),
    ("P07", "Cholexa", "lipid_lowering", False, 28, 5.5),
)

# --- share dynamics -----------------------------------------------------------------
ARCHETYPES = ("stable", "climber", "slipper", "never")
ARCHETYPE_MIX = {"normal": (0.45, 0.20, 0.15, 0.20), "dominated": (0.30, 0.08, 0.04, 0.58)}
#: Chance that a customer's archetype in a market follows its company-wide mood.
MARKET_CORRELATION = 0.7
#: Below this latent share the customer does not use our product at all.
SHARE_FLOOR = 0.03
#: In a competitor stronghold: the dominant competitor's Dirichlet weight, the others'.
DOMINANT_ALPHA, DOMINATED_ALPHA = 12.0, 0.6

# --- activities ---------------------------------------------------------------------
EVENT_CHANNELS = ("web_lecture", "offline_lecture", "briefing_session")
#: Cost per contact (uniform between the bounds); events are priced per head.
CHANNEL_COST = {
    "f2f_visit": (60.0, 120.0), "phone": (4.0, 12.0), "email": (0.3, 0.7),
    "web_interview": (25.0, 50.0), "web_lecture": (20.0, 45.0),
    "offline_lecture": (150.0, 350.0), "briefing_session": (80.0, 200.0),
    "chat_app": (0.5, 2.0), "edetailing": (5.0, 15.0), "social": (0.1, 0.3),
}
#: Base chance of a positive response (engaged / attended) and of a mere "opened".
CHANNEL_RESPONSE = {
    "f2f_visit": (0.22, 0.00), "phone": (0.18, 0.00), "email": (0.04, 0.35),
    "web_interview": (0.35, 0.00), "web_lecture": (0.25, 0.20),
    "offline_lecture": (0.45, 0.10), "briefing_session": (0.40, 0.10),
    "chat_app": (0.12, 0.40), "edetailing": (0.12, 0.35), "social": (0.03, 0.20),
}
#: DESIGN 4.5 default fit: which channels suit which phase (the reps' world follows it).
FIT = DEFAULT_FIT
#: Response multiplier when the channel fits the phase, and when it does not.
FIT_RESPONSE, MISFIT_RESPONSE = 1.6, 0.6
#: Responsiveness by phase (and for relationship customers, last).
PHASE_RESPONSE = (0.6, 0.9, 1.1, 1.1, 1.2, 1.2, 1.0)
#: Share of non-users the rep has already made aware / interested (rest: unaware).
PRE_PHASE_MIX = (0.45, 0.35, 0.20)
#: Channel habits by rep role (weights); applied regardless of the customer's phase.
HABIT_MIX = {
    "chronic": {"f2f_visit": 40, "phone": 12, "email": 14, "web_interview": 4,
                "web_lecture": 4, "offline_lecture": 3, "briefing_session": 2,
                "chat_app": 10, "edetailing": 7, "social": 4},
    "specialty": {"f2f_visit": 32, "phone": 10, "email": 12, "web_interview": 6,
                  "web_lecture": 8, "offline_lecture": 10, "briefing_session": 8,
                  "chat_app": 6, "edetailing": 5, "social": 3},
}
#: Hospital customers (departments, hospitals) get more events; in habit mode,
#: customers at adopter or loyal get this many times more face-to-face visits.
HOSPITAL_EVENT_BOOST, WARM_F2F_BOOST = 1.5, 2.5
RELATIONSHIP_MIX = {"f2f_visit": 45, "phone": 30, "email": 20, "chat_app": 5}
#: Activity weight by rep role and customer type (hcp, department, hospital, pharmacy).
ROLE_FOCUS = np.array([[1.0, 0.35, 0.30, 0.8],
                       [0.35, 2.5, 2.0, 0.1]])
#: Relationship customers: mean days between contacts (log-uniform bounds), and the
#: share never contacted in the window.
CONTACT_INTERVAL = {DISTRIBUTOR: (25, 200), SUPPLIER: (40, 300), PERIPHERAL: (60, 600)}
NEVER_CONTACTED = 0.10
CONTENT_TOPICS = {
    "anticoagulation": ("stroke prevention in AF", "VTE treatment", "bleeding risk",
                        "renal dosing", "switching from VKA"),
    "lipid_lowering": ("LDL-C targets", "statin intolerance", "combination therapy",
                       "secondary prevention"),
}
RELATIONSHIP_TOPICS = ("supply planning", "stock review", "contract review", "courtesy call")


# --- public API ---------------------------------------------------------------------
def generate(seed: int = 7, n_regions: int = 3, n_territories: int = 12,
             n_customers: int = 1500, months: int = 24, period_end: str = "2026-10",
             activity_months: int = 12,
             activities_per_customer_month: float = 1.5) -> dict[str, pd.DataFrame]:
    """All input tables of a synthetic field force, keyed by table name (see ``TABLES``).

    ``months`` months of sales and ``activity_months`` months of activities end at
    ``period_end`` (``YYYY-MM``). ``activities_per_customer_month`` is the mean number of
    activities per customer and month over the whole territory. There are at most as many
    regions as territories. Deterministic for a seed.
    """
    if n_regions < 1 or n_territories < 1 or n_customers < 1 or months < 1 or activity_months < 1 \
            or activities_per_customer_month < 0:
        raise ValueError("counts and months must be positive, "
                         "activities_per_customer_month not negative")
    n_regions = min(n_regions, n_territories)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6)]
    sales_periods = _periods(period_end, months)
    activity_periods = _periods(period_end, activity_months)

    world = _territory_world(streams[0], n_regions, n_territories)
    people = _customer_world(streams[1], world, n_customers)
    demand = _demand(streams[2], world, people, sales_periods)
    known_share, known_loyal = _rep_view(people, demand, len(sales_periods), activity_months)
    return {
        "territories": _territories_table(world),
        "reps": _reps_table(world),
        "customers": _customers_table(streams[3], world, people),
        "products": _products_table(),
        "markets": _markets_table(),
        "sales": _sales_table(streams[4], people, demand, sales_periods),
        "activities": _activities_table(streams[5], world, people, known_share, known_loyal,
                                        activity_periods, activities_per_customer_month),
    }


def write(tables: dict[str, pd.DataFrame], out: Path | str, fmt: str = "csv") -> list[Path]:
    """Write one file per table, ``out/<table>.csv`` or ``.parquet``; creates ``out``.

    Missing values are written as empty CSV cells. Returns the paths written.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', not {fmt!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in tables.items():
        path = out / f"{name}.{fmt}"
        if fmt == "csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
        paths.append(path)
    return paths


# --- latent world -------------------------------------------------------------------
@dataclass(frozen=True)
class _World:
    """Territories with the hidden traits that shape their data."""

    ids: list[str]
    names: list[str]
    region: np.ndarray            # region index per territory
    region_names: list[str]
    managers: list[str]           # per region
    cities: np.ndarray            # (territories, 3) city names, main city first
    city_pool: list[str]
    rep_ids: list[str]
    rep_names: list[str]
    role: np.ndarray              # 0 chronic, 1 specialty
    cost_per_day: np.ndarray
    completeness: np.ndarray      # profile fill rate, about 0.3-1.0 (observed 0.3-0.9)
    habit: np.ndarray             # chance a channel is chosen by habit, not by phase
    loyalty_bias: np.ndarray      # how strongly the rep favours high-share customers
    neglect: np.ndarray           # share of prescribing customers the rep never sees
    dominated_market: np.ndarray  # market index held by a competitor, -1 if none
    competitor_alpha: list[np.ndarray]  # per market: (territories, competitors)


@dataclass(frozen=True)
class _People:
    """Customers' hidden attributes, one entry per customer in customer_id order."""

    ids: list[str]
    territory: np.ndarray
    ctype: np.ndarray
    specialty: np.ndarray         # index into HCP_SPECIALTIES / DEPARTMENTS, -1 otherwise
    hospital: np.ndarray          # row of the customer's hospital, -1 if none
    city: np.ndarray              # city names
    potential: np.ndarray         # (customers, markets) boxes per month, 0 = not buying


@dataclass(frozen=True)
class _Demand:
    """Per market: buying customers, their product shares and monthly units."""

    customers: list[np.ndarray]   # rows of the customers buying in the market
    own_share: list[np.ndarray]   # (buyers, months) latent share of our product
    units: list[np.ndarray]       # (buyers, months, products) units, own product first


def _periods(period_end: str, months: int) -> list[str]:
    end = pd.Period(period_end, freq="M")
    return [(end - k).strftime("%Y-%m") for k in range(months - 1, -1, -1)]


def _ids(prefix: str, n: int, width: int) -> list[str]:
    width = max(width, len(str(n)))
    return [f"{prefix}{i:0{width}d}" for i in range(1, n + 1)]


def _person_names(rng: np.random.Generator, n: int) -> list[str]:
    first = rng.integers(len(FIRST_NAMES), size=n)
    last = rng.integers(len(LAST_NAMES), size=n)
    return [f"{FIRST_NAMES[f]} {LAST_NAMES[m]}" for f, m in zip(first, last)]


def _territory_world(rng: np.random.Generator, n_regions: int, n_territories: int) -> _World:
    """Territories in contiguous blocks per region, one rep each (about 1/3 specialty)."""
    t = n_territories
    pool = [p + s for p in CITY_PREFIXES for s in CITY_SUFFIXES]
    pool = [pool[i] for i in rng.permutation(len(pool))]
    main = np.arange(t) % len(pool)
    others = rng.integers(len(pool), size=(t, 2))
    cities = np.array(pool, dtype=object)[np.column_stack([main, others])]
    names = [pool[m] + (f" {i // len(pool) + 1}" if i >= len(pool) else "")
             for i, m in enumerate(main)]
    regions = [REGION_NAMES[i] if i < len(REGION_NAMES) else f"Region {i + 1}"
               for i in range(n_regions)]

    n_dominated = min(max(2, math.ceil(t / 5)), t - 1) if t > 1 else 0
    dominated_market = np.full(t, -1)
    chosen = rng.choice(t, size=n_dominated, replace=False)
    dominated_market[chosen] = rng.integers(len(MARKETS), size=n_dominated)
    alphas = []
    for m, (market, _) in enumerate(MARKETS):
        n_comp = sum(1 for p in PRODUCTS if p[2] == market and not p[3])
        alpha = rng.uniform(0.8, 3.0, size=(t, n_comp))
        leader = rng.integers(n_comp, size=t)
        held = dominated_market == m
        alpha[held] = DOMINATED_ALPHA
        alpha[held, leader[held]] = DOMINANT_ALPHA
        alphas.append(alpha)

    return _World(
        ids=_ids("T", t, 2), names=names,
        region=(np.arange(t) * n_regions) // t, region_names=regions,
        managers=_person_names(rng, n_regions), cities=cities, city_pool=pool,
        rep_ids=_ids("R", t, 2), rep_names=_person_names(rng, t),
        role=(rng.permutation(t) % 3 == 0).astype(int),
        cost_per_day=np.round(rng.uniform(350, 600, size=t), -1),
        completeness=0.28 + 0.77 * (rng.permutation(t) + rng.uniform(size=t)) / t,
        habit=rng.uniform(0.05, 0.65, size=t),
        loyalty_bias=rng.uniform(1.5, 8.0, size=t),
        neglect=rng.uniform(0.05, 0.35, size=t),
        dominated_market=dominated_market, competitor_alpha=alphas,
    )


def _customer_world(rng: np.random.Generator, world: _World, n_customers: int) -> _People:
    """Customers spread unevenly over territories, with type, specialty and potential.

    Each territory gets 2-4 each of distributors, suppliers and peripherals, at least
    one hospital, and otherwise mostly hcps, then pharmacies, departments, hospitals.
    Departments (and about a third of the hcps) belong to a hospital of their territory.
    """
    t, n = len(world.ids), n_customers
    size = rng.lognormal(0.0, 0.25, size=t)
    counts = rng.multinomial(n, size / size.sum())
    upstream = rng.integers(UPSTREAM_PER_TERRITORY[0], UPSTREAM_PER_TERRITORY[1] + 1, size=(t, 3))
    upstream = np.minimum(upstream, (np.maximum(counts - 2, 0) // 3)[:, None])
    territory = np.repeat(np.arange(t), counts)
    rank = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)
    bounds = np.cumsum(upstream, axis=1)[territory]
    prescriber = np.asarray(PRESCRIBING)[rng.choice(len(PRESCRIBING), size=n, p=PRESCRIBER_MIX)]
    ctype = np.select(
        [rank < bounds[:, 0], rank < bounds[:, 1], rank < bounds[:, 2], rank == bounds[:, 2]],
        [DISTRIBUTOR, SUPPLIER, PERIPHERAL, HOSPITAL], default=prescriber)
    order = rng.permutation(n)
    territory, ctype = territory[order], ctype[order]

    # specialty and which markets the customer buys in
    specialty = np.full(n, -1)
    buy_prob = np.zeros((n, len(MARKETS)))
    for kind, table in ((HCP, HCP_SPECIALTIES), (DEPARTMENT, DEPARTMENTS)):
        rows = np.flatnonzero(ctype == kind)
        weights = np.array([w for w, _ in table.values()])
        specialty[rows] = rng.choice(len(table), size=len(rows), p=weights / weights.sum())
        buy_prob[rows] = np.array([p for _, p in table.values()])[specialty[rows]]
    for kind, prob in TYPE_MARKETS.items():
        buy_prob[ctype == kind] = prob
    buys = rng.uniform(size=buy_prob.shape) < buy_prob
    idle = np.isin(ctype, PRESCRIBING) & ~buys.any(axis=1)     # every prescriber buys somewhere
    buys[idle, buy_prob[idle].argmax(axis=1)] = True

    base = rng.lognormal(math.log(POTENTIAL_MEDIAN), POTENTIAL_SIGMA, size=n) * TYPE_SCALE[ctype]
    jitter = rng.lognormal(0.0, 0.5, size=buys.shape) * np.asarray(MARKET_SCALE)
    potential = np.where(buys, base[:, None] * jitter, 0.0)

    member = (ctype == DEPARTMENT) | ((ctype == HCP) & (rng.uniform(size=n) < HOSPITAL_HCP_SHARE))
    hospital = _pick_hospital(rng, territory, ctype, member, t)
    member = hospital >= 0
    city = world.cities[territory, rng.choice(3, size=n, p=(0.5, 0.3, 0.2))]
    city[member] = city[hospital[member]]

    return _People(ids=_ids("C", n, 5), territory=territory, ctype=ctype, specialty=specialty,
                   hospital=hospital, city=city, potential=potential)


def _pick_hospital(rng: np.random.Generator, territory: np.ndarray, ctype: np.ndarray,
                   member: np.ndarray, n_territories: int) -> np.ndarray:
    """For each ``member`` a random hospital (row) of its own territory; -1 for the
    others and where the territory has no hospital."""
    hospitals = np.flatnonzero(ctype == HOSPITAL)
    hospitals = hospitals[np.argsort(territory[hospitals], kind="stable")]
    first = np.searchsorted(territory[hospitals], np.arange(n_territories))
    count = np.bincount(territory[hospitals], minlength=n_territories)
    pick = first[territory] + (rng.uniform(size=len(territory)) * count[territory]).astype(int)
    has = member & (count[territory] > 0)
    return np.where(has, hospitals[np.minimum(pick, len(hospitals) - 1)] if len(hospitals) else -1, -1)


# --- dimension tables ---------------------------------------------------------------
def _territories_table(world: _World) -> pd.DataFrame:
    return pd.DataFrame({
        "territory_id": world.ids,
        "territory_name": world.names,
        "region": [world.region_names[r] for r in world.region],
        "manager": [world.managers[r] for r in world.region],
    })


def _reps_table(world: _World) -> pd.DataFrame:
    return pd.DataFrame({
        "rep_id": world.rep_ids,
        "rep_name": world.rep_names,
        "territory_id": world.ids,
        "role": [ROLES[r] for r in world.role],
        "cost_per_day": world.cost_per_day,
    })


def _products_table() -> pd.DataFrame:
    return pd.DataFrame(PRODUCTS, columns=["product_id", "product_name", "market", "is_own",
                                           "units_per_box", "unit_margin"])


def _markets_table() -> pd.DataFrame:
    return pd.DataFrame(MARKETS, columns=["market", "boxes_per_patient"])


def _customers_table(rng: np.random.Generator, world: _World, people: _People) -> pd.DataFrame:
    """Names, organisation and profile; patient-flow inputs for departments and
    catchment inputs for hospitals are consistent with their potential (mostly filled)."""
    n, ctype = len(people.ids), people.ctype
    first = np.array(FIRST_NAMES, dtype=object)[rng.integers(len(FIRST_NAMES), size=n)]
    last = np.array(LAST_NAMES, dtype=object)[rng.integers(len(LAST_NAMES), size=n)]
    kind = rng.integers(len(HOSPITAL_KINDS), size=n)
    org = rng.integers(len(DISTRIBUTOR_NAMES), size=n)
    peripheral_kind = rng.integers(len(PERIPHERAL_KINDS), size=n)
    hcp_spec, dept_names = list(HCP_SPECIALTIES), list(DEPARTMENTS)

    names, specialty, department = [], [], []
    for i in range(n):  # customer-level only: at most a few hundred thousand rows
        c, s = ctype[i], people.specialty[i]
        spec = dept = np.nan
        if c == HCP:
            name, spec = f"Dr. {first[i]} {last[i]}", hcp_spec[s]
            if people.hospital[i] >= 0:
                dept = {"general practice": "Internal Medicine"}.get(spec, spec.title())
        elif c == HOSPITAL:
            name = f"{people.city[i]} {HOSPITAL_KINDS[kind[i]]} Hospital"
        elif c == DEPARTMENT:
            h = people.hospital[i]
            host = (f"{people.city[h]} {HOSPITAL_KINDS[kind[h]]} Hospital" if h >= 0
                    else f"{people.city[i]} Clinic")
            name, dept, spec = f"{host} - {dept_names[s]}", dept_names[s], dept_names[s].lower()
        elif c == PHARMACY:
            name = f"{last[i]} Pharmacy"
        elif c == DISTRIBUTOR:
            name = f"{DISTRIBUTOR_NAMES[org[i]]} Distribution {people.city[i]}"
        elif c == SUPPLIER:
            name = f"{DISTRIBUTOR_NAMES[org[i]]} Pharma Logistics"
        else:
            name = f"{people.city[i]} {PERIPHERAL_KINDS[peripheral_kind[i]]}"
        names.append(name)
        specialty.append(spec)
        department.append(dept)

    rows = np.arange(n)
    account = np.where(people.hospital >= 0, people.hospital, rows)
    account = np.where(ctype == HOSPITAL, rows, account)
    account_ids = _ids("AC", n, 5)

    main = people.potential.argmax(axis=1)
    main_potential = people.potential[rows, main]
    boxes = np.array([b for _, b in MARKETS])[main]
    flow = _patient_flow(rng, main_potential, boxes, ctype == DEPARTMENT)
    catchment = _catchment(rng, main_potential, boxes, ctype == HOSPITAL)
    profile = _profile(rng, world, people, first, last)

    return pd.DataFrame({
        "customer_id": people.ids,
        "customer_name": names,
        "customer_type": [TYPES[c] for c in ctype],
        "territory_id": [world.ids[t] for t in people.territory],
        "specialty": specialty,
        "account_id": [account_ids[a] for a in account],
        "department": department,
        "city": list(people.city),
        **flow, **catchment, **profile,
    })


def _patient_flow(rng: np.random.Generator, potential: np.ndarray, boxes: np.ndarray,
                  departments: np.ndarray) -> dict[str, np.ndarray]:
    """beds, bed turnovers per month and indication share for departments, chosen so
    that the patient-flow potential is 1.3-3x what the department uses now; about 15% of
    departments lack some of these inputs."""
    n = len(potential)
    turnover = np.round(rng.uniform(1.0, 3.0, size=n), 1)
    capture = rng.uniform(1.3, 3.0, size=n)
    needed = potential * capture / (turnover * boxes)          # beds x indication share
    beds = np.clip(np.round(rng.lognormal(math.log(45), 0.5, size=n)), 10, 250)
    beds = np.maximum(beds, np.ceil(needed / 0.9))
    share = np.round(np.clip(needed / beds, 0.02, 0.9), 3)
    complete = rng.uniform(size=n) < 0.85
    has_beds = departments & (complete | (rng.uniform(size=n) < 0.5))
    has_rest = departments & complete
    return {
        "beds": np.where(has_beds, beds, np.nan),
        "bed_turnover_per_month": np.where(has_rest, turnover, np.nan),
        "indication_share": np.where(has_rest, share, np.nan),
    }


def _catchment(rng: np.random.Generator, potential: np.ndarray, boxes: np.ndarray,
               hospitals: np.ndarray) -> dict[str, np.ndarray]:
    """Catchment population and annual incidence (0.4-6%) for about 80% of hospitals;
    the catchment potential is 3-10x what the hospital uses now."""
    n = len(potential)
    incidence = np.round(np.exp(rng.uniform(math.log(0.004), math.log(0.06), size=n)), 4)
    capture = rng.uniform(3.0, 10.0, size=n)
    population = np.maximum(np.round(potential * capture * 12 / (incidence * boxes), -3), 10_000)
    has = hospitals & (rng.uniform(size=n) < 0.8)
    return {
        "catchment_population": np.where(has, population, np.nan),
        "incidence_rate": np.where(has, incidence, np.nan),
    }


def _profile(rng: np.random.Generator, world: _World, people: _People,
             first: np.ndarray, last: np.ndarray) -> dict[str, list]:
    """Profile fields filled at the territory's rate (30-95%), varying by customer."""
    n = len(people.ids)
    rate = np.clip(world.completeness[people.territory] + rng.normal(0.0, 0.12, size=n), 0.0, 1.0)
    field_rate = np.clip(rate[:, None] * PROFILE_FILL_FACTOR, 0.0, 1.0)
    filled = rng.uniform(size=field_rate.shape) < field_rate
    numbers = rng.integers(0, 10_000_000, size=n)
    domain = rng.integers(len(EMAIL_DOMAINS), size=n)
    pool = world.city_pool
    school = rng.integers(len(pool), size=n)
    school_kind = rng.integers(2, size=n)
    home = rng.integers(len(pool), size=n)
    phone, email, university, hometown = [], [], [], []
    for i in range(n):
        phone.append(f"+00 555 {numbers[i] // 10_000:03d} {numbers[i] % 10_000:04d}"
                     if filled[i, 0] else np.nan)
        if not filled[i, 1]:
            email.append(np.nan)
        elif people.ctype[i] == HCP:
            email.append(f"{first[i]}.{last[i]}@{EMAIL_DOMAINS[domain[i]]}".lower())
        else:
            email.append(f"contact.{people.ids[i].lower()}@partners.example")
        university.append((f"University of {pool[school[i]]}" if school_kind[i] else
                           f"{pool[school[i]]} Medical University") if filled[i, 2] else np.nan)
        hometown.append(pool[home[i]] if filled[i, 3] else np.nan)
    return {"phone": phone, "email": email, "university": university, "hometown": hometown}


# --- sales --------------------------------------------------------------------------
def _share_paths(rng: np.random.Generator, dominated: np.ndarray, affinity: np.ndarray,
                 mood: np.ndarray, months: int) -> np.ndarray:
    """Latent monthly share of our product, (customers, months).

    A logit-scale path per customer: *stable* customers hover around their own level,
    *climbers* ramp up through 50% at a random month to a plateau, *slippers* ramp down,
    *never* customers do not use us. All paths carry a random walk. Shares below
    ``SHARE_FLOOR`` are zero. Competitor strongholds have more non-users and lower levels.
    The customer's ``affinity`` to the company (level) and ``mood`` (uniform; picks the
    archetype most of the time) are shared by markets, so a customer's phases correlate.
    """
    n = len(dominated)
    mix = np.where(dominated[:, None], ARCHETYPE_MIX["dominated"], ARCHETYPE_MIX["normal"])
    pick = np.where(rng.uniform(size=n) < MARKET_CORRELATION, mood, rng.uniform(size=n))
    archetype = (pick[:, None] > np.cumsum(mix, axis=1)[:, :-1]).sum(axis=1)
    level = -0.7 + affinity + rng.normal(0.0, 1.0, size=n) - 2.0 * dominated
    speed = rng.uniform(0.25, 0.7, size=n)
    middle = rng.uniform(-2.0, months + 4.0, size=n)
    top = rng.uniform(0.3, 2.2, size=n)
    bottom = rng.uniform(-4.5, -0.8, size=n)
    walk = np.cumsum(rng.normal(0.0, 0.15, size=(n, months)), axis=1)
    ramp = speed[:, None] * (np.arange(months) - middle[:, None])
    logit = np.select(
        [archetype[:, None] == 0, archetype[:, None] == 1, archetype[:, None] == 2],
        [np.broadcast_to(level[:, None], ramp.shape), np.minimum(ramp, top[:, None]),
         np.clip(-ramp, bottom[:, None], top[:, None])],
        default=-np.inf) + walk
    share = 1.0 / (1.0 + np.exp(-logit))
    share[share < SHARE_FLOOR] = 0.0
    return share


def _demand(rng: np.random.Generator, world: _World, people: _People,
            periods: list[str]) -> _Demand:
    """Monthly units per buying customer and product: potential x season x noise x
    product share, Poisson-distributed. Competitors split what we do not hold by a
    Dirichlet draw whose weights vary by territory (one competitor wins strongholds)."""
    months = len(periods)
    month_of_year = np.array([int(p[5:]) for p in periods])
    season = 1.0 + 0.08 * np.cos(2 * np.pi * (month_of_year - 1) / 12)    # winter peak
    season *= 1.0 + 0.004 * np.arange(months)                    # slow market growth
    affinity = rng.normal(0.0, 1.0, size=len(people.ids))
    mood = rng.uniform(size=len(people.ids))
    customers, own_share, units = [], [], []
    for m in range(len(MARKETS)):
        rows = np.flatnonzero(people.potential[:, m] > 0)
        territory = people.territory[rows]
        share = _share_paths(rng, world.dominated_market[territory] == m, affinity[rows],
                             mood[rows], months)
        gamma = rng.gamma(world.competitor_alpha[m][territory])
        split = gamma / gamma.sum(axis=1, keepdims=True)
        product_share = np.concatenate(
            [share[:, :, None], (1.0 - share)[:, :, None] * split[:, None, :]], axis=2)
        noise = rng.gamma(6.0, 1 / 6, size=(len(rows), months))  # month-to-month swings
        volume = people.potential[rows, m][:, None] * season * noise
        customers.append(rows)
        own_share.append(share)
        units.append(rng.poisson(volume[:, :, None] * product_share))
    return _Demand(customers=customers, own_share=own_share, units=units)


def _sales_table(rng: np.random.Generator, people: _People, demand: _Demand,
                periods: list[str]) -> pd.DataFrame:
    """Sparse sales: positive months, plus an explicit zero in about a third of the
    months right after a product was bought (the way wholesaler feeds report a stop)."""
    product_ids = [p[0] for p in PRODUCTS]
    parts = []
    for m, (market, _) in enumerate(MARKETS):
        units = demand.units[m]
        codes = np.array([i for i, p in enumerate(PRODUCTS) if p[2] == market])
        bought_before = np.zeros_like(units, dtype=bool)
        bought_before[:, 1:] = units[:, :-1] > 0
        keep = (units > 0) | (bought_before & (rng.uniform(size=units.shape) < 1 / 3))
        i, t, p = np.nonzero(keep)
        parts.append((demand.customers[m][i], t, codes[p], units[i, t, p]))
    customer, period, product, count = (np.concatenate(x) for x in zip(*parts))
    order = np.lexsort((product, period, customer))
    return pd.DataFrame({
        "customer_id": _labels(customer[order], people.ids),
        "product_id": _labels(product[order], product_ids),
        "period": _labels(period[order], periods),
        "units": count[order].astype(np.int64),
    })


def _rep_view(people: _People, demand: _Demand, months: int,
              window: int) -> tuple[np.ndarray, np.ndarray]:
    """What the rep knows when planning each month of the activity window, (customers,
    window) each: the customer's latent share (potential-weighted over markets) averaged
    over the previous 3-month period (periods aligned with the last month, as in the
    reports), and whether it was at least 0.5 in both of the two previous periods."""
    n = len(people.ids)
    weighted, total = np.zeros((n, months)), np.zeros(n)
    for m, rows in enumerate(demand.customers):
        weighted[rows] += people.potential[rows, m][:, None] * demand.own_share[m]
        total[rows] += people.potential[rows, m]
    share = np.divide(weighted, total[:, None], out=np.zeros_like(weighted), where=total[:, None] > 0)

    block = (months - 1 - np.arange(months)) // 3            # 0 = the latest 3 months
    n_blocks = block.max() + 1
    means = np.full((n, n_blocks + 2), np.nan)                # blocks before the data: unknown
    for b in range(n_blocks):
        means[:, b] = share[:, block == b].mean(axis=1)
    month = np.arange(months - window, months)
    current = np.where(month >= 0, block[np.maximum(month, 0)], n_blocks)
    known = np.nan_to_num(means[:, current + 1])
    loyal = (means[:, current + 1] >= 0.5) & (means[:, current + 2] >= 0.5)
    return known, loyal


# --- activities ---------------------------------------------------------------------
def _activity_rates(rng: np.random.Generator, world: _World, people: _People,
                    share: np.ndarray, per_customer_month: float) -> np.ndarray:
    """Expected activities per customer and month, (customers, months).

    Prescribing customers: the rep's focus on the customer type, times a mild potential
    weight, times ``1 + loyalty_bias x share^2`` with the share the rep knows from the
    previous period (over-service of the engaged); some customers the rep never sees.
    Relationship customers: one contact per 'interval' days (some never).
    Prescribing rates are scaled so the total is ``per_customer_month`` per customer.
    """
    n, window = share.shape
    territory, ctype = people.territory, people.ctype
    prescribing = np.isin(ctype, PRESCRIBING)

    relationship = np.zeros(n)
    for kind, (low, high) in CONTACT_INTERVAL.items():
        rows = np.flatnonzero(ctype == kind)
        interval = np.exp(rng.uniform(math.log(low), math.log(high), size=len(rows)))
        relationship[rows] = 30.4 / interval * (rng.uniform(size=len(rows)) >= NEVER_CONTACTED)

    total_potential = people.potential.sum(axis=1)
    reference = np.median(total_potential[prescribing]) if prescribing.any() else 1.0
    focus = np.zeros(n)
    focus[prescribing] = ROLE_FOCUS[world.role[territory[prescribing]], ctype[prescribing]]
    seen = rng.uniform(size=n) >= world.neglect[territory]
    weight = focus * seen * (np.maximum(total_potential, 1e-9) / reference) ** 0.3
    rate = weight[:, None] * (1.0 + world.loyalty_bias[territory][:, None] * share ** 2)

    budget = n * per_customer_month * window - relationship.sum() * window
    rate *= max(budget, 0.0) / rate.sum() if rate.sum() > 0 else 0.0
    return rate + relationship[:, None]


def _channel_tables() -> tuple[np.ndarray, np.ndarray]:
    """Cumulative channel distributions and the response multiplier table.

    Distribution rows: 0-5 the fitting channels of each phase (uniform); 6 relationship
    customers; 7-14 habit by role x (office / hospital customer) x (cold / warm).
    Multiplier rows: phase 0-5 and relationship (6), by channel.
    """
    def weights(mix: dict[str, float]) -> np.ndarray:
        return np.array([mix.get(c, 0.0) for c in CHANNELS], dtype=float)

    rows = [weights({c: 1.0 for c in FIT[phase]}) for phase in PHASES]
    rows.append(weights(RELATIONSHIP_MIX))
    events = np.isin(CHANNELS, EVENT_CHANNELS)
    f2f = np.asarray(CHANNELS) == "f2f_visit"
    for role in ROLES:
        for hospital in (False, True):
            for warm in (False, True):
                w = weights(HABIT_MIX[role])
                w[events] *= HOSPITAL_EVENT_BOOST if hospital else 1.0
                w[f2f] *= WARM_F2F_BOOST if warm else 1.0
                rows.append(w)
    table = np.array(rows)
    cumulative = np.cumsum(table / table.sum(axis=1, keepdims=True), axis=1)

    fits = np.array([[c in FIT[phase] for c in CHANNELS] for phase in PHASES])
    multiplier = np.where(fits, FIT_RESPONSE, MISFIT_RESPONSE)
    multiplier = np.vstack([multiplier, np.ones(len(CHANNELS))]) * np.asarray(PHASE_RESPONSE)[:, None]
    return cumulative, multiplier


def _workdays(periods: list[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Weekdays of the periods as ISO strings, with each period's first index and count."""
    start = pd.Period(periods[0], freq="M").start_time
    end = pd.Period(periods[-1], freq="M").end_time.normalize()
    days = pd.bdate_range(start, end)
    month = (days.year - start.year) * 12 + (days.month - start.month)
    counts = np.bincount(np.asarray(month), minlength=len(periods))
    return list(days.strftime("%Y-%m-%d")), np.cumsum(counts) - counts, counts


def _activities_table(rng: np.random.Generator, world: _World, people: _People,
                      share: np.ndarray, loyal: np.ndarray, periods: list[str],
                      per_customer_month: float) -> pd.DataFrame:
    """Activities on weekdays of the window, numbered in date order.

    Channel: with the rep's 'habit' probability from the rep's habitual mix (more
    events for hospital customers, more visits to customers at adopter or loyal),
    otherwise a channel fitting the customer's phase as the rep knows it: from the share
    in the previous period(s) (loyal >= 0.5 twice, adopter >= 0.2, trial > 0); non-users
    are unaware, aware or interested. Outcome: positive with the channel's base chance x
    phase responsiveness x fit multiplier, else possibly 'opened', else 'none'.
    """
    n, window = share.shape
    territory, ctype = people.territory, people.ctype
    rate = _activity_rates(rng, world, people, share, per_customer_month)
    cell = np.repeat(np.arange(n * window), rng.poisson(rate).ravel())
    customer, month = cell // window, cell % window
    size = len(cell)

    relationship = ~np.isin(ctype, PRESCRIBING)
    pre_phase = rng.choice(3, size=n, p=PRE_PHASE_MIX)
    s = share[customer, month]
    phase = np.select([loyal[customer, month], s >= 0.2, s > 0], [5, 4, 3], default=pre_phase[customer])
    phase = np.where(relationship[customer], len(PHASES), phase)

    cumulative, multiplier = _channel_tables()
    t = territory[customer]
    habit_row = (len(PHASES) + 1 + 4 * world.role[t]
                 + 2 * np.isin(ctype[customer], (DEPARTMENT, HOSPITAL)) + (phase >= 4))
    by_habit = rng.uniform(size=size) < world.habit[t]
    bucket = np.where(relationship[customer], len(PHASES), np.where(by_habit, habit_row, phase))
    channel = np.zeros(size, dtype=np.int64)
    for b in range(len(cumulative)):
        rows = np.flatnonzero(bucket == b)
        channel[rows] = np.searchsorted(cumulative[b], rng.uniform(size=len(rows)), side="right")
    channel = np.minimum(channel, len(CHANNELS) - 1)

    positive = np.array([CHANNEL_RESPONSE[c][0] for c in CHANNELS])
    opened = np.array([CHANNEL_RESPONSE[c][1] for c in CHANNELS])
    p_positive = np.minimum(positive[channel] * multiplier[phase, channel], 0.9)
    p_opened = np.minimum(opened[channel], 1.0 - p_positive)
    event = np.isin(np.asarray(CHANNELS), EVENT_CHANNELS)[channel]
    u = rng.uniform(size=size)
    outcomes = ("none", "opened", "engaged", "attended")
    outcome = np.select([u < p_positive, u < p_positive + p_opened],
                        [np.where(event, 3, 2), 1], default=0)

    low = np.array([CHANNEL_COST[c][0] for c in CHANNELS])
    high = np.array([CHANNEL_COST[c][1] for c in CHANNELS])
    cost = np.round(low[channel] + (high - low)[channel] * rng.uniform(size=size), 2)

    days, first_day, n_days = _workdays(periods)
    day = first_day[month] + (rng.uniform(size=size) * n_days[month]).astype(np.int64)

    topics, offsets = [], []
    for market, _ in MARKETS:
        brand = next(p[1] for p in PRODUCTS if p[2] == market and p[3])
        offsets.append(len(topics))
        topics += [f"{brand}: {topic}" for topic in CONTENT_TOPICS[market]]
    offsets.append(len(topics))
    topics += list(RELATIONSHIP_TOPICS)
    offsets = np.array(offsets)
    sizes = np.diff(np.append(offsets, len(topics)))
    main = people.potential.argmax(axis=1)[customer]
    other = (main + 1) % len(MARKETS)
    switch = (rng.uniform(size=size) < 0.25) & (people.potential[customer, other] > 0)
    market = np.where(relationship[customer], len(MARKETS), np.where(switch, other, main))
    content = offsets[market] + (rng.uniform(size=size) * sizes[market]).astype(np.int64)

    order = np.lexsort((customer, day))
    return pd.DataFrame({
        "activity_id": _sequence_ids("A", size, 7),
        "customer_id": _labels(customer[order], people.ids),
        "rep_id": _labels(t[order], world.rep_ids),
        "date": _labels(day[order], days),
        "channel": _labels(channel[order], CHANNELS),
        "cost": cost[order],
        "outcome": _labels(outcome[order], outcomes),
        "content": _labels(content[order], topics),
    })


# --- fast string columns ------------------------------------------------------------
_STRING_DTYPE = pd.Series(["x"]).dtype   # "str" (Arrow-backed) on pandas 3, object on 2.2


def _arrow_backend():
    """pyarrow, if the default string dtype is Arrow-backed (so Arrow arrays convert
    without copying); otherwise None."""
    if isinstance(_STRING_DTYPE, pd.StringDtype) and str(_STRING_DTYPE.storage).startswith("pyarrow"):
        try:
            import pyarrow
        except ImportError:  # pragma: no cover
            return None
        return pyarrow
    return None


def _labels(codes: np.ndarray, labels: Sequence[str]) -> pd.Series:
    """``labels[codes]`` as a string column in the default string dtype, fast for
    millions of rows."""
    pa = _arrow_backend()
    if pa is None:
        return pd.Series(np.asarray(labels, dtype=object)[codes]).astype(_STRING_DTYPE)
    dictionary = pa.array(list(labels), type=pa.string())
    array = pa.DictionaryArray.from_arrays(pa.array(np.asarray(codes, dtype=np.int32)), dictionary)
    return pd.Series(pd.array(array.cast(pa.string()), dtype=_STRING_DTYPE))


def _sequence_ids(prefix: str, n: int, width: int) -> pd.Series:
    """prefix + zero-padded 1..n (e.g. A0000001), fast for millions of rows."""
    width = max(width, len(str(n)))
    pa = _arrow_backend()
    if pa is None:
        return pd.Series([f"{prefix}{i:0{width}d}" for i in range(1, n + 1)], dtype=_STRING_DTYPE)
    import pyarrow.compute as pc
    numbers = pc.utf8_lpad(pa.array(np.arange(1, n + 1)).cast(pa.string()), width=width, padding="0")
    return pd.Series(pd.array(pc.binary_join_element_wise(prefix, numbers, ""), dtype=_STRING_DTYPE))
