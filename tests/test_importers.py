"""Importers (analysis.contract.importers): the CMS Part D public file, the declarative
table importer and its presets, and Excel / gzipped tables in load_dataset.

The Part D tests read the real public sample from ../shared/data/cms-partd-2013/ and skip
when it is absent; nothing of it is kept in the project. Every other file here is
synthetic (made-up names and ids; NPIs starting with 9, which no real NPI does).
"""
from __future__ import annotations

import ast
import csv
import gzip
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import tiny_tables, write_dataset

from analysis.contract.dataset import load_dataset, read_table
from analysis.contract.importers import REGISTRY
from analysis.contract.importers.cms_partd import import_partd, read_config, year_from_name
from analysis.contract.importers.mapping import import_table, read_mapping
from analysis.contract.params import check_against_data, load_profile
from analysis.errors import DataValidationError, ParameterError, TerritoryReportsError

ROOT = Path(__file__).resolve().parents[1]
PARTD = ROOT.parent / "shared" / "data" / "cms-partd-2013" / "prescriber_drug_sample.csv"
MAPPINGS = ROOT / "params" / "mappings"
needs_partd = pytest.mark.skipif(not PARTD.is_file(), reason=f"the shared Part D sample is absent ({PARTD})")

MARKETS = {
    "statins": ["atorvastatin", "rosuvastatin", "simvastatin", "pravastatin", "lovastatin", "fluvastatin",
                "pitavastatin"],
    "oral-anticoagulants": ["warfarin", "dabigatran", "rivaroxaban", "apixaban"],
    "dpp4": ["sitagliptin", "saxagliptin", "linagliptin", "alogliptin"],
}
OWN = {"statins": ["Crestor"], "oral-anticoagulants": ["Eliquis"], "dpp4": ["Januvia", "Janumet"]}
#: Census divisions, written out here again so that the totals below do not use the importer's table.
DIVISIONS = {
    "new-england": "CT ME MA NH RI VT", "middle-atlantic": "NJ NY PA", "east-north-central": "IL IN MI OH WI",
    "west-north-central": "IA KS MN MO NE ND SD", "south-atlantic": "DE DC FL GA MD NC SC VA WV",
    "east-south-central": "AL KY MS TN", "west-south-central": "AR LA OK TX", "mountain": "AZ CO ID MT NV NM UT WY",
    "pacific": "AK CA HI OR WA",
}
STATE_DIVISION = {s: d for d, states in DIVISIONS.items() for s in states.split()}


def markets_file(folder: Path, **extra) -> Path:
    path = folder / "markets.yaml"
    config = {"year": 2013, "units": "fills", "territories": "census-division",
              "markets": {m: {"generic": g, "own": OWN[m]} for m, g in MARKETS.items()}, **extra}
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def source_totals(path: Path, unit_column: str = "Tot_30day_Fills") -> dict[tuple[str, str], float]:
    """Units per (territory, market), straight from the file with the csv module."""
    totals: dict[tuple[str, str], float] = defaultdict(float)
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            parts = [p.strip() for p in row["Gnrc_Name"].lower().split("/")]
            for market, names in MARKETS.items():
                if any(re.match(rf"{re.escape(n)}(\s|$)", p) for p in parts for n in names):
                    if row[unit_column] and row["Prscrbr_State_Abrvtn"] in STATE_DIVISION:
                        totals[(STATE_DIVISION[row["Prscrbr_State_Abrvtn"]], market)] += float(row[unit_column])
    return dict(totals)


@pytest.fixture(scope="module")
def partd(tmp_path_factory):
    """The shared sample imported once: (data folder, report)."""
    if not PARTD.is_file():
        pytest.skip(f"the shared Part D sample is absent ({PARTD})")
    folder = tmp_path_factory.mktemp("partd")
    report = import_partd(PARTD, markets_file(folder), folder / "data")
    return folder / "data", report


# --- Part D on the real sample ---------------------------------------------------------------

