"""Dataset shapes for the report-wide consistency suite (tests/test_consistency.py).

Each shape is a function taking a :class:`~analysis.contract.dataset.Dataset` (as
:func:`~analysis.contract.dataset.load_dataset` returns it) and returning a new one
(``dataclasses.replace``; the input is never changed):

* :func:`as_is`: the dataset unchanged;
* :func:`sales_only`: no activities table (a sales-only export), represented as the
  loader represents a folder without ``activities.csv``: an empty frame with the
  contract's columns, and no ``activities`` entry in ``files``;
* :func:`single_period`: only the sales of the last ``months`` months, so there is no
  comparison period (an annual file is the real-world case);
* :func:`no_profile_fields`: the profile columns dropped from ``customers``;
* :func:`one_market`: the products and sales of one market only;
* :func:`sales_only_single_period`: both of the first two.

:func:`cms_dataset` converts the real public CMS Medicare Part D prescriber file
(``../shared/data/cms-partd-2013/``) to the data contract at run time. The file is
read, never copied: the converted dataset gets made-up ids and names (``C0001``,
``Prescriber 0001``, ``P01``) and keeps only numbers (30-day fills), US states (as
Census divisions) and generic-name groups from it.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from analysis.contract.dataset import Dataset, load_dataset

#: The demo's profile columns (DESIGN 3 profile fields; the demo generator fills these).
PROFILE_COLUMNS = ("phone", "email", "university", "hometown")


def demo_dataset(folder: Path, **generate_args) -> Dataset:
    """The demo generator's dataset (default: the bundled demo, seed 7), written and loaded."""
    from analysis.contract.demo import generate, write

    write(generate(**generate_args), folder)
    return load_dataset(folder)


def periods_ending(end: str, months: int) -> list[str]:
    """The ``months`` periods (``YYYY-MM``) ending at ``end``, oldest first."""
    last = pd.Period(end, freq="M")
    return [(last - k).strftime("%Y-%m") for k in range(months - 1, -1, -1)]


# --- shapes ---------------------------------------------------------------------------

def as_is(ds: Dataset) -> Dataset:
    return ds


def sales_only(ds: Dataset) -> Dataset:
    """No activities table: an empty activities frame and no ``activities`` file."""
    return replace(ds, activities=ds.activities.iloc[0:0].copy(),
                   files={name: path for name, path in ds.files.items() if name != "activities"})


def single_period(ds: Dataset, months: int = 3, period_end: str | None = None) -> Dataset:
    """Only the sales of the ``months`` months ending at ``period_end`` (default: the latest)."""
    end = period_end or str(ds.sales["period"].max())
    keep = ds.sales["period"].isin(periods_ending(end, months))
    return replace(ds, sales=ds.sales.loc[keep].reset_index(drop=True))


def no_profile_fields(ds: Dataset, columns=PROFILE_COLUMNS) -> Dataset:
    """``customers`` without the profile columns."""
    return replace(ds, customers=ds.customers.drop(columns=[c for c in columns if c in ds.customers]))


def one_market(ds: Dataset, market: str | None = None) -> Dataset:
    """Only ``market`` (default: the first of the markets table), its products and their sales."""
    market = market or str(ds.markets["market"].iloc[0])
    products = ds.products[ds.products["market"] == market].reset_index(drop=True)
    sales = ds.sales[ds.sales["product_id"].isin(products["product_id"])].reset_index(drop=True)
    markets = ds.markets[ds.markets["market"] == market].reset_index(drop=True)
    return replace(ds, markets=markets, products=products, sales=sales)


def sales_only_single_period(ds: Dataset, months: int = 3) -> Dataset:
    return sales_only(single_period(ds, months))


SHAPES = {
    "demo": as_is,
    "sales_only": sales_only,
    "single_period": single_period,
    "no_profile": no_profile_fields,
    "one_market": one_market,
    "sales_only_single_period": sales_only_single_period,
}


# --- the CMS Medicare Part D prescriber file (2013), converted to the contract -------------

CMS_FOLDER = Path(__file__).resolve().parents[2] / "shared" / "data" / "cms-partd-2013"
CMS_FILE = CMS_FOLDER / "prescriber_drug_sample.csv"

#: US Census regions and divisions: the file's prescribers are scattered over 40+ states,
#: so a territory is a division (a group of states), a region a Census region.
CENSUS = {
    ("Northeast", "New England"): ("CT", "ME", "MA", "NH", "RI", "VT"),
    ("Northeast", "Middle Atlantic"): ("NJ", "NY", "PA"),
    ("Midwest", "East North Central"): ("IL", "IN", "MI", "OH", "WI"),
    ("Midwest", "West North Central"): ("IA", "KS", "MN", "MO", "NE", "ND", "SD"),
    ("South", "South Atlantic"): ("DE", "DC", "FL", "GA", "MD", "NC", "SC", "VA", "WV"),
    ("South", "East South Central"): ("AL", "KY", "MS", "TN"),
    ("South", "West South Central"): ("AR", "LA", "OK", "TX"),
    ("West", "Mountain"): ("AZ", "CO", "ID", "MT", "NV", "NM", "UT", "WY"),
    ("West", "Pacific"): ("AK", "CA", "HI", "OR", "WA"),
}
OTHER = ("Other", "Other")  # territories, military addresses, unknown

