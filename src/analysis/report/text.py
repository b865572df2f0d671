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



# --------------------------------------------------------------- the analyst's explorer


def _key_value(key: str, value) -> str:
    shown = ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else value
    return f"{key} = [{shown}]" if isinstance(value, (list, tuple)) else f"{key} = {shown}"


def explorer_saved(path, territory_id: str, written: Mapping, cleared) -> str:
    """What a save wrote: ``written`` dotted key -> value, ``cleared`` dotted keys removed."""
    parts = [_key_value(k, v) for k, v in written.items()]
    parts += [f"{k} removed (back to the profile's value)" for k in cleared]
    return (f"Saved {len(parts)} {'change' if len(parts) == 1 else 'changes'} to overrides.{territory_id} in "
            f"{path}: " + "; ".join(parts) + ". The next territory-reports run uses them.")


def explorer_nothing_to_save(territory_id: str) -> str:
    return f"Nothing changed for {territory_id}: the run profile was not touched."


def explorer_not_saved(reason: str) -> str:
    return f"Not saved: {reason}"


def explorer_unsaved(territory_id: str, changes: Mapping) -> str:
    """The analyst's changes for a territory not yet saved (dotted key -> value)."""
    if not changes:
        return f"{territory_id}: no unsaved changes."
    return f"{territory_id}: unsaved: " + "; ".join(_key_value(k, v) for k, v in changes.items())


def explorer_undone(path, territory_id: str) -> str:
    return (f"Undone: {path} is back as it was before the save of overrides.{territory_id}; "
            "the changes are unsaved again.")


def explorer_no_activities(start: str, end: str, first: str | None, last: str | None) -> str:
    """Why the channel and what-if tabs are empty for the chosen period."""
    if first is None:
        return "No activities for this territory: the channel fit and what-if tabs stay empty."
    return (f"No activities between {start} and {end}: the activity data covers {first} to {last}. "
            "Pick a period end inside it to see channels and the what-if.")


def unplaced_effort(reps: Mapping[str, float], target: str) -> str:
    """Reps (name -> cost) whose moved effort has nowhere to go: no activity in ``target``."""
    listed = ", ".join(f"{name} ({cost:,.0f})" for name, cost in reps.items())
    many = len(reps) != 1
    return (f"Not placed: {listed} {'have' if many else 'has'} no activity in {target}, so the moved cost "
            f"has nowhere to go; the 'after' columns leave it out. Pick a target "
            f"{'these reps' if many else 'this rep'} already work{'' if many else 's'} in.")


# ------------------------------------------------------------------ deeper sections


#: Why a 3C flag was raised, from the facts of its drill-down row.
def flag_reason(row: Mapping) -> str:
    """One sentence: why this customer carries this 3C flag (the rule, with its values)."""
    flag = row.get("flag")
    before, now = phase_word(row.get("phase_previous")), phase_word(row.get("phase"))
    if flag == "competitor_locked":
        rival = row.get("leading_competitor_name") or row.get("leading_competitor") or "a competitor"
        share = row.get("competitor_share")
        held = f" ({percent(share)} of the customer's market)" if share is not None and share == share else ""
        move = "no move" if before == now else f"down from '{before}'"
        return f"{rival} dominates{held}; still '{now}' ({move})"
    if flag == "stalled":
        acts = row.get("activities")
        touched = f"{int(acts):,} contacts" if acts is not None and acts == acts else "contacts"
        return f"high potential, '{now}' in both periods despite {touched} this period"
    if flag == "slipping":
        return f"went down from '{before}' to '{now}'"
    return ""


def missing_fields_words(fields, groups) -> str:
    """"phone, email (basic; surrounding)" from the ";"-joined codes."""
    names_ = [f for f in str(fields).split(";") if f] if isinstance(fields, str) else []
    parts = [g for g in str(groups).split(";") if g] if isinstance(groups, str) else []
    return ", ".join(names_) + (f" ({'; '.join(parts)})" if parts else "")


FORECAST_ASSUMPTION = ("The forecast assumes this period's migration rates hold: it projects the phase mix one "
                       "period ahead (a Markov step) and to where it settles if nothing changes. It is a "
                       "baseline to act against, not a prediction of what your actions will do.")
