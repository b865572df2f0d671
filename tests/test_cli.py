"""The command line: clear errors, non-zero exits, nothing written on bad input."""
from __future__ import annotations

import pytest
from conftest import read_text_table, write_table

from analysis.engine.cli import main


def test_demo_data_then_validate(tmp_path, capsys):
    assert main(["demo-data", str(tmp_path / "d"), "--territories", "2", "--customers", "60"]) == 0
    assert main(["validate", str(tmp_path / "d")]) == 0
    assert "valid" in capsys.readouterr().out


def test_validate_broken_folder_reports_each_problem(tiny_dataset, capsys):
    sales = read_text_table(tiny_dataset, "sales")
    sales.loc[0, "units"] = "-5"
    sales.loc[1, "customer_id"] = "C9999"
    sales.loc[2, "period"] = "2026/03"
    write_table(tiny_dataset, "sales", sales)
    reps = read_text_table(tiny_dataset, "reps").drop(columns=["role"])
    write_table(tiny_dataset, "reps", reps)
    assert main(["validate", str(tiny_dataset)]) == 2
    err = capsys.readouterr().err
    assert "reps.csv" in err and "'role'" in err
    assert "sales.csv" in err and "units" in err and "-5" in err
    assert "C9999" in err and "2026/03" in err


def test_run_with_bad_parameters_writes_nothing(tiny_dataset, tmp_path, capsys):
    profile = tmp_path / "p.yaml"
    profile.write_text("period_month: 3\n")
    out = tmp_path / "out"
    assert main(["run", "--data", str(tiny_dataset), "--params", str(profile), "--out", str(out)]) == 2
    assert "did you mean 'period_months'" in capsys.readouterr().err
    assert not out.exists()


def test_run_with_invalid_data_writes_nothing(tiny_dataset, tmp_path, capsys):
    sales = read_text_table(tiny_dataset, "sales")
    sales.loc[0, "units"] = "-1"
    write_table(tiny_dataset, "sales", sales)
    out = tmp_path / "out"
    assert main(["run", "--data", str(tiny_dataset), "--out", str(out)]) == 2
    assert "units" in capsys.readouterr().err
    assert not out.exists()


def test_override_for_unknown_territory(tiny_dataset, tmp_path, capsys):
    profile = tmp_path / "p.yaml"
    profile.write_text("overrides:\n  T99: {vip_share: 0.7}\n")
    assert main(["validate", str(tiny_dataset), "--params", str(profile)]) == 2
    assert "T99" in capsys.readouterr().err


