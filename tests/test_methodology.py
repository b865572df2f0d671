"""The methodology appendix: run values written in, and docs/methodology.md in step with the code."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.contract import params as parameters
from analysis.domain.channels import fit_matrix
from analysis.report import text

DOC = Path(__file__).resolve().parents[1] / "docs" / "methodology.md"


def test_docs_methodology_is_the_generated_text_without_run_values():
    body = text.methodology().replace("### ", "## ")
    assert DOC.read_text(encoding="utf-8").rstrip("\n").endswith(body), \
        "docs/methodology.md is out of date: regenerate it from analysis.report.text.methodology()"
    assert "`period_months` (default 3)" in body and "`vip_share` (default 80%)" in body


def test_run_values_cut_points_fit_and_caveats_are_written_in():
    profile = {"period_months": 6, "competitor_dominant": 0.7, "norms": {"over_service": 0.25},
               "cadence": {"distributor": 45}, "segmentation": {"cut": "quantile", "q": 0.7},
               "fit_matrix": {"loyal": ["chat_app"]}, "call_plan": {"contacts_per_month": {"B": 4}}}
    eff = parameters.effective(parameters.check(profile))
    cuts = pd.DataFrame({"market": ["stroke"], "potential_cut": [12.5], "support_cut": [0.2]})
    md = text.methodology(eff, cuts=cuts, caveats="no_comparison", fit=fit_matrix(eff["fit_matrix"]),
                          window={"analysis": "2026-01 to 2026-06", "comparison": "2025-07 to 2025-12"})
    for expected in ("the 6 months", ">= 70%", "<= 25%", "every 90 (supplier), 45 (distributor)",
                     "70% quantile", "| stroke | 12.50 | 20% |", "| loyal | chat app |", "B 4",
                     "**2026-01 to 2026-06**", "**No comparison period.**"):
        assert expected in md, expected
    assert "` (default " not in md  # run values, not the defaults, are named