@needs_partd
def test_partd_import_is_a_valid_dataset_with_its_profile(partd):
    data, report = partd
    ds = load_dataset(data)
    profile = load_profile(data / "profile.yaml")
    check_against_data(profile, ds, source="profile.yaml")
    assert profile["period_end"] == "2013-12" and profile["period_months"] == 12
    assert set(ds.sales["period"]) == {"2013-12"} and not ds.has_activities
    assert set(ds.customers["customer_type"]) == {"hcp"}
    assert set(ds.markets["market"]) == set(MARKETS)
    assert set(ds.reps["territory_id"]) == set(ds.territories["territory_id"]) == set(ds.customers["territory_id"])
    assert ds.reps["rep_name"].str.contains("placeholder").all()
    # customers: the prescribers with at least one row in a market, each with sales
    assert set(ds.sales["customer_id"]) == set(ds.customers["customer_id"])
    source = pd.read_csv(PARTD, dtype=str, keep_default_na=False)
    in_market = source[source["Gnrc_Name"].str.lower().str.contains("vastatin|warfarin|dabigatran|rivaroxaban|apixaban"
                                                                   "|gliptin") & ~source["Gnrc_Name"].str.contains(
                                                                       "Nystatin")]
    assert set(ds.customers["customer_id"]) == set(in_market["Prscrbr_NPI"])
    # one product per brand name and market; ours flagged
    own = ds.products.loc[ds.products["is_own"], "product_name"]
    assert set(own) == {"Crestor", "Eliquis", "Januvia", "Janumet"}
    assert {"Simvastatin", "Vytorin", "Lipitor", "Xarelto", "Pradaxa"} <= set(ds.products["product_name"])
    # every row is accounted for: imported, outside the markets, or dropped with a reason
    assert report.rows_read == len(source)
    assert report.rows_kept + sum(report.skipped.values()) + sum(report.dropped.values()) == report.rows_read
    assert report.seconds > 0 and "rows/s" in report.summary()


@needs_partd
def test_partd_units_per_territory_and_market_equal_the_source_totals(partd):
    from analysis.domain.national import national_pass

    data, _ = partd
    ds = load_dataset(data)
    tables = national_pass(ds, load_profile(data / "profile.yaml"))
    customers = tables["customers"]
    exported = customers.groupby(["territory_id", "market"])["market_units_analysis"].sum()
    expected = source_totals(PARTD)
    assert set(exported[exported > 0].index) == set(expected)
    for key, units in expected.items():
        assert exported[key] == pytest.approx(units, rel=1e-9), key
    assert set(ds.territories["territory_id"]) == {t for t, _ in expected}
    # the caveats of a sales-only, single-period file
    for caveats in tables["kpis"]["caveats"]:
        assert {"no_comparison", "no_activities"} <= set(caveats.split(";"))
    # no prescriber with zero share is high support
    segmented = customers[customers["support_level"].notna()]
    assert not ((segmented["support"].fillna(0) == 0) & (segmented["support_level"] == "high")).any()
    assert (segmented["support"] == 0).any()  # the case occurs (most prescribers write generics only)


@needs_partd
def test_partd_import_then_run_renders_with_the_caveats_first(partd, tmp_path):
    data, _ = partd
    ds = load_dataset(data)
    territory = ds.customers["territory_id"].value_counts().index[-1]  # the smallest: cheap
    out = tmp_path / "reports"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-m", "analysis.engine.cli", "run", "--data", str(data), "--params",
                           str(data / "profile.yaml"), "--out", str(out), "--renderer", "builtin", "--territories",
                           territory, "--jobs", "1", "--quiet"], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    page = (out / territory / "report.html").read_text(encoding="utf-8")
    body = re.sub(r"<style.*?</style>|<script.*?</script>", "", page, flags=re.S)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))
    first_table = text.find("Segment") if "<table" not in body else len(re.sub(r"<[^>]+>", " ", body[:body.find(
        "<table")]))
    assert "No comparison period." in text and "No activity data. This dataset has sales only" in text
    assert text.find("No comparison period.") < first_table and text.find("No activity data.") < first_table


@needs_partd
def test_partd_dropped_rows_are_counted_by_reason(tmp_path):
    lines = PARTD.read_text(encoding="utf-8").splitlines(keepends=True)
    header = next(csv.reader([lines[0]]))
    fills, state = header.index("Tot_30day_Fills"), header.index("Prscrbr_State_Abrvtn")
    statins = [i for i, line in enumerate(lines) if i and "Simvastatin" in line]
    rows = {i: next(csv.reader([lines[i]])) for i in statins[:3]}
    rows[statins[0]][fills] = ""      # suppressed
    rows[statins[1]][state] = "XX"    # unknown state
    rows[statins[2]][state] = "PR"    # in no census division
    for i, row in rows.items():
        buffer = []
        csv.writer(_Collect(buffer), lineterminator="\n").writerow(row)
        lines[i] = "".join(buffer)
    lines.insert(5, "\n")             # a blank line
    copy = tmp_path / "partd_2013.csv.gz"
    with gzip.open(copy, "wt", encoding="utf-8", newline="") as handle:
        handle.writelines(lines)
    report = import_partd(copy, markets_file(tmp_path), tmp_path / "data")
    assert report.dropped["units suppressed or blank (Tot_30day_Fills)"] == 1
    assert report.dropped["state XX in no territory"] == 1
    assert report.dropped["state PR in no territory"] == 1
    assert any("blank line" in n for n in report.notes)
    load_dataset(tmp_path / "data")


