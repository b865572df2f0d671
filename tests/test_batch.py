"""End to end: demo data -> batch -> published HTML, PDF, tables, index and manifest.

One small demo dataset, rendered once per module; a second run with a (tiny) notebook
that fails for one territory checks that the failure is recorded and the last good report
survives.
"""
from __future__ import annotations

import json
import re
import shutil

import pandas as pd

from conftest import tiny_notebook

from analysis.engine.cli import main
from analysis.report.exports import EXPORT_COLUMNS


def test_run_publishes_every_territory(published):
    out = published["out"]
    assert published["code"] == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["territories"]) == {"T01", "T02"}
    assert {e["status"] for e in manifest["rollups"].values()} == {"ok"}
    assert (out / "rollups" / "national" / "report.pdf").is_file()
    for tid, entry in manifest["territories"].items():
        assert entry["status"] == "ok", entry
        assert entry["params"]["period_months"] == 3
        folder = out / tid
        assert (folder / "report.ipynb").is_file()
        assert (folder / "report.pdf").read_bytes()[:5] == b"%PDF-"
        assert (folder / "report.pdf").stat().st_size > 50_000  # figures embedded
    # the demo profile's override reaches T01 only
    assert manifest["territories"]["T01"]["params"]["segmentation"]["cut"] == "quantile"
    assert manifest["territories"]["T02"]["params"]["segmentation"]["cut"] == "median"
    index = (out / "index.html").read_text()
    assert "T01/report.html" in index and "T02/report.pdf" in index


def test_html_is_self_contained(published):
    html = (published["out"] / "T01" / "report.html").read_text()
    # no resource loaded from anywhere: every image inline, no external script or style
    assert not re.search(r'(src|href)\s*=\s*["\'](https?:)?//', html)
    images = re.findall(r'<img[^>]+src="([^"]{0,30})', html)
    assert len(images) >= 5 and all(src.startswith("data:image/png;base64,") for src in images)
    for heading in ("Headline", "Segmentation", "3C matrix", "Channels and phases", "Coaching and ROI",
                    "Action list", "Relationship maintenance", "Data quality"):
        assert heading in html
    assert "<pre" not in html and "import" not in html  # code hidden


def test_tables_follow_the_export_contract(published):
    tables = published["out"] / "T02" / "tables"
    for name, columns in EXPORT_COLUMNS.items():
        frame = pd.read_csv(tables / f"{name}.csv")
        assert list(frame.columns[: len(columns)]) == columns, name
    customers = pd.read_csv(tables / "customers.csv")
    assert (customers["territory_id"] == "T02").all()
    assert not customers.duplicated(["customer_id", "market"]).any()
    assert customers["support"].dropna().between(0, 1).all()


def test_failing_territory_keeps_last_good_report(published, tmp_path):
    out = tmp_path / "reports"
    shutil.copytree(published["out"], out)
    before = (out / "T02" / "report.html").read_bytes()
    broken = tiny_notebook(tmp_path / "broken.ipynb",
                           cells=('if territory_id == "T02":\n    raise ValueError("boom in T02")',))
    rollup = tiny_notebook(tmp_path / "rollup.ipynb", "rollup")
    code = main(["run", "--data", str(published["data"]), "--out", str(out), "--notebook", str(broken),
                 "--rollup-notebook", str(rollup), "--jobs", "2", "--quiet"])
    assert code == 1
    manifest = json.loads((out / "manifest.json").read_text())
    t02 = manifest["territories"]["T02"]
    assert t02["status"] == "stale" and "boom in T02" in t02["error"]
    assert "raise ValueError" in t02["failing_cell"]
    assert manifest["failed"] == ["T02"]
    assert (out / "T02" / "report.html").read_bytes() == before
    assert (out / "T02" / "last-failure.ipynb").is_file()
    assert manifest["territories"]["T01"]["status"] == "ok"
    assert "boom in T02" in (out / "index.html").read_text()


def test_a_territory_with_its_own_period_end_says_so_in_its_title(published, tmp_path):
    """The title block shows the territory's own analysis period, not the run's."""
    import yaml

    periods = sorted(pd.read_csv(published["data"] / "sales.csv", dtype=str)["period"].unique())
    own = periods[-2]  # one month before the latest
    profile = tmp_path / "profile.yaml"
    profile.write_text(yaml.safe_dump({"overrides": {"T02": {"period_end": own}}}))
    out = tmp_path / "out"
    code = main(["run", "--data", str(published["data"]), "--params", str(profile), "--out", str(out),
                 "--territories", "T01,T02", "--renderer", "builtin", "--jobs", "2", "--quiet"])
    assert code == 0
    kpis = pd.read_csv(out / "T02" / "tables" / "kpis.csv", dtype=str)
    assert kpis["period_end"].iloc[0] == own
    t02 = (out / "T02" / "report.html").read_text(encoding="utf-8")
    t01 = (out / "T01" / "report.html").read_text(encoding="utf-8")
    assert f"Analysis period {kpis['analysis_period'].iloc[0]}" in t02
    assert f"to {periods[-1]}" in re.search(r"Analysis period [0-9-]+ to [0-9-]+", t01).group(0)
