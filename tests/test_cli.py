"""The command line: clear errors, non-zero exits, nothing written on bad input."""
from __future__ import annotations


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