class _Collect:
    def __init__(self, parts):
        self.parts = parts

    def write(self, text):
        self.parts.append(text)


# --- Part D on synthetic files ------------------------------------------------------------

LEGACY_HEADER = ["npi", "nppes_provider_last_org_name", "nppes_provider_first_name", "nppes_provider_city",
                 "nppes_provider_state", "specialty_description", "description_flag", "drug_name", "generic_name",
                 "bene_count", "total_claim_count", "total_30_day_fill_count", "total_day_supply", "total_drug_cost"]


def legacy_rows():
    return [
        ["9000000001", "ALPHA", "ANN", "SPRINGFIELD", "IL", "Internal Medicine", "S", "CRESTOR", "ROSUVASTATIN CALCIUM",
         "", "40", "44.5", "1335", "9000"],
        ["9000000001", "ALPHA", "ANN", "SPRINGFIELD", "IL", "Internal Medicine", "S", "SIMVASTATIN", "SIMVASTATIN",
         "12", "20", "21", "630", "100"],
        ["9000000001", "ALPHA", "ANN", "SPRINGFIELD", "IL", "Internal Medicine", "S", "NYSTATIN", "NYSTATIN",
         "", "11", "11", "110", "50"],
        ["9000000002", "BETA CLINIC", "", "AUSTIN", "TX", "Cardiology", "S", "JUVISYNC", "SITAGLIPTIN/SIMVASTATIN",
         "", "15", "30", "900", "4000"],
        ["9000000003", "GAMMA", "GIL", "PORTLAND", "OR", "Family Practice", "S", "JANUVIA", "SITAGLIPTIN PHOSPHATE",
         "", "12", "", "360", "3000"],
    ]


def write_legacy(path: Path, rows=None, delimiter="\t") -> Path:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter, lineterminator="\n")
        writer.writerow(LEGACY_HEADER)
        writer.writerows(legacy_rows() if rows is None else rows)
    return path


def test_partd_pre_2019_layout_tab_gzip_and_year_from_the_file_name(tmp_path):
    source = write_legacy(tmp_path / "PartD_Prescriber_PUF_NPI_Drug_13.txt.gz")
    config = markets_file(tmp_path, territories="state")
    data = yaml.safe_load(config.read_text())
    del data["year"]
    config.write_text(yaml.safe_dump(data))
    report = import_partd(source, config, tmp_path / "data")
    ds = load_dataset(tmp_path / "data")
    assert load_profile(tmp_path / "data" / "profile.yaml")["period_end"] == "2013-12"
    assert sorted(ds.territories["territory_id"]) == ["IL", "TX"]  # OR: its only row has blank units
    sales = ds.sales.merge(ds.products, on="product_id")
    units = sales.groupby(["customer_id", "market", "product_name"])["units"].sum().to_dict()
    assert units == {("9000000001", "statins", "CRESTOR"): 44.5, ("9000000001", "statins", "SIMVASTATIN"): 21.0,
                     # a combination of two markets counts in both
                     ("9000000002", "dpp4", "JUVISYNC"): 30.0, ("9000000002", "statins", "JUVISYNC"): 30.0}
    assert report.dropped["units suppressed or blank (total_30_day_fill_count)"] == 1  # never 0
    assert report.skipped["drug outside the markets"] == 1  # Nystatin is not a statin
    assert set(ds.customers["customer_id"]) == {"9000000001", "9000000002"}
    names = dict(zip(ds.customers["customer_id"], ds.customers["customer_name"]))
    assert names["9000000002"] == "BETA CLINIC" and names["9000000001"] == "ANN ALPHA"


