"""Many territories: vectorised fingerprints, roll-ups that summarise instead of listing.

Fingerprints: a change in one territory's rows changes its hash and no other's; they are
the same in another process; row order inside a territory counts, the order of the
territories does not. The spread of each measure (``rollup_distribution``) and the flag
roll-up are checked by hand on small tables; the roll-up sections and figure list every
territory up to the threshold and summarise above it; a national pass of 2,000
territories and its roll-up sections run, and their output is bounded.
"""
from __future__ import annotations

import json
import subprocess
import sys

import matplotlib
import numpy as np
import pandas as pd
import pytest

from analysis.domain.national import MANY_TERRITORIES, rollup_distribution, rollup_flags
from analysis.engine.fingerprint import table_hashes
from analysis.report import figures, sections
from analysis.report.scope import Scope, distributions, flag_summary

matplotlib.use("Agg")


# --------------------------------------------------------------------------- fingerprints


def _tables(n: int = 50) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(4)
    ids = [f"T{i:03d}" for i in range(n)]
    customers = pd.DataFrame({
        "territory_id": np.repeat(ids, 3), "customer_id": [f"C{i:04d}" for i in range(3 * n)],
        "potential": rng.uniform(0, 100, 3 * n), "segment": pd.Categorical(rng.choice(list("ABCD"), 3 * n)),
        "vip": rng.uniform(size=3 * n) > 0.5, "last": pd.Timestamp("2026-01-01") + pd.to_timedelta(
            rng.integers(0, 300, 3 * n), unit="D")})
    customers.loc[::7, "potential"] = np.nan
    kpis = pd.DataFrame({"territory_id": ids, "support": rng.uniform(size=n), "caveats": ""})
    return {"customers": customers, "kpis": kpis, "nation": pd.DataFrame({"support": [0.3]})}


def _changed(before: pd.Series, after: pd.Series) -> list[str]:
    both = before.index.union(after.index)
    return sorted(t for t in both if before.get(t) != after.get(t))


def test_hashes_one_per_territory_hex_and_empty():
    h = table_hashes(_tables())
    assert len(h) == 50 and h.index.tolist() == sorted(h.index)
    assert h.str.fullmatch(r"[0-9a-f]{16}").all() and h.nunique() == 50
    assert table_hashes({}).empty and table_hashes({"nation": pd.DataFrame({"x": [1]})}).empty


@pytest.mark.parametrize("edit", ["value", "nan", "category", "bool", "date", "add_row", "drop_row", "key_table"])
def test_a_change_in_one_territory_changes_only_its_hash(edit):
    tables = _tables()
    before = table_hashes(tables)
    c = tables["customers"].copy()
    rows = c.index[c["territory_id"] == "T007"]
    if edit == "value":
        c.loc[rows[1], "potential"] += 1e-9
    elif edit == "nan":
        c.loc[rows[0], "potential"] = np.nan if pd.notna(c.loc[rows[0], "potential"]) else 1.0
    elif edit == "category":
        c.loc[rows[2], "segment"] = "D" if c.loc[rows[2], "segment"] != "D" else "A"
    elif edit == "bool":
        c.loc[rows[0], "vip"] = not c.loc[rows[0], "vip"]
    elif edit == "date":
        c.loc[rows[0], "last"] += pd.Timedelta(days=1)
    elif edit == "add_row":
        c = pd.concat([c, c.loc[[rows[0]]]], ignore_index=True)
    elif edit == "drop_row":
        c = c.drop(index=rows[2])
    tables["customers"] = c
    if edit == "key_table":
        tables["kpis"] = tables["kpis"].assign(support=lambda k: k["support"].where(k["territory_id"] != "T007", 0.5))
    assert _changed(before, table_hashes(tables)) == ["T007"]


def test_a_territory_moving_rows_changes_both_and_a_new_territory_adds_one():
    tables = _tables()
    before = table_hashes(tables)
    c = tables["customers"].copy()
    c.loc[c.index[c["territory_id"] == "T003"][0], "territory_id"] = "T004"
    assert _changed(before, table_hashes({**tables, "customers": c})) == ["T003", "T004"]
    extra = pd.DataFrame({"territory_id": ["T999"], "support": [0.1], "caveats": [""]})
    after = table_hashes({**tables, "kpis": pd.concat([tables["kpis"], extra], ignore_index=True)})
    assert _changed(before, after) == ["T999"]