NO_FORECAST = ("No phase forecast: the data has no comparison period, so no migration rates are known.")
NO_TREND_ACTIVITY = "No activity data: effort, coverage and contacts per month cannot be shown."


def call_plan_reason(row: Mapping, min_rate_base: int) -> str:
    """Why the customer is on the plan and why this channel (for the call plan table and workbook)."""
    parts = []
    if "target" in codes(row.get("reason")):
        parts.append(f"segment {row.get('segment')}")
    if "maintenance" in codes(row.get("reason")):
        parts.append("relationship maintenance")
    channel = row.get("next_best_channel")
    if isinstance(channel, str) and channel:
        parts.append(next_best_reason(row, min_rate_base))
    elif row.get("next_best_basis") == "no_activities":
        parts.append("no activity data: no channel can be ranked")
    return "; ".join(parts)


# ------------------------------------------------------------------ methodology


def _val(params: Mapping | None, path: str, default, show=lambda v: f"{v}") -> str:
    """The run's value of ``path`` (dotted), or the default in words when there is no run."""
    if params is None:
        return f"`{path}` (default {show(default)})"
    value = params
    for key in path.split("."):
        value = value.get(key) if isinstance(value, Mapping) else None
    return show(default if value is None else value)


def _pct(v) -> str:
    return f"{float(v) * 100:g}%"


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(":---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def methodology(params: Mapping | None = None, cuts: pd.DataFrame | None = None, caveats=None,
                fit: pd.DataFrame | None = None, window: Mapping | None = None) -> str:
    """How every figure is made, as Markdown: each formula, rule and threshold.

    With ``params`` (a territory's or scope's effective parameters) the run's values are
    written in; ``cuts`` (market, potential_cut, support_cut[, _1]) are the cut points
    applied; ``fit`` the fit matrix (phase, channel, fits) in force; ``caveats`` the
    data-shape caveats that hold; ``window`` the analysis and comparison periods. Without
    them (``docs/methodology.md``) the defaults are named instead.
    """
    from analysis.contract.params import DEFAULTS  # the defaults named when there is no run
    from analysis.contract.schema import DEFAULT_FIT, PHASES

    run = params is not None
    d = DEFAULTS
    p = params
    lines: list[str] = []
    add = lines.append

    add("### Periods")
    months = _val(p, "period_months", d["period_months"])
    periods = (f" Here: analysis period **{window['analysis']}**, comparison period **{window['comparison']}**."
               if window else "")
    add(f"The analysis period is the {months} months ending at `period_end` (default: the latest month in the "
        f"sales data); the comparison period is the same number of months just before it.{periods}")

    add("### Potential (boxes per month)")
    pot = (p or d)["potential"]
    by_market = ", ".join(f"{m}: {a}" for m, a in (pot.get("by_market") or {}).items()) or "none"
    by_type = ", ".join(f"{t}: {a}" for t, a in (pot.get("by_customer_type") or {}).items()) or "none"
    chosen = (f"This run: default **{pot['default']}**; by market: {by_market}; by customer type (wins over the "
              f"market): {by_type}." if run else "The run profile chooses the algorithm (`potential`), by default "
              "the market sum for every customer.")
    add("1. **Market sum**: units of every product of the market (ours and competitors') at the customer in the "
        "analysis period / months in the period.\n"
        "2. **Patient flow**: beds x bed turnovers per month x share of patients with the indication x boxes per "
        "treated patient (e.g. 90 x 2 x 0.8 x (2 + 4) = 864).\n"
        "3. **Catchment**: population x annual incidence x boxes per patient / 12.\n\n"
        f"{chosen} A customer lacking the inputs of its algorithm falls back to the market sum "
        "(`potential_method` says so).")

    add("### Support")
    add("Support = own units / all units of the market at the customer in the period. A customer with no "
        "market units has no support (missing, not zero).")

    add("### Segments, VIPs and deciles")
    seg = (p or d)["segmentation"]
    how = {"median": "the territory median", "quantile": f"the territory's {float(seg.get('q') or 0.5):.0%} quantile",
           "absolute": "fixed values from the run profile"}[seg["cut"]]
    add(f"Cut points: {how if run else 'the territory median by default (or a quantile, or absolute values)'}, "
        "over the prescribing customers (hcp, department, hospital, pharmacy) with potential > 0 (potential) and "
        "with support present (support). High potential: potential > 0 and >= the cut; high support: support "
        f"> 0 and >= the cut (zero or missing support is always low). Grid: {_val(p, 'segmentation.grid', '2x2')}.")
    if cuts is not None and len(cuts):
        rows = []
        for r in cuts.to_dict("records"):
            pc = "; ".join(f"{r[c]:,.2f}" for c in ("potential_cut", "potential_cut_1") if c in r and r[c] == r[c])
            sc = "; ".join(_pct(round(r[c], 4)) for c in ("support_cut", "support_cut_1") if c in r and r[c] == r[c])
            rows.append([str(r["market"]), pc or "–", sc or "–"])
        add("Cut points applied in this report:\n\n" + _md_table(["market", "potential cut (boxes/month)",
                                                                  "support cut"], rows))
    add("2x2 segments: A high/high (maintain and strengthen), B high potential/low support (develop: the largest "
        "opportunity), C low/high (maintain at low cost), D low/low (minimal, digital only); priority A and B. "
        "3x3: high/medium/low on each axis; priority: the high-potential row.")
    add(f"VIPs: customers ranked by {_val(p, 'vip_by', d['vip_by'])} (ties by id); the smallest group reaching "
        f"{_val(p, 'vip_share', d['vip_share'], _pct)} of the territory's total. Deciles: the prescribing "
        "customers with potential > 0 ranked by potential; decile = ceil(10 x rank from the bottom / count), "
        "10 = the top tenth.")

    add("### Customer phases (adoption ladder)")
    ph = (p or d)["phases"]
    add(("Thresholds of this run:" if run else "Default thresholds (parameter `phases`):") + "\n\n"
        + _md_table(["phase", "rule (first that matches, from the top)"], [
        ["loyal", f"support >= {_pct(ph['loyal'])} in this period and the one before"],
        ["adopter", f"support >= {_pct(ph['adopter'])}"],
        ["trial", "own units > 0"],
        ["interested", f"at least {ph['interested_positive']} positive responses (engaged or attended)"],
        ["aware", f"at least {ph['aware_responses']} activity with a response other than none"],
        ["unaware", "otherwise"]]))
    add("A recorded `phases` table wins over the derived phase. Without activities the rungs below trial cannot "
        "be told apart: \"not yet prescribing\". Without a comparison period the previous phase is missing.")

    add("### 3C matrix and flags")
    dom = _val(p, "competitor_dominant", d["competitor_dominant"], _pct)
    add(f"Competitor position (analysis period): *competitor dominant* when the leading competitor product has "
        f">= {dom} of the customer's market units; *own led* when our share is > 0 and >= every competitor's; "
        "*contested* otherwise; *no sales* without market units. Flags: **competitor-locked** = competitor "
        "dominant, phase at or below aware, no progress over the two periods; **stalled** = high potential, "
        "below loyal, the same phase in both periods, and at least one contact this period; **slipping** = the "
        "phase went down. Every flagged customer is listed in tables/flag_customers.csv.")

    add("### Channels and phases")
    add("An activity of the analysis period is placed in the phase its customer had in the comparison period. "
        "Response rate: share of activities with a positive response; progression rate: share of the customers "
        f"touched in a cell who moved up at least one phase. Rates over fewer than "
        f"{_val(p, 'min_rate_base', d['min_rate_base'])} customers show as \"too few\". Next best channel: the "
        "fitting channel with the best rate in the territory, else the region, else the fit order (response rate "
        "for unaware and aware, progression rate from interested up).")
    if fit is not None and len(fit):
        lists = {ph_: [c.replace("_", " ") for c in fit.loc[(fit["phase"] == ph_) & fit["fits"].astype(bool),
                                                             "channel"]] for ph_ in PHASES}
    else:
        lists = {ph_: [c.replace("_", " ") for c in DEFAULT_FIT[ph_]] for ph_ in PHASES}
    add(("Fit matrix in force:" if run else "Default fit matrix (`fit_matrix` changes it):") + "\n\n"
        + _md_table(["phase", "fitting channels"], [[ph_, ", ".join(lists[ph_]) or "none"] for ph_ in PHASES]))

    add("### Coaching norms and ROI")
    n = (p or d)["norms"]
    add(("Norms of this run:" if run else "Default norms (parameter `norms`):") + "\n\n" + _md_table(["measure", "norm"], [
        ["customers covered (chronic reps)", f"{n['coverage_min']}-{n['coverage_max']}; specialty reps: every "
                                            "department customer"],
        ["qualified profiles", f"completeness >= {_pct(n['profile_completeness'])} for >= "
                               f"{_pct(n['profile_qualified_share'])} of the rep's customers"],
        ["effort on priority segments", f">= {_pct(n['effort_on_priority'])}"],
        ["mismatched effort (channel off the fit)", f"<= {_pct(n['mismatched_effort'])}"],
        ["effort on loyal customers", f"<= {_pct(n['over_service'])}"]]))
    add("ROI = (own units change x unit margin) / activity cost, analysis against comparison period. "
        "Attribution: each customer's change is split between the reps and channels that touched it in "
        "proportion to their cost, so ROI by rep, segment and channel each add up to the territory's. A "
        "before/after association, not a measured causal effect; without unit margins it is units per unit of cost.")

    add("### Relationship maintenance")
    cad = (p or d)["cadence"]
    add(("" if run else "Default cadences (parameter `cadence`): ") + "Suppliers, distributors, peripheral customers and VIPs are due for contact every "
        f"{cad['supplier']} (supplier), {cad['distributor']} (distributor), {cad['peripheral']} (peripheral) and "
        f"{cad['vip']} days (VIP; the shortest that applies). Overdue: never contacted, or more days since the last "
        "contact than the cadence.")

    add("### Deeper tables")
    cpm = (p or d)["call_plan"]["contacts_per_month"]
    grid = (p or d)["segmentation"].get("grid", "2x2") if run else "2x2"
    labels = ("A", "B", "C", "D") if grid == "2x2" else tuple(k for k in cpm if "/" in k)
    contacts = ", ".join(f"{k} {cpm[k]:g}" for k in labels if k in cpm)
    add("- **Decile targeting**: per potential decile, customers, share of potential, support, effort (cost) and "
        "its share, contacts per customer and coverage. Effort should follow potential: the top deciles should "
        "carry more than their share of customers.\n"
        "- **Monthly trend**: every month of the data up to the period end: own and market units, support and "
        "prescribing customers (own units > 0) per market; effort, coverage (contacted / prescribing customers) "
        "and contacts per contacted customer per month, each activity counted once.\n"
        "- **Phase forecast**: with P the migration rates (row i: where this period's customers of phase i went), "
        "next mix = current mix x P; the steady mix = the limit of current mix x P^k (a phase nobody was in keeps "
        "its customers). It assumes this period's rates hold; not shown without a comparison period.\n"
        "- **Competitors**: per market, each product's units and share of the territory and of each segment "
        "(prescribing customers), the customers it leads (most units; ties to our product, then the smallest "
        "product id) and the change against the comparison period.\n"
        f"- **Call plan**: each rep's customers of segments with contacts per month > 0 "
        f"({'' if run else 'parameter `call_plan.contacts_per_month`, default '}{contacts}) and the maintenance list; interval = 30 / contacts per month days, or the "
        "maintenance cadence when shorter; due = last contact + interval (never contacted: due on the plan's first "
        "day); owner: the territory's rep with the most contacts, else a rep of the fitting role; ranked by due "
        "date, contacts per month and untapped potential (potential x (1 - support)).")

    add("### Data shape")
    held = caveat_sentences(caveats)
    if run:
        add("Caveats that hold for this report: " + (" ".join(f"**{t}.** {b}" for t, b in held) if held else
                                                     "none: the data has a comparison period, activities, profile "
                                                     "fields and unit margins."))
    else:
        add("Every report says at the top which of these holds: " + " ".join(
            f"**{t}.** {b}" for t, b in (CAVEATS[c] for c in CAVEATS)))
    return "\n\n".join(lines)
