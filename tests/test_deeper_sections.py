"""The deeper sections read well on the demo and on the sales-only single-period shape:
tables where there is data, a caveat (never an empty table with headers) where there is none."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

import shapes
from analysis.contract import params as parameters
from analysis.domain.national import national_pass
from analysis.report import figures, sections
from analysis.report.present import Note
from analysis.report.territory import Territory

SECTIONS = ("targeting", "flag_customers", "profile_gaps", "phase_forecast", "competitors", "call_plan")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return shapes.demo_dataset(tmp_path_factory.mktemp("demo"))


def territory(ds, profile=None, tid="T01") -> Territory:
    profile = parameters.check(dict(profile or {}))
    tables = national_pass(ds, {**profile, "territories": [tid]})
    row = tables["kpis"].iloc[0]
    return Territory(tid, str(row["territory_name"]), str(row["region"]), parameters.effective(profile, tid), tables)


def markdown(obj) -> str:
    return obj._repr_markdown_()


def test_demo_sections_are_tables_and_figures_draw(demo):
    t = territory(demo)
    for name in SECTIONS:
        shown = getattr(sections, name)(t)
        assert not isinstance(shown, Note), name
        assert "|" in markdown(shown) and "<table" in shown._repr_html_(), name
    assert "settles" in markdown(sections.phase_forecast(t)) and sections.forecast_note(t).markdown
    m = sections.methodology(t).markdown
    assert "Cut points applied in this report" in m and "Caveats that hold for this report: none" in m
    for fig in (figures.trend_lines(t.trend, t.trend_activity), figures.competitor_bars(t.competitors),
                figures.region_trend(t.trend)):
        assert fig.axes
        plt.close(fig)


def test_sales_only_single_period_shows_caveats_not_numbers(demo):
    t = territory(shapes.sales_only_single_period(demo))
    forecast = sections.phase_forecast(t)
    assert isinstance(forecast, Note) and "comparison period" in forecast.markdown
    assert isinstance(sections.flag_customers(t), Note)
    targeting = markdown(sections.targeting(t))
    assert "share of effort" not in targeting and "activity data" in sections.targeting_note(t).markdown
    plan = markdown(sections.call_plan(t))
    assert "overdue" not in plan and "next best channel" not in plan
    competitors = markdown(sections.competitors(t))
    assert "\\+" not in competitors  # no change against a comparison period that does not exist
    assert "No comparison period" in sections.methodology(t).markdown
    fig = figures.trend_lines(t.trend, t.trend_activity, reason=sections.placeholder_reason(t, "trend"))
    assert any("No activity data" in text.get_text() for ax in fig.axes for text in ax.texts)
    plt.close(fig)


def test_whole_plan_workbook_has_one_sheet_per_rep(demo, tmp_path):
    import openpyxl

    from analysis.report.exports import call_plan_workbook

    tables = national_pass(demo, {})
    book = openpyxl.load_workbook(call_plan_workbook(tables["call_plan"], tmp_path / "plan.xlsx"))
    reps = tables["call_plan"]["rep_id"].dropna().unique()
    assert len(book.sheetnames) == len(reps) == len(demo.reps)
    assert all(len(name) <= 31 for name in book.sheetnames)