#: Markets by generic name (regular expressions on the lower-cased generic name).
CMS_MARKETS = {
    "statins": r"vastatin",
    "anticoagulants": r"warfarin|dabigatran|rivaroxaban|apixaban",
    "dpp4": r"gliptin",
}


def _division_of_state() -> dict[str, tuple[str, str]]:
    return {state: key for key, states in CENSUS.items() for state in states}


def cms_tables(path: Path = CMS_FILE) -> dict[str, pd.DataFrame]:
    """The CMS file as contract tables (no activities: a sales-only, single-period export).

    customers: every prescriber of the file, type ``hcp``, territory = Census division of
    the practice state, region = Census region; products: the drugs of :data:`CMS_MARKETS`,
    one product per brand name, ``is_own`` for one brand per market (the branded product,
    brand name other than the generic name, with the most prescribers; ties by name);
    sales: one period ``2013-12`` (the annual file), units = 30-day fills.
    """
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    npi = raw["Prscrbr_NPI"].str.strip()
    division = _division_of_state()
    place = raw["Prscrbr_State_Abrvtn"].str.strip().map(lambda s: division.get(s, OTHER))

    # territories: the divisions that hold prescribers, in the table's order
    used = [key for key in [*CENSUS, OTHER] if key in set(place)]
    territory_of = {key: f"D{i + 1}" for i, key in enumerate(used)}
    territories = pd.DataFrame({
        "territory_id": [territory_of[key] for key in used],
        "territory_name": [key[1] for key in used],
        "region": [key[0] for key in used],
    })
    reps = pd.DataFrame({
        "rep_id": [f"R{i + 1}" for i in range(len(used))],
        "rep_name": [f"Rep {i + 1}" for i in range(len(used))],
        "territory_id": territories["territory_id"],
        "role": "chronic",
    })

    # customers: made-up ids in NPI order (a prescriber's state is the same on all rows)
    first = pd.DataFrame({"npi": npi, "place": place}).drop_duplicates("npi").sort_values("npi")
    customer_of = {n: f"C{i + 1:04d}" for i, n in enumerate(first["npi"])}
    customers = pd.DataFrame({
        "customer_id": [customer_of[n] for n in first["npi"]],
        "customer_name": [f"Prescriber {i + 1:04d}" for i in range(len(first))],
        "customer_type": "hcp",
        "territory_id": [territory_of[key] for key in first["place"]],
    })

    # products: the rows of the markets, one product per (market, brand)
    generic = raw["Gnrc_Name"].str.strip().str.lower()
    brand = raw["Brnd_Name"].str.strip()
    market = pd.Series(pd.NA, index=raw.index, dtype=object)
    for name, pattern in CMS_MARKETS.items():
        market = market.where(market.notna() | ~generic.str.contains(pattern, regex=True), name)
    rows = pd.DataFrame({
        "npi": npi, "market": market, "brand": brand,
        "branded": brand.str.lower() != generic,
        "units": pd.to_numeric(raw["Tot_30day_Fills"], errors="coerce"),
    })[market.notna()]
    brands = (rows.groupby(["market", "brand"], sort=True)
              .agg(prescribers=("npi", "nunique"), branded=("branded", "any")).reset_index())
    brands["product_id"] = [f"P{i + 1:02d}" for i in range(len(brands))]
    brands["product_name"] = brands["market"] + " product " + brands["product_id"]
    own = (brands[brands["branded"]]
           .sort_values(["market", "prescribers", "brand"], ascending=[True, False, True], kind="mergesort")
           .drop_duplicates("market")["product_id"])
    brands["is_own"] = brands["product_id"].isin(own).map({True: "true", False: "false"})
    products = brands[["product_id", "product_name", "market", "is_own"]]
    markets = pd.DataFrame({"market": [m for m in CMS_MARKETS if m in set(brands["market"])]})

    sales = rows.merge(brands[["market", "brand", "product_id"]], on=["market", "brand"])
    sales = sales.groupby(["npi", "product_id"], sort=True)["units"].sum().reset_index()
    sales = pd.DataFrame({
        "customer_id": sales["npi"].map(customer_of),
        "product_id": sales["product_id"],
        "period": "2013-12",
        "units": sales["units"].fillna(0.0),
    })
    return {"territories": territories, "reps": reps, "customers": customers, "products": products,
            "markets": markets, "sales": sales}


def cms_dataset(folder: Path, path: Path = CMS_FILE) -> Dataset:
    """:func:`cms_tables` written as CSV to ``folder`` and loaded (validated) as a Dataset."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in cms_tables(path).items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    return load_dataset(folder)


#: The run profile of the CMS file: annual data, no profile fields in the file.
CMS_PROFILE = {
    "period_end": "2013-12",
    "period_months": 12,
    "profile_fields": {"basic": [], "education": [], "surrounding": []},
}
