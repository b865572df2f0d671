"""The raw rows reduced to the monthly summaries the analyses read over the whole history.

The windowed analyses (segments, phases, channels, coaching) read the rows of their
windows; the tables that span every month (the trend, the last contact of each
customer, who calls on whom) need only these two summaries, made by one SQL each in an
embedded DuckDB, whether the validated tables are pandas frames in memory or files:

``sales_by_month``
    territory_id, market, period, prescribing (the customer type is segmentable: the
    types the headline counts), own_units, market_units, prescribing_customers
    (customers with own units > 0 in that market and month). One row per territory x
    market x month x prescribing flag that has sales rows.
``contacts``
    customer_id, rep_id, period, activities (their number), responses (those whose
    outcome is present and not ``none``), positive (outcome ``engaged`` or
    ``attended``), cost (their sum) and last_date (the latest activity date of that
    customer, rep and month). One row per customer x rep x month with activities.

The windows are whole months, so a window's counts are the sums of its months' rows:
the phases read the before and comparison windows' responses from ``contacts``, and only
the analysis window's activities are needed row by row.

Sums are compensated (DuckDB's ``fsum``, as pandas' groupby sums are), so they do not
depend on the order DuckDB's threads add rows in.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from analysis.contract.schema import POSITIVE_OUTCOMES, SEGMENTABLE_TYPES

SALES_BY_MONTH_COLUMNS = ("territory_id", "market", "period", "prescribing", "own_units", "market_units",
                          "prescribing_customers")
CONTACTS_COLUMNS = ("customer_id", "rep_id", "period", "activities", "responses", "positive", "cost", "last_date")

#: DuckDB's memory limit (beyond it, it spills to its temporary folder) and threads;
#: ``TERRITORY_REPORTS_DUCKDB_MEMORY`` / ``TERRITORY_REPORTS_DUCKDB_THREADS`` override them.
#: 4 GB: the load of 1,000,000 customers spills with 2 GB (up to a third slower) and peaks
#: at 6.7 GB with 4, below the pass that follows; 300,000 customers never reach 2 GB.
MEMORY_LIMIT = "4GB"
THREADS = 2


def duckdb_config(memory_limit: str | None = None, threads: int | None = None) -> dict:
    """The settings of every DuckDB connection of the project (explicit values, else the
    environment's, else the defaults above); rows keep their order."""
    return {"memory_limit": memory_limit or os.environ.get("TERRITORY_REPORTS_DUCKDB_MEMORY", MEMORY_LIMIT),
            "threads": threads or int(os.environ.get("TERRITORY_REPORTS_DUCKDB_THREADS", THREADS)),
            "preserve_insertion_order": True}


_SEGMENTABLE = ", ".join("'" + t + "'" for t in SEGMENTABLE_TYPES)

#: Over relations ``sales`` (customer_id, product_id, period, units: one row per
#: customer x product x month, the table's key), ``products`` (product_id, market,
#: is_own) and ``customers`` (customer_id, territory_id, customer_type). A customer
#: prescribes in a market and month when one of its rows of an own product has units > 0
#: (units are never negative). In a market with one own product those rows are its
#: prescribing customers, one row each: they are counted in the one scan of the totals.
#: Only in a market of several own products (``shared``) can a customer hold two such
#: rows: their customers are counted distinct apart (a scan of those markets' rows alone;
#: none in most datasets: half the time of counting every market's customers distinct).
SALES_BY_MONTH_SQL = f"""
WITH own AS (
    SELECT product_id, market, is_own, is_own AND count(*) FILTER (WHERE is_own) OVER (PARTITION BY market) > 1
           AS shared
    FROM products
), totals AS (
    SELECT c.territory_id, p.market, s.period, c.customer_type IN ({_SEGMENTABLE}) AS prescribing,
           fsum(CASE WHEN p.is_own THEN s.units ELSE 0.0 END) AS own_units, fsum(s.units) AS market_units,
           count(*) FILTER (WHERE p.is_own AND NOT p.shared AND s.units > 0) AS alone
    FROM sales AS s
    JOIN own AS p ON p.product_id = s.product_id
    JOIN customers AS c ON c.customer_id = s.customer_id
    GROUP BY c.territory_id, p.market, s.period, prescribing
), shared AS (
    SELECT c.territory_id, o.market, o.period, c.customer_type IN ({_SEGMENTABLE}) AS prescribing,
           count(*) AS customers
    FROM (
        SELECT DISTINCT s.customer_id, p.market, s.period
        FROM sales AS s
        JOIN own AS p ON p.product_id = s.product_id
        WHERE p.shared AND s.units > 0
    ) AS o
    JOIN customers AS c ON c.customer_id = o.customer_id
    GROUP BY c.territory_id, o.market, o.period, prescribing
)
SELECT t.territory_id, t.market, t.period, t.prescribing, t.own_units, t.market_units,
       t.alone + coalesce(r.customers, 0) AS prescribing_customers
FROM totals AS t
LEFT JOIN shared AS r
    ON r.territory_id IS NOT DISTINCT FROM t.territory_id AND r.market IS NOT DISTINCT FROM t.market
    AND r.period IS NOT DISTINCT FROM t.period AND r.prescribing IS NOT DISTINCT FROM t.prescribing
ORDER BY t.territory_id, t.market, t.period, t.prescribing
"""

_POSITIVE = ", ".join("'" + o + "'" for o in POSITIVE_OUTCOMES)


def contacts_query(has_outcome: bool = True) -> str:
    """The SQL of ``contacts`` over a relation ``activities`` (customer_id, rep_id, date,
    cost, and outcome when ``has_outcome``: without it, nobody responded)."""
    responses = ("count(*) FILTER (WHERE outcome IS NOT NULL AND outcome <> 'none')" if has_outcome else "0")
    positive = f"count(*) FILTER (WHERE outcome IN ({_POSITIVE}))" if has_outcome else "0"
    # grouped by the month's first instant, written as text once per group, not per row, and
    # ordered by it (the order of the text: the contract's years have four digits; a
    # timestamp sorts faster than text)
    return f"""
SELECT customer_id, rep_id, strftime(month, '%Y-%m') AS period, activities, responses, positive, cost, last_date
FROM (
    SELECT customer_id, rep_id, date_trunc('month', date) AS month, count(*) AS activities,
           {responses} AS responses, {positive} AS positive, fsum(cost) AS cost, max(date) AS last_date
    FROM activities
    WHERE date IS NOT NULL
    GROUP BY customer_id, rep_id, month
)
ORDER BY customer_id, rep_id, month
"""


#: The months of each window of one analysis, oldest window first: ``(("before", (...)),
#: ("comparison", (...)), ("analysis", (...)))`` (:attr:`analysis.domain.periods.Window.periods_by_window`).
WindowMonths = tuple[tuple[str, tuple[str, ...]], ...]


def window_sales_query(table: str, months: WindowMonths, order: str = "rowid") -> str:
    """The SQL of the units of each customer x product in each window of ``months`` over
    ``table`` (validated sales rows: customer_id, product_id, period, units; its column
    ``order`` their order in the file): columns customer_id, product_id, window (its name), units
    (the compensated sum of the window's monthly rows), in the order of each sum's first
    monthly row; a customer x product x window without rows is absent. The same sums
    :func:`analysis.domain.market.window_units` makes of the rows in pandas."""
    pairs = [(period, name) for name, periods in months for period in periods]
    if not pairs:
        return ('SELECT NULL::VARCHAR AS customer_id, NULL::VARCHAR AS product_id, NULL::VARCHAR AS "window", '
                "NULL::DOUBLE AS units WHERE false")
    quoted = lambda text: "'" + str(text).replace("'", "''") + "'"
    values = ", ".join(f"({quoted(period)}, {quoted(name)})" for period, name in pairs)
    return f"""
SELECT customer_id, product_id, "window", units
FROM (
    SELECT s.customer_id, s.product_id, w."window", coalesce(fsum(s.units), 0.0) AS units, min(s.{order}) AS first
    FROM {table} AS s
    JOIN (VALUES {values}) AS w(period, "window") ON s.period = w.period
    WHERE s.customer_id IS NOT NULL AND s.product_id IS NOT NULL
    GROUP BY s.customer_id, s.product_id, w."window"
)
ORDER BY first
"""


def window_sales_sql(con, table: str, months: WindowMonths, order: str = "rowid") -> pd.DataFrame:
    """:func:`window_sales_query` on a connection holding ``table``."""
    out = _query(con, window_sales_query(table, months, order))
    return out.astype({"units": "float64"})


@dataclass(frozen=True)
class Summaries:
    """The two summaries of a dataset (see the module docstring)."""

    sales_by_month: pd.DataFrame
    contacts: pd.DataFrame

    def subset(self, territory_ids: Iterable[str], customer_ids: Iterable[str]) -> Summaries:
        """The summaries of some territories (``customer_ids``: their customers)."""
        sales = self.sales_by_month
        contacts = self.contacts
        return Summaries(
            sales[sales["territory_id"].isin(list(territory_ids))].reset_index(drop=True),
            contacts[contacts["customer_id"].isin(pd.Index(customer_ids))].reset_index(drop=True))


def _query(con, sql: str) -> pd.DataFrame:
    from analysis.contract.dataset import _default_strings  # noqa: PLC0415 - the loader's string dtype

    arrow = con.sql(sql).to_arrow_table()
    frame = arrow.to_pandas(types_mapper=lambda t: pd.StringDtype("pyarrow") if str(t) in ("string", "large_string")
                            else None)
    return _default_strings(frame)


def _connection(**frames: pd.DataFrame):
    import duckdb  # noqa: PLC0415 - only when reducing

    con = duckdb.connect(config=duckdb_config())
    con.execute("SET enable_progress_bar = false")
    for name, frame in frames.items():
        con.register(name, frame)
    return con


def sales_by_month_sql(con) -> pd.DataFrame:
    """:data:`SALES_BY_MONTH_SQL` on a connection holding ``sales``, ``products``, ``customers``."""
    out = _query(con, SALES_BY_MONTH_SQL)
    if out.empty:
        out = pd.DataFrame({c: pd.Series(dtype=object) for c in SALES_BY_MONTH_COLUMNS})
    return out.astype({"prescribing": bool, "own_units": "float64", "market_units": "float64",
                       "prescribing_customers": "int64"})[list(SALES_BY_MONTH_COLUMNS)]


def contacts_sql(con, has_outcome: bool = True) -> pd.DataFrame:
    """:func:`contacts_query` on a connection holding ``activities``."""
    out = _query(con, contacts_query(has_outcome))
    if out.empty:
        out = pd.DataFrame({c: pd.Series(dtype=object) for c in CONTACTS_COLUMNS})
    return out.astype({"activities": "int64", "responses": "int64", "positive": "int64", "cost": "float64",
                       "last_date": "datetime64[ns]"})[list(CONTACTS_COLUMNS)]


def lookups(products: pd.DataFrame, customers: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The ``products`` and ``customers`` relations :data:`SALES_BY_MONTH_SQL` reads."""
    return {"products": products[["product_id", "market", "is_own"]].astype({"is_own": bool}),
            "customers": customers[["customer_id", "territory_id", "customer_type"]]}


def sales_by_month(sales: pd.DataFrame, products: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """The ``sales_by_month`` summary of validated frames."""
    con = _connection(sales=sales[["customer_id", "product_id", "period", "units"]], **lookups(products, customers))
    try:
        return sales_by_month_sql(con)
    finally:
        con.close()


def contacts(activities: pd.DataFrame) -> pd.DataFrame:
    """The ``contacts`` summary of validated activities (customer_id, rep_id, date, cost
    and the optional outcome)."""
    has_outcome = "outcome" in activities
    columns = ["customer_id", "rep_id", "date", "cost", *(["outcome"] if has_outcome else [])]
    rows = activities[columns].assign(date=pd.to_datetime(activities["date"]),
                                      cost=pd.to_numeric(activities["cost"]).astype(float))
    if has_outcome:  # text, also when the column holds no value at all
        rows["outcome"] = rows["outcome"].astype(pd.StringDtype("pyarrow"))
    con = _connection(activities=rows)
    try:
        return contacts_sql(con, has_outcome)
    finally:
        con.close()


def summaries(sales: pd.DataFrame, products: pd.DataFrame, customers: pd.DataFrame,
              activities: pd.DataFrame) -> Summaries:
    """Both summaries of validated frames."""
    return Summaries(sales_by_month(sales, products, customers), contacts(activities))