def test_partd_units_claims_and_days(tmp_path):
    source = write_legacy(tmp_path / "partd_2015.csv", delimiter=",")
    for units, expected in (("claims", 40 + 20 + 15 + 15 + 12), ("days", 1335 + 630 + 900 + 900 + 360)):
        config = markets_file(tmp_path, units=units, year=2015)
        import_partd(source, config, tmp_path / units)
        ds = load_dataset(tmp_path / units)
        assert ds.sales["units"].sum() == expected
        assert load_profile(tmp_path / units / "profile.yaml")["period_end"] == "2015-12"


def test_partd_bad_values_are_errors_naming_line_and_nothing_is_written(tmp_path):
    rows = legacy_rows()
    rows[1][11] = "n/a"        # line 3
    rows[3][0] = "90000X0002"  # line 5
    source = write_legacy(tmp_path / "partd_2013.txt", rows)
    out = tmp_path / "data"
    with pytest.raises(DataValidationError) as info:
        import_partd(source, markets_file(tmp_path), out)
    message = str(info.value)
    assert "total_30_day_fill_count" in message and "units must be a number" in message and "n/a" in message
    assert "npi" in message and "10 digits" in message and "90000X0002" in message
    by_column = {v.column: v for v in info.value.violations}
    assert by_column["total_30_day_fill_count"].examples["line"].tolist() == [3]
    assert by_column["npi"].examples["line"].tolist() == [5]
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".data")]


def test_partd_bad_markets_file_and_existing_output(tmp_path):
    source = write_legacy(tmp_path / "partd_2013.txt")
    bad = tmp_path / "bad.yaml"
    bad.write_text("year: 2013\nunit: fills\nmarkets:\n  statins: {generics: [simvastatin]}\n")
    with pytest.raises(ParameterError) as info:
        read_config(bad)
    assert "'unit'" in str(info.value) and "did you mean 'units'" in str(info.value)
    assert "generics" in str(info.value)
    bad.write_text("units: pills\nmarkets: {statins: {generic: [simvastatin]}}\n")
    with pytest.raises(ParameterError, match="units is 'pills'"):
        read_config(bad)
    bad.write_text("markets: {statins: {generic: [simvastatin]}}\n")
    (tmp_path / "noyear").mkdir()
    with pytest.raises(ParameterError, match="data year"):
        import_partd(write_legacy(tmp_path / "noyear" / "partd.txt"), bad, tmp_path / "x")
    out = tmp_path / "data"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(TerritoryReportsError, match="not empty"):
        import_partd(source, markets_file(tmp_path), out)
    assert (out / "keep.txt").read_text() == "mine"
    import_partd(source, markets_file(tmp_path), out, force=True)
    assert not (out / "keep.txt").exists() and (out / "sales.csv").is_file()
    with pytest.raises(DataValidationError, match="not a Part D"):
        import_partd(write_dataset(tmp_path / "tiny", tiny_tables()) / "sales.csv", markets_file(tmp_path),
                     tmp_path / "y")


def test_year_from_cms_file_names():
    assert year_from_name(Path("MUP_DPR_RY21_P04_V10_DY19_NPIBN_0.csv")) == 2019
    assert year_from_name(Path("PartD_Prescriber_PUF_NPI_Drug_13.txt")) == 2013
    assert year_from_name(Path("cms-partd-2013/prescriber_drug_sample.csv")) == 2013
    assert year_from_name(Path("prescribers.csv")) is None


def test_partd_territories_from_a_csv_file(tmp_path):
    (tmp_path / "terr.csv").write_text("state,territory_id,territory_name,region\nIL,north,North,Central\n"
                                       "TX,south,South,Central\nOR,west,West,Coast\n")
    source = write_legacy(tmp_path / "partd_2013.txt")
    import_partd(source, markets_file(tmp_path, territories="terr.csv"), tmp_path / "data")
    ds = load_dataset(tmp_path / "data")
    assert dict(zip(ds.customers["customer_id"], ds.customers["territory_id"])) == {
        "9000000001": "north", "9000000002": "south"}
    (tmp_path / "terr.csv").write_text("state,territory_id,territory_name,region\nIL,north,North,Central\n"
                                       "IL,south,South,Central\n")
    with pytest.raises(ParameterError, match="more than once"):
        import_partd(source, markets_file(tmp_path, territories="terr.csv"), tmp_path / "data2")


# --- the declarative importer and its presets ------------------------------------------------

VEEVA_HEADER = ["Id", "Account_vod__c", "OwnerId", "Call_Date_vod__c", "Call_Channel_vod__c", "Status_vod__c",
                "Call_Type_vod__c", "Detailed_Products_vod__c"]