def test_row_order_inside_a_territory_counts_the_order_of_territories_does_not():
    tables = _tables()
    before = table_hashes(tables)
    c = tables["customers"]
    # territories in another order, each one's rows in the same order (as the store sorts them)
    shuffled = c.iloc[np.random.default_rng(1).permutation(len(c))]
    regrouped = pd.concat([g for _, g in shuffled.groupby("territory_id", sort=False)]).sort_index(
        key=lambda i: i.map(dict(zip(c.index, range(len(c))))), kind="mergesort")
    by_territory = c.sort_values("territory_id", ascending=False, kind="mergesort")
    assert table_hashes({**tables, "customers": by_territory}).equals(before)
    assert table_hashes({**tables, "customers": regrouped}).equals(before)
    # two rows of one territory swapped: its report lists them the other way round
    rows = c.index[c["territory_id"] == "T010"]
    swapped = c.loc[[*c.index[: rows[0]], rows[1], rows[0], *c.index[rows[1] + 1:]]]
    assert _changed(before, table_hashes({**tables, "customers": swapped})) == ["T010"]
    # order-free hashes see the same multiset of rows
    assert table_hashes({**tables, "customers": swapped}, ordered=False).equals(table_hashes(tables, ordered=False))


def test_table_name_and_columns_are_part_of_the_hash():
    tables = _tables()
    before = table_hashes(tables)
    renamed = {("clients" if k == "customers" else k): v for k, v in tables.items()}
    assert (table_hashes(renamed) != before).all()
    columns = {**tables, "customers": tables["customers"].rename(columns={"potential": "potential_"})}
    assert (table_hashes(columns) != before).all()


def test_hashes_are_the_same_in_another_process():
    tables = _tables()
    here = table_hashes(tables).to_dict()
    code = ("import json, sys; sys.path.insert(0, 'tests'); from test_scale import _tables; "
            "from analysis.engine.fingerprint import table_hashes; "
            "print(json.dumps(table_hashes(_tables()).to_dict()))")
    for seed in ("0", "123"):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={"PYTHONHASHSEED": seed, "PATH": ""}, cwd=str(__import__("pathlib").Path(
                                  __file__).resolve().parents[1]))
        assert json.loads(done.stdout) == here


# --------------------------------------------------------------------------- distribution


def _kpis() -> pd.DataFrame:
    return pd.DataFrame({
        "territory_id": ["T1", "T2", "T3", "T4", "T5", "T6"],
        "region": ["N", "N", "N", "N", "S", "S"],
        "support": [0.1, 0.2, np.nan, 0.5, np.nan, np.nan],
        "support_previous": [0.2, 0.1, 0.3, np.nan, 0.4, np.nan],
        "coverage": [1.0, 0.0, 0.5, 0.25, 0.75, 0.0],
        "customers": [3, 1, 0, 2, 4, 6],
    })


def test_distribution_by_hand():
    d = rollup_distribution(_kpis(), "region", measures=("support", "support_change", "coverage", "roi"))
    assert list(d.columns[:5]) == ["region", "measure", "territories", "known", "missing"]
    row = d.set_index(["region", "measure"])
    n = row.loc[("N", "support")]
    assert (n["territories"], n["known"], n["missing"]) == (4, 3, 1)  # a missing support is missing, not 0
    values = np.array([0.1, 0.2, 0.5])
    assert n["min"] == 0.1 and n["max"] == 0.5 and n["median"] == pytest.approx(0.2)
    assert n["p25"] == pytest.approx(np.quantile(values, 0.25)) == pytest.approx(0.15)
    assert n["p90"] == pytest.approx(np.quantile(values, 0.9)) == pytest.approx(0.44)
    assert n["mean"] == pytest.approx(values.mean())
    s = row.loc[("S", "support")]  # no territory of S has a support: counted, no quantiles
    assert (s["territories"], s["known"], s["missing"]) == (2, 0, 2) and s[["min", "median", "max"]].isna().all()
    change = row.loc[("N", "support_change")]  # support minus previous, missing when either is
    assert (change["known"], change["missing"]) == (2, 2)
    assert change["min"] == pytest.approx(-0.1) and change["max"] == pytest.approx(0.1)
    cov = row.loc[("S", "coverage")]
    assert cov["known"] == 2 and cov["min"] == 0.0 and cov["median"] == pytest.approx(0.375)
    roi = row.loc[("N", "roi")]  # a measure the table lacks is missing everywhere
    assert roi["known"] == 0 and roi["missing"] == 4
    everyone = rollup_distribution(_kpis(), None, measures=("coverage",)).iloc[0]
    assert everyone["scope"] == "all" and everyone["territories"] == 6
    assert everyone["median"] == pytest.approx(np.median([1.0, 0.0, 0.5, 0.25, 0.75, 0.0]))