def test_validate_checks_the_run_profile_types(tiny_dataset, tmp_path, capsys):
    profile = tmp_path / "p.yaml"
    profile.write_text("period_months: three\nvip_share: 1.5\nterritories: T01\n")
    assert main(["validate", str(tiny_dataset), "--params", str(profile)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {profile}: 3 problems with the parameters:")
    assert "'period_months' is 'three'; expected a whole number from 1 to 36" in err
    assert "'vip_share' is 1.5; expected a number greater than 0 and at most 1" in err
    assert "'territories' is 'T01'; expected 'all' or a list of territory ids" in err
    assert "Traceback" not in err


def test_validate_checks_the_names_against_the_data(tiny_dataset, tmp_path, capsys):
    profile = tmp_path / "p.yaml"
    profile.write_text("period_end: 2031-01\nmarkets: [oncology]\n")
    assert main(["validate", str(tiny_dataset), "--params", str(profile)]) == 2
    err = capsys.readouterr().err
    assert "'period_end' is '2031-01'; expected a month of the sales data" in err
    assert "'markets' names 'oncology'" in err and "stroke" in err
    profile.write_text("period_end: 2026-06\nmarkets: [stroke]\noverrides:\n  T02: {period_months: 2}\n")
    assert main(["validate", str(tiny_dataset), "--params", str(profile)]) == 0
    assert f"{profile}: valid for this data" in capsys.readouterr().out


def test_validate_refuses_a_profile_that_is_not_utf8(tiny_dataset, tmp_path, capsys):
    profile = tmp_path / "p.yaml"
    profile.write_bytes("# r\xe9gion nord\nperiod_months: 3\n".encode("latin-1"))
    assert main(["validate", str(tiny_dataset), "--params", str(profile)]) == 2
    err = capsys.readouterr().err
    assert f"{profile}: line 1: not UTF-8 text" in err and "Traceback" not in err


def test_demo_profile_validates_against_demo_data(tmp_path, capsys):
    from pathlib import Path
    demo = Path(__file__).resolve().parents[1] / "params" / "demo.yaml"
    assert main(["demo-data", str(tmp_path / "d"), "--territories", "2", "--customers", "60"]) == 0
    assert main(["validate", str(tmp_path / "d"), "--params", str(demo)]) == 0
    assert "valid for this data" in capsys.readouterr().out


def test_run_with_a_wrong_type_writes_nothing(tiny_dataset, tmp_path, capsys):
    profile = tmp_path / "p.yaml"
    profile.write_text("period_months: three\n")
    out = tmp_path / "out"
    assert main(["run", "--data", str(tiny_dataset), "--params", str(profile), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "'period_months' is 'three'; expected a whole number from 1 to 36" in err and "Traceback" not in err
    assert not out.exists()


def _batch_checks_against_data() -> bool:
    import inspect

    from analysis.engine import batch
    return "check_against_data" in inspect.getsource(batch)


@pytest.mark.skipif(not _batch_checks_against_data(),
                    reason="engine/batch.py does not call params.check_against_data yet")
def test_run_with_a_month_the_data_lacks_writes_nothing(tiny_dataset, tmp_path, capsys):
    profile = tmp_path / "p.yaml"
    profile.write_text("period_end: 2031-01\n")
    out = tmp_path / "out"
    assert main(["run", "--data", str(tiny_dataset), "--params", str(profile), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "'period_end' is '2031-01'; expected a month of the sales data" in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("engine", ["pandas", "duckdb", "auto"])
def test_validate_engines_report_the_same_problem(tiny_dataset, capsys, engine):
    """``validate --engine``: out of core (duckdb) the same message, with the same line."""
    sales = read_text_table(tiny_dataset, "sales")
    sales.loc[4, "units"] = "-5"
    write_table(tiny_dataset, "sales", sales)
    assert main(["validate", str(tiny_dataset), "--engine", engine]) == 2
    err = capsys.readouterr().err
    assert "units must be >= 0 (1 row)" in err and "     6 " in err  # line 6: the header is line 1
    tiny = tiny_dataset.parent / "valid"
    tiny.mkdir()
    assert main(["demo-data", str(tiny), "--territories", "2", "--customers", "60"]) == 0
    capsys.readouterr()
    assert main(["validate", str(tiny), "--engine", engine]) == 0
    out = capsys.readouterr()
    assert "valid (" in out.out
    # out of core: said before the check starts; only the rows of the months a run reads kept
    assert ("checking" in out.err and "rows of the months a run reads" in out.out) == (engine == "duckdb")


def test_summary_table_counts_this_runs_reports_only():
    """The books keep earlier runs' entries; the table counts the reports this run made."""
    from analysis.engine.cli import summary_table

    entry = lambda status="ok", skipped=False, seconds=1.0: {"status": status, "skipped": skipped,
                                                             "timings": {"tables": seconds}}
    manifest = {"tables_only": True, "run": {"territories": ["T01", "T02"], "rollups": []},
                "territories": {"T01": entry(seconds=2.0), "T02": entry(skipped=True), "T03": entry(),
                                "T04": entry("failed")},
                "rollups": {"R1": entry()}}
    lines = summary_table(manifest).splitlines()
    assert lines[0].split() == ["reports", "exported", "unchanged", "failed", "tables", "s"]
    assert lines[1].split() == ["territories", "1", "1", "0", "2.0"]
    assert lines[2].split() == ["roll-ups", "0", "0", "0", "-"]
    del manifest["run"]  # a manifest of an older version: every entry
    assert summary_table(manifest).splitlines()[1].split() == ["territories", "2", "1", "1", "1.0"]  # median of 2, 1, 1


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_a_run_says_which_stage_is_under_way_unless_quiet(tiny_dataset, tmp_path, capsys, engine):
    out = tmp_path / "out"
    args = ["run", "--data", str(tiny_dataset), "--out", str(out), "--tables-only", "--engine", engine]
    assert main(args) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.replace("\r", "\n").splitlines() if line and not line.startswith("reports")]
    assert lines[0].startswith(f"reading and checking {tiny_dataset}")
    assert ("out of core (about" in lines[0]) == (engine == "duckdb")
    assert lines[1].startswith("  valid: ") and " territories, " in lines[1] and "read and checked in" in lines[1]
    assert lines[2] == "national pass (every territory's tables) ..." and lines[3].startswith("  done in")
    assert main(args) == 0  # again: the pass's tables stand
    assert "the national pass's tables stand" in capsys.readouterr().err
    assert main([*args, "--quiet", "--force"]) == 0
    assert capsys.readouterr().err == ""