def veeva_rows():
    return [
        ["a0X000000000001", "C0001", "R01", "2026-01-12", "Face_to_face_vod", "Submitted_vod", "Detail Only", "P01"],
        ["a0X000000000002", "C0001", "R01", "3/3/2026", "Email_vod", "Submitted_vod", "Call Only", ""],
        ["a0X000000000003", "C0006", "R02", "2026-02-10", "Phone_vod", "Submitted_vod", "Detail Only", "P01"],
        ["a0X000000000004", "C0006", "R02", "2026-02-11", "Video_vod", "Planned_vod", "Detail Only", "P01"],
        ["a0X000000000005", "C0002", "R01", "2026-04-01", "Other_vod", "Submitted_vod", "Call Only", ""],
        ["a0X000000000006", "C0002", "R01", "2026-05-02", "message_vod", "Submitted_vod", "Call Only", ""],
    ]


def write_csv(path: Path, header, rows) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def without_activities(tiny_dataset):
    (tiny_dataset / "activities.csv").unlink()
    return tiny_dataset


def test_veeva_preset_imports_calls_into_activities(without_activities, tmp_path):
    source = write_csv(tmp_path / "calls.csv", VEEVA_HEADER, veeva_rows())
    report = import_table(source, MAPPINGS / "veeva-call2-activities.yaml", without_activities)
    ds = load_dataset(without_activities)
    acts = ds.activities.set_index("activity_id")
    assert list(acts.index) == ["a0X000000000001", "a0X000000000002", "a0X000000000003", "a0X000000000006"]
    assert acts["channel"].tolist() == ["f2f_visit", "email", "phone", "chat_app"]
    assert acts.loc["a0X000000000002", "date"] == pd.Timestamp("2026-03-03")
    assert acts["cost"].tolist() == [150, 2, 25, 2]
    assert report.dropped["filter: kept only rows where Status_vod__c is one of ['Submitted_vod']"] == 1
    assert report.dropped["Call_Channel_vod__c value 'Other_vod' mapped to nothing (null)"] == 1
    assert report.rows_read == 6 and report.rows_kept == 4


def test_unmapped_and_unparseable_values_name_file_column_value_and_line(without_activities, tmp_path):
    rows = veeva_rows()
    rows[0][4] = "Carrier pigeon"    # line 2
    rows[2][3] = "2026-13-45"        # line 4
    source = write_csv(tmp_path / "calls.csv", VEEVA_HEADER, rows)
    before = sorted(p.name for p in without_activities.iterdir())
    with pytest.raises(DataValidationError) as info:
        import_table(source, MAPPINGS / "veeva-call2-activities.yaml", without_activities)
    by_rule = {v.column: v for v in info.value.violations}
    channel = by_rule["Call_Channel_vod__c"]
    assert "'Carrier pigeon'" in channel.rule and channel.examples["line"].tolist() == [2]
    assert Path(channel.file) == source
    date = by_rule["Call_Date_vod__c"]
    assert "'2026-13-45'" in date.rule and date.examples["line"].tolist() == [4]
    assert "calls.csv" in str(info.value)
    assert sorted(p.name for p in without_activities.iterdir()) == before  # nothing written


def test_contract_violations_are_told_in_the_source_lines(without_activities, tmp_path):
    rows = veeva_rows()
    rows[5][1] = "C9999"  # line 7: no such customer
    source = write_csv(tmp_path / "calls.csv", VEEVA_HEADER, rows)
    with pytest.raises(DataValidationError) as info:
        import_table(source, MAPPINGS / "veeva-call2-activities.yaml", without_activities)
    (violation,) = info.value.violations
    assert violation.column == "customer_id" and violation.examples["line"].tolist() == [7]
    assert "Account_vod__c" in violation.hint and Path(violation.file) == source
    assert not (without_activities / "activities.csv").exists()


def test_existing_table_needs_force(tiny_dataset, tmp_path):
    source = write_csv(tmp_path / "calls.csv", VEEVA_HEADER, veeva_rows())
    with pytest.raises(TerritoryReportsError, match="already holds the activities table"):
        import_table(source, MAPPINGS / "veeva-call2-activities.yaml", tiny_dataset)
    import_table(source, MAPPINGS / "veeva-call2-activities.yaml", tiny_dataset, force=True)
    assert len(load_dataset(tiny_dataset).activities) == 4


