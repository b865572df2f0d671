"""Sentences for people: the one module that turns the pass's codes and numbers into words.

The analyses return codes (flags, caveats, next-best-channel bases) and numbers; every
sentence a report, roll-up or index shows is made here, with norm values taken from the
run's parameters (never from the package defaults).
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from analysis.domain.segmentation import SegmentScheme

#: How a phase code reads in a table.
PHASE_WORDS = {"below_trial": "not yet prescribing"}

#: The intent of every segment of each scheme (DESIGN 4.3).
SEGMENT_INTENTS: dict[str, dict[str, str]] = {
    "2x2": {
        "A": "maintain and strengthen (core)",
        "B": "develop: the largest opportunity",
        "C": "maintain at low cost (remote channels)",
        "D": "minimal, digital only",
    },
    "3x3": {
        "high/high": "maintain and strengthen (core)",
        "high/medium": "develop: grow our share",
        "high/low": "develop: the largest opportunity",
        "medium/high": "maintain at moderate cost",
        "medium/medium": "develop selectively",
        "medium/low": "test remote channels",
        "low/high": "maintain at low cost (remote channels)",
        "low/medium": "maintain at low cost (remote channels)",
        "low/low": "minimal, digital only",
    },
}

#: What each data-shape caveat means for the reader: (title, explanation).
CAVEATS: dict[str, tuple[str, str]] = {
    "no_comparison": ("No comparison period", "The data has no sales in the months before the analysis period, so "
                      "changes, phase migration, progressions, slipping, stalled and competitor-locked customers "
                      "and ROI cannot be shown (shown as –)."),
    "no_activities": ("No activity data", "This dataset has sales only, so coverage, effort, channels, coaching "
                      "norms, ROI, next best channel and contact dates cannot be shown (shown as –), and the "
                      "phases below trial cannot be told apart (\"not yet prescribing\")."),
    "no_profile_fields": ("No profile fields", "Profile completeness cannot be measured (shown as –)."),
    "roi_units_only": ("ROI in units", "The products table has no unit margin: ROI is own units gained per unit "
                       "of cost."),
}

#: Why the channel-phase figure is empty when activities exist but the comparison period does not.
UNPLACED_EFFORT = ("No comparison period: the phase each customer was in when contacted is unknown, so effort "
                   "cannot be placed by phase.")

#: Why a headline measure is missing, by the caveat that removes it.
MISSING_BECAUSE = {
    "no_comparison": ("own_units_previous", "market_units_previous", "support_previous", "progressions", "slipping",
                      "competitor_locked", "stalled", "own_units_change", "margin_change", "roi"),
    "no_activities": ("customers_covered", "coverage", "effort_on_priority", "mismatched_effort", "over_service",
                      "cost", "roi", "stalled", "maintenance_overdue", "own_units_change", "margin_change"),
}
SHORT_REASONS = {"no_comparison": "no comparison period", "no_activities": "no activity data",
                 "no_profile_fields": "no profile fields", "roi_units_only": "ROI in units"}

BASIS_WORDS = {"territory": "in this territory", "region": "in the region"}


def codes(value) -> list[str]:
    """A ";"-joined code string as a list (missing or empty: none)."""
    return [c for c in str(value).split(";") if c] if isinstance(value, str) else []


def caveat_sentences(caveats) -> list[tuple[str, str]]:
    """(title, explanation) of each caveat of a ";"-joined caveat string, in order."""
    return [CAVEATS[c] for c in codes(caveats) if c in CAVEATS]


def caveat_sentence(code: str) -> str:
    """One caveat as a sentence: "No comparison period. The data has ..."."""
    title, body = CAVEATS[code]
    return f"{title}. {body}"


def missing_reason(column: str, caveats) -> str:
    """Why ``column`` is missing given the caveats that hold ("" when none explains it)."""
    reasons = [SHORT_REASONS[c] for c in codes(caveats) if column in MISSING_BECAUSE.get(c, ())]
    return "; ".join(reasons)


def phase_word(phase) -> str:
    """A phase code for a table: ``below_trial`` reads "not yet prescribing"."""
    if phase is None or (isinstance(phase, float) and np.isnan(phase)):
        return "–"
    return PHASE_WORDS.get(str(phase), str(phase))


def priority_words(scheme: SegmentScheme) -> str:
    """The priority segments for a sentence: "A and B", or "high-potential"."""
    if scheme.grid == "2x2":
        return " and ".join(scheme.priority)
    return "high-potential"


def segment_intent(scheme: SegmentScheme, segment) -> str:
    return SEGMENT_INTENTS.get(scheme.grid, {}).get(segment, "")


# ------------------------------------------------------------------------ numbers


def number(value: float) -> str:
    """A norm for humans: 80 -> '80', 0.3 -> '0.3'."""
    return f"{value:,.10g}"


def percent(share: float, norm: float | None = None) -> str:
    """A share as a whole percent ('38%'); one decimal where a whole percent would read as the norm."""
    whole = np.floor(share * 100 + 0.5)
    if norm is not None and whole == round(norm * 100):
        return f"{np.floor(share * 1000 + 0.5) / 10:.1f}%"
    return f"{whole:.0f}%"


def count(n: float, one: str, many: str) -> str:
    n = int(round(n))
    return f"{n:,} {one if n == 1 else many}"


def names(values: str, shown: int = 3) -> str:
    """"a; b; c; d" -> "a, b, c and 1 more"."""
    items = [v for v in str(values).split("; ") if v] if isinstance(values, str) else []
    if len(items) <= 1:
        return "".join(items)
    if len(items) <= shown:
        return ", ".join(items[:-1]) + " and " + items[-1]
    return ", ".join(items[:shown]) + f" and {len(items) - shown} more"


# ------------------------------------------------------------------------ coaching


def coaching_labels(norms: Mapping[str, float], scheme: SegmentScheme) -> dict[str, str]:
    """Coaching table column labels carrying the run's norms."""
    return {
        "rep_name": "rep",
        "customers_covered": f"covered ({number(norms['coverage_min'])}-{number(norms['coverage_max'])})",
        "profile_qualified_share": (f"profiles ≥{number(norms['profile_completeness'] * 100)}% "
                                    f"(≥{number(norms['profile_qualified_share'] * 100)}%)"),
        "effort_on_priority": (f"{'A+B' if scheme.grid == '2x2' else 'priority'} effort "
                               f"(≥{number(norms['effort_on_priority'] * 100)}%)"),
        "mismatched_effort": f"mismatched (≤{number(norms['mismatched_effort'] * 100)}%)",
        "over_service": f"on loyal (≤{number(norms['over_service'] * 100)}%)",
        "own_units_change": "own units change",
        "progressions": "moved up",
    }


