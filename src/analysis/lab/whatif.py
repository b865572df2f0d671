"""What-if: move call effort between segments or channels and see the expected effect.

Pure functions over the activity facts (:func:`analysis.domain.channels.activity_facts`): a
share of each rep's cost in the *source* groups is moved to the *target* group
(spread over the rep's existing target activities in proportion to their cost), then
effort on priority segments, mismatched effort, over-service and the coaching flags
are recomputed. A rep with no activity in the target group cannot receive effort; the
moved cost is then reported as unplaced.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from analysis.domain.channels import effort_shares
from analysis.domain.coaching import PRIORITY_SEGMENTS, coaching_flags, resolve_norms

BY = ("segment", "channel")
REP = ["territory_id", "rep_id"]


def move_effort(facts: pd.DataFrame, by: str, source: Sequence[str], target: str, share: float) -> pd.DataFrame:
    """``facts`` with ``share`` of each rep's cost in ``source`` moved to ``target``.

    Adds column ``unplaced`` (cost moved away from a rep that has no ``target`` activity).
    """
    if by not in BY:
        raise ValueError(f"move effort by 'segment' or 'channel', not {by!r}")
    if not 0 <= share <= 1:
        raise ValueError(f"share to move must be between 0 and 1, got {share}")
    values = facts[by].astype(object)
    from_source = values.isin(list(source)) & (values != target)
    to_target = values == target
    cost = facts["cost"].astype(float)
    moved = (cost * share).where(from_source, 0.0).groupby([facts[k] for k in REP], observed=True).sum()
    receiving = cost.where(to_target, 0.0).groupby([facts[k] for k in REP], observed=True).sum()
    keys = pd.MultiIndex.from_frame(facts[REP].astype(object))
    scale = (1 + moved / receiving.where(receiving > 0)).reindex(keys).to_numpy()
    new_cost = cost.where(~from_source, cost * (1 - share))
    new_cost = new_cost.where(~to_target, cost * pd.Series(scale, index=facts.index).fillna(1.0))
    unplaced = moved.where(receiving.reindex(moved.index).fillna(0) <= 0, 0.0)
    return facts.assign(cost=new_cost, unplaced=unplaced.reindex(keys).fillna(0.0).to_numpy())


def effort_profile(facts: pd.DataFrame, norms: Mapping[str, float] | None = None,
                   priority: Sequence[str] = PRIORITY_SEGMENTS) -> pd.DataFrame:
    """Per rep: cost, effort_on_priority, mismatched_effort, over_service and the flags missed.

    The same shares (:func:`analysis.domain.channels.effort_shares`) and flag rules
    (:func:`analysis.domain.coaching.coaching_flags`) as the coaching table.
    """
    out = effort_shares(facts, REP, priority)[[*REP, "cost", "effort_on_priority", "mismatched_effort",
                                               "over_service"]]
    out["flags"] = coaching_flags(out, resolve_norms(norms))
    return out


def what_if(facts: pd.DataFrame, by: str, source: Sequence[str], target: str, share: float,
            norms: Mapping[str, float] | None = None, priority: Sequence[str] = PRIORITY_SEGMENTS) -> pd.DataFrame:
    """Before and after, per rep: the three effort shares, their change, flags and unplaced cost."""
    after_facts = move_effort(facts, by, source, target, share)
    before, after = effort_profile(facts, norms, priority), effort_profile(after_facts, norms, priority)
    out = before.merge(after, on=REP, suffixes=("_before", "_after"))
    for name in ("effort_on_priority", "mismatched_effort", "over_service"):
        out[f"{name}_change"] = out[f"{name}_after"] - out[f"{name}_before"]
    unplaced = after_facts.groupby(REP, observed=True)["unplaced"].max()
    out["unplaced_cost"] = unplaced.reindex(pd.MultiIndex.from_frame(out[REP])).to_numpy()
    return out