def test_rx_preset_sums_npi_product_month_rows(tmp_path):
    tables = tiny_tables()
    tables["customers"] = tables["customers"].assign(customer_id=[f"900000000{i}" for i in range(1, 9)])
    del tables["sales"], tables["activities"]
    data = write_dataset(tmp_path / "data", tables)
    header = ["NPI", "PRODUCT_ID", "MONTH", "TRX", "NRX"]
    rows = [["9000000001", "P01", "202601", "1,200", "3"], ["9000000001", "P01", "202601", "30", "1"],
            ["9000000001", "P02", "202602", "7.5", "0"], ["9000000006", "P02", "2026-02", "0", "0"]]
    source = write_csv(tmp_path / "rx.csv", header, rows)
    report = import_table(source, MAPPINGS / "rx-npi-product-month-sales.yaml", data)
    ds = load_dataset(data)
    got = {(c, p, m): u for c, p, m, u in ds.sales[["customer_id", "product_id", "period", "units"]].itertuples(
        index=False)}
    assert got == {("9000000001", "P01", "2026-01"): 1230.0, ("9000000001", "P02", "2026-02"): 7.5,
                   ("9000000006", "P02", "2026-02"): 0.0}
    assert any("summed" in n for n in report.notes)
    rows[2][2] = "Feb 2026"
    with pytest.raises(DataValidationError, match="'Feb 2026'"):
        import_table(write_csv(tmp_path / "rx.csv", header, rows), MAPPINGS / "rx-npi-product-month-sales.yaml",
                     data, force=True)