def coaching_action(row: Mapping, norms: Mapping[str, float], scheme: SegmentScheme) -> dict[str, str]:
    """flag code -> the action sentence, for one row of the coaching table."""
    lo, hi = norms["coverage_min"], norms["coverage_max"]
    span = f"{number(lo)}-{number(hi)}"
    prio = priority_words(scheme)
    out = {}
    for flag in codes(row.get("flags")):
        if flag == "coverage_low":
            gap, free = int(row["coverage_gap"]), int(row.get("priority_uncovered") or 0)
            start = (f" Start with the {count(min(gap, free), 'uncovered ' + prio + ' customer', 'uncovered ' + prio + ' customers')} in the action list."
                     if free > 0 else f" No {prio} customer of the territory is left uncovered: add from the other segments.")
            out[flag] = (f"Covers {count(row['customers_covered'], 'customer', 'customers')}, below the {span} norm: "
                         f"add {count(gap, 'customer', 'customers')}." + start)
        elif flag == "coverage_high":
            out[flag] = (f"Covers {count(row['customers_covered'], 'customer', 'customers')}, above the {span} "
                         f"norm: move {count(-row['coverage_gap'], 'customer', 'customers')} outside the {prio} "
                         "segments to remote channels.")
        elif flag == "departments_uncovered":
            missing = int(row["departments_missing"])
            out[flag] = (f"Covers {int(row['departments_in_territory']) - missing:,} of "
                         f"{int(row['departments_in_territory']):,} department customers in the territory "
                         f"(norm: all): add {names(row.get('departments_missing_names'))}.")
        elif flag == "profiles_unqualified":
            out[flag] = (f"Only {percent(row['profile_qualified_share'], norms['profile_qualified_share'])} of "
                         f"profiles are qualified (norm ≥ {number(norms['profile_qualified_share'] * 100)}%): "
                         f"complete the profiles of {count(row['profiles_unqualified_count'], 'customer', 'customers')} "
                         f"below {number(norms['profile_completeness'] * 100)}% completeness.")
        elif flag == "effort_off_priority":
            out[flag] = (f"Only {percent(row['effort_on_priority'], norms['effort_on_priority'])} of effort goes "
                         f"to {prio} customers (norm ≥ {number(norms['effort_on_priority'] * 100)}%): move calls "
                         f"to the {prio} customers of the action list.")
        elif flag == "mismatched_effort":
            out[flag] = (f"{percent(row['mismatched_effort'], norms['mismatched_effort'])} of effort uses channels "
                         f"that do not fit the customer's phase (norm ≤ {number(norms['mismatched_effort'] * 100)}%): "
                         "use the next best channel listed for each customer.")
        elif flag == "over_service":
            out[flag] = (f"{percent(row['over_service'], norms['over_service'])} of effort goes to loyal customers "
                         f"(norm ≤ {number(norms['over_service'] * 100)}%): move calls to {prio} customers "
                         "not yet loyal.")
    return out