def test_flag_rollup_by_hand():
    flags = pd.DataFrame({"territory_id": ["T1", "T2", "T5"], "coverage_low": [2, 0, 1], "over_service": [0, 0, 0]})
    f = rollup_flags(flags, _kpis(), "region").set_index(["region", "flag"])
    assert f.loc[("N", "coverage_low")].tolist() == [2, 1, 4]  # reps, territories with one, territories
    assert f.loc[("S", "coverage_low")].tolist() == [1, 1, 2]
    assert f.loc[("N", "over_service")].tolist() == [0, 0, 4]
    assert rollup_flags(flags, _kpis()).set_index("flag").loc["coverage_low", "reps"] == 3


# --------------------------------------------------------------------------- sections


def _scope(n: int, missing: int = 0, scope: str = "all") -> Scope:
    rng = np.random.default_rng(n)
    ids = [f"T{i:05d}" for i in range(n)]
    kpis = pd.DataFrame({
        "territory_id": ids, "territory_name": [f"Name {i}" for i in range(n)],
        "region": np.where(np.arange(n) % 2, "North", "South"),
        **{c: rng.uniform(size=n) for c in ("coverage", "support", "support_previous", "vip_share",
                                            "effort_on_priority", "mismatched_effort", "over_service", "roi")},
        **{c: rng.integers(0, 9, n).astype(float) for c in ("customers", "progressions", "maintenance_overdue")},
        "caveats": "",
    })
    kpis.loc[kpis.index[:missing], ["support", "coverage"]] = np.nan
    if scope != "all":
        kpis["region"] = scope
    flags = pd.DataFrame({"territory_id": ids, "coverage_low": rng.integers(0, 2, n), "over_service": 0})
    summary = pd.Series({"territories": n, "support": 0.4, "coverage": 0.5, "caveats": ""})
    regions = pd.DataFrame({"region": ["North", "South"], "territories": [n // 2, n - n // 2], "support": [0.4, 0.5]})
    return Scope(scope, kpis, pd.DataFrame(), flags, summary, regions, distribution=distributions(kpis, scope),
                 flag_summary=flag_summary(flags, kpis, scope))


def _rows(t) -> list[list[str]]:
    return t.cells()[1]


def test_ranking_lists_every_territory_up_to_the_threshold():
    s = _scope(MANY_TERRITORIES, missing=2)
    assert not sections.summarises(s)
    rows = _rows(sections.territory_ranking(s))
    assert len(rows) == MANY_TERRITORIES and [r[0] for r in rows[-2:]] == ["39", "40"]
    assert "All 40 territories" in sections.ranking_note(s).markdown
    flags = sections.coaching_flags(s)
    assert len(_rows(flags)) == MANY_TERRITORIES and sections.coaching_flags_note(s).markdown == ""


def test_ranking_summarises_above_the_threshold():
    s = _scope(MANY_TERRITORIES + 1, missing=3)
    assert sections.summarises(s)
    t = sections.territory_ranking(s, top=5)
    rows = _rows(t)
    assert len(rows) == 10
    ranks = [int(r[0].replace(",", "")) for r in rows]
    assert ranks == [1, 2, 3, 4, 5, 34, 35, 36, 37, 38]  # 38 ranked: the 3 without support are not
    shown = t.frame["territory_id"]
    known = s.kpis.dropna(subset=["support"]).sort_values("support", ascending=False)["territory_id"]
    assert shown.tolist() == [*known.head(5), *known.tail(5)]
    note = sections.ranking_note(s, top=5).markdown
    assert "41 territories" in note and "3 territories have no support value" in note and "territories.csv" in note
    # never summarise: every territory, as before
    assert len(_rows(sections.territory_ranking(s, many=None))) == 41


def test_distribution_table_counts_missing_as_no_data():
    s = _scope(100, missing=7)
    t = sections.distribution_table(s)
    frame = t.frame.set_index("measure")
    assert frame.loc["support", "with data"] == "93" and frame.loc["support", "no data"] == "7"
    assert frame.loc["customers", "no data"] == "0"
    assert len(frame) == len(s.distribution[s.distribution["scope"] == "all"])
    region = _scope(60, scope="North")
    assert sections.distribution_table(region).frame["with data"].iloc[0] == "60"


def test_coaching_flags_summarise_above_the_threshold():
    s = _scope(200)
    t = sections.coaching_flags(s)
    assert t.frame["flag"].tolist() == ["coverage low"]  # flags nobody carries are left out
    assert t.frame["reps"].iloc[0] == s.coaching_flags["coverage_low"].sum()
    assert t.frame["territories_flagged"].iloc[0] == (s.coaching_flags["coverage_low"] > 0).sum()
    assert "coaching\\_flags.csv" in sections.coaching_flags_note(s).markdown


def test_comparison_figure_rows_per_territory_or_per_region():
    few = _scope(12, missing=1)
    fig = figures.territory_comparison(few.kpis, few.summary, label="territory_name",
                                       distribution=few.distribution)
    assert len(fig.axes[0].get_yticklabels()) == 12
    many = _scope(500, missing=20)
    fig = figures.territory_comparison(many.kpis, many.summary, label="territory_name",
                                       distribution=many.distribution)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["South", "North", "All territories"]
    assert fig.get_figheight() < 6
    support, coverage = fig.axes[:2]
    assert "20 without data" in [t.get_text() for t in support.texts]
    # no distribution given: the figure asks the domain for the kpis' spread (one box)
    fig = figures.territory_comparison(many.kpis, many.summary, label="territory_name")
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["All territories"]
    matplotlib.pyplot.close("all")


def test_comparison_figure_says_not_available_for_a_measure_missing_everywhere():
    s = _scope(80)
    s.kpis["mismatched_effort"] = np.nan
    fig = figures.territory_comparison(s.kpis, s.summary, distribution=distributions(s.kpis))
    assert [t.get_text() for t in fig.axes[3].texts] == ["not available"]
    matplotlib.pyplot.close("all")


# --------------------------------------------------------------------------- 2,000 territories


def test_a_national_pass_of_two_thousand_territories_and_its_rollup(tmp_path):
    from analysis.contract.dataset import load_dataset
    from analysis.contract.demo import generate, write
    from analysis.contract.store import write_store
    from analysis.domain.national import national_pass
    from analysis.report.scope import load

    write(generate(seed=5, n_regions=6, n_territories=2000, n_customers=4000), tmp_path / "data", fmt="parquet")
    tables = national_pass(load_dataset(tmp_path / "data"), {})
    assert len(tables["kpis"]) == 2000
    hashes = table_hashes({k: v for k, v in tables.items() if k not in ("regions", "nation")})
    assert hashes.index.isin(tables["kpis"]["territory_id"]).all() and hashes.is_unique
    write_store(tables, tmp_path / "store")
    top = 10
    for scope in ("all", sorted(tables["kpis"]["region"].unique())[0]):
        s = load(scope, store_path=tmp_path / "store")
        assert sections.summarises(s)
        ranking = sections.territory_ranking(s, top=top)
        assert len(ranking.frame) <= 2 * top
        assert len(sections.distribution_table(s).frame) == len(sections._scope_distribution(s))
        flags = sections.coaching_flags(s)
        assert len(getattr(flags, "frame", pd.DataFrame())) <= len(s.coaching_flags.columns)
        shown = sum(len(x._repr_markdown_()) for x in (
            sections.scope_note(s), sections.scope_headline(s), sections.distribution_table(s),
            sections.ranking_note(s), ranking, sections.region_table(s), sections.coaching_flags_note(s), flags))
        assert shown < 30_000  # bounded: not one row per territory
        fig = figures.territory_comparison(s.kpis, s.summary, label="territory_name", distribution=s.distribution)
        assert fig.get_figheight() < 8
        matplotlib.pyplot.close("all")