def test_bad_mappings_are_errors_naming_the_key(tmp_path):
    path = tmp_path / "m.yaml"
    cases = {
        "table: activity\ncolumns: {activity_id: Id}\n": "did you mean 'activities'",
        "table: sales\ncolumns: {customer_id: NPI, product_id: P, period: M, unit: U}\n": "'unit' is not a column",
        "table: sales\ncolumns: {customer_id: NPI, product_id: P, period: M}\n": "required column(s) units",
        "table: sales\ncolum: {}\n": "did you mean 'columns'",
        "table: sales\ncolumns: {customer_id: NPI, product_id: P, period: {column: M, formt: '%Y'}, units: U}\n":
            "did you mean 'format'",
        "table: sales\ncolumns: {customer_id: {column: A, value: B}, product_id: P, period: M, units: U}\n":
            "exactly one of",
        "table: sales\ncolumns: {customer_id: NPI, product_id: P, period: M, units: U}\nfilters: [{column: X}]\n":
            "exactly one of equals",
        "table: sales\ncolumns: {customer_id: NPI, product_id: P, period: M, units: U}\naggregate: mean\n":
            "'aggregate' is 'mean'",
    }
    for text, expected in cases.items():
        path.write_text(text)
        with pytest.raises(ParameterError) as info:
            read_mapping(path)
        assert expected in str(info.value), (text, str(info.value))
        assert str(path) in str(info.value)
    path.write_text("table: sales\ncolumns: {customer_id: NPI, product_id: PROD, period: MONTH, units: TRX}\n")
    source = write_csv(tmp_path / "rx.csv", ["NPI", "PRODUCT", "MONTH", "TRX"], [["9000000001", "P01", "2026-01", "1"]])
    with pytest.raises(ParameterError, match=r"no column\(s\) 'PROD' \(found 'PRODUCT'\)"):
        import_table(source, path, tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_mapping_constants_templates_own_flag_and_excel_source(tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Products"
    sheet.append(["Code", "Brand", "Ours"])
    sheet.append(["P01", "Ourvastatin", "Y"])
    sheet.append([None, None, None])
    sheet.append([2, "Rivalix", "N"])
    sheet.append(["P03", "Thirdix", "maybe"])  # row 5: unmapped
    book.save(tmp_path / "export.xlsx")
    path = tmp_path / "products.yaml"
    path.write_text("table: products\nsource: {sheet: Products}\ncolumns:\n  product_id: Code\n"
                    "  product_name: {template: '{Brand} ({Code})'}\n  market: {value: stroke}\n"
                    "  is_own: {column: Ours, map: {'Y': true, 'N': false}}\n")
    with pytest.raises(DataValidationError) as info:
        import_table(tmp_path / "export.xlsx", path, tmp_path / "data")
    (violation,) = info.value.violations
    assert violation.column == "Ours" and "'maybe'" in violation.rule and violation.examples["row"].tolist() == [5]
    sheet.delete_rows(5)
    book.save(tmp_path / "export.xlsx")
    import_table(tmp_path / "export.xlsx", path, tmp_path / "data")
    products = read_table(tmp_path / "data" / "products.csv")
    assert products.to_dict("list") == {"product_id": ["P01", "2"], "product_name": ["Ourvastatin (P01)",
                                                                                    "Rivalix (2)"],
                                        "market": ["stroke", "stroke"], "is_own": ["true", "false"]}


# --- Excel and gzipped tables in load_dataset --------------------------------------------------

def test_gzipped_csv_loads_like_csv_with_the_same_line_numbers(tiny_dataset):
    sales = (tiny_dataset / "sales.csv").read_bytes()
    plain = load_dataset(tiny_dataset)
    (tiny_dataset / "sales.csv").unlink()
    with gzip.open(tiny_dataset / "sales.csv.gz", "wb") as handle:
        handle.write(sales)
    zipped = load_dataset(tiny_dataset)
    pd.testing.assert_frame_equal(plain.sales, zipped.sales)
    assert zipped.files["sales"].name == "sales.csv.gz"
    frame = read_text_table_any(tiny_dataset / "sales.csv.gz")
    frame.loc[3, "units"] = "-5"  # line 5
    (tiny_dataset / "sales.csv.gz").unlink()
    with gzip.open(tiny_dataset / "sales.csv.gz", "wt", encoding="utf-8", newline="") as handle:
        frame.to_csv(handle, index=False, lineterminator="\n")
    with pytest.raises(DataValidationError) as info:
        load_dataset(tiny_dataset)
    (violation,) = info.value.violations
    assert violation.column == "units" and violation.examples["line"].tolist() == [5]
    assert violation.file.endswith("sales.csv.gz")
    (tiny_dataset / "sales.csv").write_bytes(sales)
    with pytest.raises(DataValidationError, match="more than once"):
        load_dataset(tiny_dataset)


def read_text_table_any(path: Path) -> pd.DataFrame:
    return read_table(path).fillna("")


def _xlsx(path: Path, sheets: dict[str, pd.DataFrame]) -> Path:
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for name, frame in sheets.items():
        sheet = book.create_sheet(name)
        sheet.append(list(frame.columns))
        for row in frame.itertuples(index=False):
            sheet.append([None if v == "" else v for v in row])
    book.save(path)
    return path


def test_excel_one_file_per_table_and_one_sheet_per_table(tmp_path):
    tables = tiny_tables()
    reference = load_dataset(write_dataset(tmp_path / "csv", tables))
    per_file = tmp_path / "per_file"
    per_file.mkdir()
    for name, frame in tables.items():
        _xlsx(per_file / f"{name}.xlsx", {"Sheet1": frame})
    book = tmp_path / "book"
    book.mkdir()
    _xlsx(book / "dataset.xlsx", tables)
    for folder in (per_file, book):
        ds = load_dataset(folder)
        for name in tables:
            pd.testing.assert_frame_equal(getattr(reference, name), getattr(ds, name), check_dtype=False,
                                          obj=f"{folder.name}:{name}")
    assert load_dataset(book).files["sales"].name == "dataset.xlsx#sales"


def test_excel_cells_typed_by_excel_and_errors_with_row_numbers(tmp_path):
    import datetime as dt

    tables = tiny_tables()
    folder = write_dataset(tmp_path / "data", tables)
    (folder / "sales.csv").unlink()
    (folder / "activities.csv").unlink()
    from openpyxl import Workbook
    book = Workbook()
    sheet = book.active
    sheet.title = "sales"
    sheet.append(["customer_id", "product_id", "period", "units"])
    sheet.append(["C0001", "P01", dt.datetime(2026, 1, 1), 10])       # a month typed into Excel becomes a date
    sheet.append([None, None, None, None])                              # an empty row
    sheet.append(["C0001", "P02", "2026-01", 30.5])
    sheet.append(["C0002", "P01", "2026-01", -4])                       # row 5: negative
    book.save(folder / "sales.xlsx")
    with pytest.raises(DataValidationError) as info:
        load_dataset(folder)
    (violation,) = info.value.violations
    assert violation.column == "units" and violation.examples["row"].tolist() == [5]
    assert "sales.xlsx" in str(info.value)
    sheet.delete_rows(5)
    book.save(folder / "sales.xlsx")
    ds = load_dataset(folder)
    assert ds.sales[["period", "units"]].values.tolist() == [["2026-01", 10.0], ["2026-01", 30.5]]


def test_an_excel_workbook_change_invalidates_the_input_cache(tmp_path):
    from analysis.contract.dataset import input_digests

    folder = tmp_path / "book"
    folder.mkdir()
    _xlsx(folder / "dataset.xlsx", tiny_tables())
    assert [name for name, _, _ in input_digests(folder)] == ["dataset.xlsx"]


# --- the command line and the layers ------------------------------------------------------------

def test_import_cli_module_registers_every_importer_and_runs(tmp_path, capsys):
    import argparse

    from analysis.contract.importers.cli import add_import_parser

    parser = argparse.ArgumentParser(prog="territory-reports")
    add_import_parser(parser.add_subparsers(dest="command", required=True))
    assert set(REGISTRY.names()) >= {"cms-partd", "table"}
    source = write_legacy(tmp_path / "partd_2013.txt")
    args = parser.parse_args(["import", "cms-partd", str(source), "--markets", str(markets_file(tmp_path)),
                              "--out", str(tmp_path / "data"), "--quiet"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "rows/s" in out and "dropped, units suppressed or blank" in out and "profile.yaml" in out


def test_importers_import_only_the_contract_layer():
    package = ROOT / "src" / "analysis" / "contract" / "importers"
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([node.module] if isinstance(node, ast.ImportFrom) and node.module else
                     [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            for name in names:
                parts = name.split(".")
                assert not (parts[0] == "analysis" and len(parts) > 1 and parts[1] not in ("contract", "errors")), \
                    f"{path.name} imports {name}"


def test_no_real_prescriber_data_is_committed():
    """The shared file's NPIs and names appear in no file of the project's tests, params or docs."""
    if not PARTD.is_file():
        pytest.skip(f"the shared Part D sample is absent ({PARTD})")
    source = pd.read_csv(PARTD, dtype=str, keep_default_na=False)
    npis = set(source["Prscrbr_NPI"])
    names = {n for n in source["Prscrbr_Last_Org_Name"] if len(n) > 5}
    files = [ROOT / "tests" / "test_importers.py", *(ROOT / "params" / "mappings").glob("*.yaml"),
             ROOT / "bench" / "import_partd.py", *(ROOT / "src" / "analysis" / "contract" / "importers").glob("*.py")]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.find("## Your first report on real data")
    assert start >= 0
    section = readme[start:readme.find("\n## ", start + 3)]
    for path, text in [(p, p.read_text(encoding="utf-8", errors="replace")) for p in files] + [("README", section)]:
        assert not {n for n in npis if n in text}, path
        words = set(re.findall(r"[A-Za-z][A-Za-z'-]+", text))
        assert not (names & words), (path, names & words)


def test_bench_runs_at_a_small_size(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "import_partd.py"), "--rows", "20000", "--dir",
                           str(tmp_path)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rows/s" in done.stdout and "peak RSS" in done.stdout


def test_the_main_command_runs_import_with_the_two_lines_added(tmp_path, monkeypatch, capsys):
    """What engine/cli.py's parser() gets: ``from analysis.contract.importers.cli import
    add_import_parser`` and ``add_import_parser(sub)``; exit 0 on success, 2 on bad input."""
    import argparse

    from analysis.contract.importers.cli import add_import_parser
    from analysis.engine import cli as engine_cli

    original = engine_cli.parser

    def parser():
        p = original()
        sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
        if "import" not in sub.choices:  # not yet added to engine/cli.py
            add_import_parser(sub)
        return p

    monkeypatch.setattr(engine_cli, "parser", parser)
    source = write_legacy(tmp_path / "partd_2013.txt")
    code = engine_cli.main(["import", "cms-partd", str(source), "--markets", str(markets_file(tmp_path)), "--out",
                            str(tmp_path / "data"), "--quiet"])
    assert code == 0 and (tmp_path / "data" / "profile.yaml").is_file()
    calls = write_csv(tmp_path / "calls.csv", VEEVA_HEADER, [["x1", "C1", "R1", "2026-01-01", "Fax", "Submitted_vod",
                                                             "", ""]])
    code = engine_cli.main(["import", "table", str(calls), "--mapping", str(MAPPINGS / "veeva-call2-activities.yaml"),
                            "--out", str(tmp_path / "data")])
    assert code == 2
    err = capsys.readouterr().err
    assert "calls.csv" in err and "Call_Channel_vod__c" in err and "'Fax'" in err and " 2 " in err
    assert not (tmp_path / "data" / "activities.csv").exists()