def coaching_actions(coaching: pd.DataFrame, norms: Mapping[str, float], scheme: SegmentScheme,
                     caveats=None) -> list[tuple[str, str, str]]:
    """(rep name, role, the rep's actions as one paragraph) for every rep."""
    out = []
    for row in coaching.to_dict("records"):
        actions = coaching_action(row, norms, scheme)
        if actions:
            text = " ".join(actions.values())
        elif "no_activities" in codes(caveats):
            text = "No activity data: the coaching norms cannot be checked."
        else:
            text = "All norms met: keep going."
        out.append((str(row["rep_name"]), str(row["role"]), text))
    return out


FLAG_WORDS = {
    "coverage_low": "coverage low", "coverage_high": "coverage high", "departments_uncovered": "departments uncovered",
    "profiles_unqualified": "profiles unqualified", "effort_off_priority": "effort off priority",
    "mismatched_effort": "mismatched effort", "over_service": "over-service",
    "competitor_locked": "competitor-locked", "stalled": "stalled", "slipping": "slipping",
}


# --------------------------------------------------------------- next best channel


def next_best_reason(row: Mapping, min_rate_base: int) -> str:
    """Why this channel is the next best one (or why there is none), for one customer row."""
    basis = row.get("next_best_basis")
    phase = phase_word(row.get("phase"))
    if basis == "no_activities":
        return "no activity data: no channel can be ranked"
    if basis == "no_phase":
        return "no phase known for this customer in this market"
    if basis == "no_fit":
        return f"no channel fits '{phase}'"
    if basis == "fit":
        return (f"first fitting channel for '{phase}': no fitting channel reached {min_rate_base} or more "
                f"'{phase}' customers here or in the region")
    rate, base = row.get("next_best_rate"), row.get("next_best_base")
    where = BASIS_WORDS.get(basis, "")
    if row.get("next_best_rate_kind") == "response":
        return f"{percent(rate)} positive responses from '{phase}' customers {where} (n={int(base):,})"
    return f"moved {percent(rate)} of '{phase}' customers up a phase {where} (n={int(base):,})"

