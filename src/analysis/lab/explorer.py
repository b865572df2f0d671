"""The analyst's explorer: ipywidgets over the same functions as the reports.

Pick region, territory, market and period; move the segmentation cut points and see
the scatter, the segment table and the VIP share update; tick the channel-phase fit
matrix and see mismatched effort per rep update; move call effort in the what-if panel;
save what you changed as the territory's override in a run profile, so the next batch
uses it.

The state is per territory. Selecting a territory loads that territory's effective
parameters (defaults <- profile <- its override) into every control; what the analyst
changes is kept as a diff against them (:meth:`Explorer.changes`), one draft per
territory, so switching territories never carries one territory's settings to another.
*Save* writes exactly the changed keys into the territory's override, in place (the rest
of the file, its order, style and comments stay), after validating the whole profile
against the data; a key moved back to the value the territory would get without its
override is removed from the override instead. Every outcome shows in :attr:`status`;
*Undo last save* puts the file back.

All state lives on the :class:`Explorer` object; every callback is a method, so tests
drive the widgets from Python (set ``.value``, read the outputs).
"""
from __future__ import annotations

import contextlib
import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ipywidgets as w
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from analysis.contract import params as parameters
from analysis.contract import privacy
from analysis.contract.dataset import load_dataset
from analysis.contract.schema import CHANNELS, DEFAULT_FIT, PHASES
from analysis.domain.channels import activity_facts, fit_matrix, mismatched_effort
from analysis.domain.national import analysis_activities, national_pass
from analysis.domain.periods import make_window
from analysis.domain.segmentation import SegmentScheme, scheme_of
from analysis.errors import ParameterError
from analysis.lab.profile_file import Key, Saved, dotted, restore, save_changes
from analysis.lab.whatif import what_if
from analysis.report import figures as figures
from analysis.report import text
from analysis.report.present import table

PERIOD: Key = ("period_end",)
GRID: Key = ("segmentation", "grid")
CUT: Key = ("segmentation", "cut")
Q: Key = ("segmentation", "q")
POTENTIAL: Key = ("segmentation", "potential")
SUPPORT: Key = ("segmentation", "support")

#: Controls keep their description in full (no "Share mo…").
WIDE = {"description_width": "initial"}

_ERROR = "color:#b42318"
_WARN = "color:#9a6700"


def _fit_key(phase: str) -> Key:
    return ("fit_matrix", phase)


def _same(key: Key, a: Any, b: Any) -> bool:
    """Two values of ``key`` mean the same (a fit list: the same channels in any order)."""
    if key[0] == "fit_matrix":
        return set(a or ()) == set(b or ())
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return abs(float(a) - float(b)) < 1e-9
    return a == b


def _lookup(mapping: Mapping | None, key: Key) -> tuple[bool, Any]:
    node: Any = mapping or {}
    for part in key:
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _assign(mapping: dict, key: Key, value: Any) -> None:
    node = mapping
    for part in key[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[key[-1]] = value


def _color(message: str, style: str | None = None) -> str:
    body = html.escape(message)
    return f"<span style='{style}'>{body}</span>" if style else body


class Explorer:
    """Widgets and per-territory state for exploring one territory at a time."""

    def __init__(self, data_path: str | Path, profile_path: str | Path | None = None,
                 territory_id: str | None = None):
        self.profile_path = Path(profile_path) if profile_path else None
        self.profile = self._read_profile(checked_against=None)
        self.ds = privacy.apply_dataset(load_dataset(Path(data_path), extra_channels=self.profile.get("extra_channels", ())),
                                        self.profile).with_summaries()  # once: each territory's slice carries its part
        self.profile = parameters.check_against_data(self.profile, self.ds, source=str(self.profile_path or "parameters"))
        self.channels = tuple(dict.fromkeys((*CHANNELS, *self.profile.get("extra_channels", ()))))
        self.keys: tuple[Key, ...] = (PERIOD, GRID, CUT, Q, POTENTIAL, SUPPORT, *(_fit_key(p) for p in PHASES))
        territories = self.ds.territories
        periods = self.ds.sales_periods
        self.latest_period = periods[-1]
        first = str(territory_id or territories["territory_id"].iloc[0])
        region = territories.loc[territories["territory_id"] == first, "region"].iloc[0]
        #: Unsaved changes per territory: territory id -> {key: value}.
        self.drafts: dict[str, dict[Key, Any]] = {}
        self.last_save: tuple[Saved, dict[Key, Any]] | None = None
        self.refresh_count = 0
        self.tables: dict | None = None
        self._loading = False

        def wide(**kwargs):
            return dict(style=WIDE, **kwargs)

        self.region = w.Dropdown(options=sorted(territories["region"].unique()), value=region,
                                 **wide(description="Region"))
        self.territory = w.Dropdown(options=self._territories_of(region), value=first, **wide(description="Territory"))
        self.market = w.Dropdown(options=list(self.ds.markets["market"]), **wide(description="Market"))
        self.period_end = w.Dropdown(options=periods, value=self.latest_period, **wide(description="Period end"))
        self.grid = w.ToggleButtons(options=["2x2", "3x3"], value="2x2", **wide(description="Grid"),
                                    tooltips=["A-D", "high/medium/low x high/medium/low (median or quantile cuts)"])
        self.cut = w.ToggleButtons(options=["median", "quantile", "absolute"], value="median",
                                   **wide(description="Cut"))
        self.q = w.FloatSlider(value=0.5, min=0.05, max=0.95, step=0.05, continuous_update=False,
                               **wide(description="Quantile"))
        self.potential_cut = w.FloatText(value=10.0, **wide(description="Potential ≥"))
        self.support_cut = w.FloatSlider(value=0.3, min=0, max=1, step=0.05, continuous_update=False,
                                         **wide(description="Support ≥"))
        self.fit = {(phase, channel): w.Checkbox(value=channel in DEFAULT_FIT[phase], indent=False,
                                                 description="", layout=w.Layout(width="28px"))
                    for phase in PHASES for channel in self.channels}
        self.move_by = w.ToggleButtons(options=["segment", "channel"], value="segment", **wide(description="Move by"))
        self.move_from = w.SelectMultiple(options=["A", "B", "C", "D"], value=("C", "D"), rows=4,
                                          **wide(description="From"))
        self.move_to = w.Dropdown(options=["A", "B", "C", "D"], value="B", **wide(description="To"))
        self.move_share = w.FloatSlider(value=0.2, min=0, max=1, step=0.05, continuous_update=False,
                                        **wide(description="Share moved"))
        self.save_button = w.Button(description="Save as territory override", button_style="primary", icon="save",
                                    layout=w.Layout(width="auto", min_width="max-content", flex="0 0 auto"),
                                    tooltip="write the changed keys into overrides.<territory> of the run profile")
        self.undo_button = w.Button(description="Undo last save", icon="undo", disabled=True,
                                    layout=w.Layout(width="auto", min_width="max-content", flex="0 0 auto"))
        self.status = w.HTML(layout=w.Layout(flex="1 1 auto"))
        self.pending = w.HTML()
        self.notice = w.HTML()
        self.scatter = w.Output()
        self.segments = w.HTML()
        self.vip = w.HTML()
        self.mismatch = w.HTML()
        self.whatif = w.HTML()
        self.unplaced = w.HTML()

        self.region.observe(self._on_region, "value")
        self.territory.observe(self._on_territory, "value")
        controls = {PERIOD: self.period_end, GRID: self.grid, CUT: self.cut, Q: self.q,
                    POTENTIAL: self.potential_cut, SUPPORT: self.support_cut}
        for key, control in controls.items():
            control.observe(lambda change, key=key: self._on_param(key), "value")
        self.market.observe(lambda change: self.show_segmentation(), "value")
        for box in self.fit.values():
            box.observe(lambda change: self._on_fit(), "value")
        self.move_by.observe(self._on_move_by, "value")
        for control in (self.move_from, self.move_to, self.move_share):
            control.observe(lambda change: None if self._loading else self.show_whatif(), "value")
        self.save_button.on_click(lambda button: self._guarded(self.save))
        self.undo_button.on_click(lambda button: self._guarded(self.undo))
        self.load_territory(first)

    # --- the profile ---------------------------------------------------------------------
    def _read_profile(self, checked_against) -> dict:
        if not (self.profile_path and self.profile_path.is_file()):
            return {}
        profile = parameters.load_profile(self.profile_path)
        if checked_against is not None:
            profile = parameters.check_against_data(profile, checked_against, source=str(self.profile_path))
        return profile

    def _values_of(self, eff: Mapping) -> dict[Key, Any]:
        """Every key the explorer shows, as effective parameters ``eff`` set it."""
        seg = eff["segmentation"]
        fits = eff.get("fit_matrix") or {}
        out: dict[Key, Any] = {PERIOD: eff.get("period_end") or self.latest_period, GRID: seg["grid"],
                               CUT: seg["cut"], Q: seg["q"], POTENTIAL: seg["potential"], SUPPORT: seg["support"]}
        for phase in PHASES:
            out[_fit_key(phase)] = list(fits[phase]) if phase in fits else list(DEFAULT_FIT[phase])
        return out

    def _rebase(self) -> None:
        """The current territory's loaded values (``base``) and what it would get without its
        override (``inherited``), from :attr:`profile`."""
        tid = self.territory.value
        self.base = self._values_of(parameters.effective(self.profile, tid))
        self.inherited = self._values_of(parameters.effective(self.profile))
        self.own = (self.profile.get("overrides") or {}).get(tid) or {}

    # --- state ---------------------------------------------------------------------------
    def _territories_of(self, region: str) -> list[str]:
        t = self.ds.territories
        return [str(x) for x in t.loc[t["region"] == region, "territory_id"]]

    @contextlib.contextmanager
    def _quiet(self):
        """Set controls without each one triggering a refresh."""
        was, self._loading = self._loading, True
        try:
            yield
        finally:
            self._loading = was

    def values(self) -> dict[Key, Any]:
        """Every key the explorer shows, as the controls set it now."""
        out: dict[Key, Any] = {PERIOD: self.period_end.value, GRID: self.grid.value, CUT: self.cut.value,
                               Q: round(float(self.q.value), 4), POTENTIAL: float(self.potential_cut.value),
                               SUPPORT: round(float(self.support_cut.value), 4)}
        base = getattr(self, "base", {})
        for phase in PHASES:
            ticked = [c for c in self.channels if self.fit[(phase, c)].value]
            before = [c for c in base.get(_fit_key(phase), DEFAULT_FIT[phase]) if c in ticked]
            out[_fit_key(phase)] = before + [c for c in ticked if c not in before]
        return out

    @staticmethod
    def applies(key: Key, values: Mapping[Key, Any]) -> bool:
        """Whether ``key`` means anything with the other ``values`` (the quantile only with the
        quantile cut, the absolute cut points only with the absolute cut)."""
        if key == Q:
            return values[CUT] == "quantile"
        if key in (POTENTIAL, SUPPORT):
            return values[CUT] == "absolute"
        return True

    def changes(self) -> dict[Key, Any]:
        """What the analyst changed for this territory: key -> new value (keys that apply)."""
        now = self.values()
        return {key: now[key] for key in self.keys
                if self.applies(key, now) and not _same(key, now[key], self.base[key])}

    def plan(self) -> tuple[dict[Key, Any], list[Key]]:
        """What a save does: the keys to write into the override, and the keys to remove from
        it (a value moved back to what the territory gets without its override)."""
        written, cleared = {}, []
        for key, value in self.changes().items():
            has, _ = _lookup(self.own, key)
            if has and _same(key, value, self.inherited[key]):
                cleared.append(key)
            else:
                written[key] = value
        return written, cleared

    def override(self) -> dict:
        """The changes as a nested mapping, as they would read in the override."""
        out: dict = {}
        for key, value in self.changes().items():
            _assign(out, key, value)
        return out

    def segmentation(self) -> dict:
        """The segmentation parameters the widgets describe (the keys that apply)."""
        now = self.values()
        return {key[1]: now[key] for key in (GRID, CUT, Q, POTENTIAL, SUPPORT) if self.applies(key, now)}

    def fit_overrides(self) -> dict:
        """Phases whose ticked channels differ from the design's defaults."""
        now = self.values()
        return {phase: now[_fit_key(phase)] for phase in PHASES
                if set(now[_fit_key(phase)]) != set(DEFAULT_FIT[phase])}

    # --- loading a territory ---------------------------------------------------------------
    def load_territory(self, territory_id: str) -> None:
        """Show ``territory_id``: its effective parameters, with its unsaved draft on top."""
        with self._quiet():
            if self.territory.value != territory_id:
                self.territory.value = territory_id
            self._rebase()
            shown = {**self.base, **self.drafts.get(territory_id, {})}
            self._show_values(shown)
        self.status.value = ""
        self.refresh()

    def _show_values(self, values: Mapping[Key, Any]) -> None:
        self.period_end.value = values[PERIOD]
        self.grid.value = values[GRID]
        self._cut_options(values[GRID])
        self.cut.value = values[CUT]
        self.q.value = values[Q] if values[Q] is not None else 0.5
        if values[POTENTIAL] is not None:
            self.potential_cut.value = float(values[POTENTIAL])
        if values[SUPPORT] is not None:
            self.support_cut.value = float(values[SUPPORT])
        for phase in PHASES:
            chosen = set(values[_fit_key(phase)])
            for channel in self.channels:
                self.fit[(phase, channel)].value = channel in chosen
        self._applicable()

    def _cut_options(self, grid: str) -> None:
        options = ["median", "quantile"] if grid == "3x3" else ["median", "quantile", "absolute"]
        if list(self.cut.options) != options:
            current = self.cut.value
            self.cut.options = options
            self.cut.value = current if current in options else "median"

    def _applicable(self) -> None:
        """Hide the controls the chosen cut does not use; the 3x3 grid takes no absolute cut."""
        now = {CUT: self.cut.value}
        for key, control in ((Q, self.q), (POTENTIAL, self.potential_cut), (SUPPORT, self.support_cut)):
            on = self.applies(key, now)
            control.disabled = not on
            control.layout.display = None if on else "none"
        self.grid.disabled = self.cut.value == "absolute"
        self.grid.tooltip = "the 3x3 grid takes median or quantile cuts" if self.grid.disabled else ""

    def _on_region(self, change) -> None:
        options = self._territories_of(change["new"])
        with self._quiet():
            self.territory.options = options
            self.territory.value = options[0]
        self.load_territory(options[0])

    def _on_territory(self, change) -> None:
        if not self._loading and change["new"] is not None:
            self.load_territory(change["new"])

    def _remember(self) -> None:
        tid = self.territory.value
        changes = self.changes()
        if changes:
            self.drafts[tid] = changes
        else:
            self.drafts.pop(tid, None)
        self._show_pending()

    def _on_param(self, key: Key) -> None:
        if self._loading:
            return
        if key in (CUT, GRID):
            with self._quiet():
                if key == GRID:
                    self._cut_options(self.grid.value)
                if self.cut.value == "absolute" and self.base[POTENTIAL] is None and key == CUT:
                    self._suggest_absolute()
                self._applicable()
        elif not self.applies(key, self.values()):
            return  # a control of the other cut: nothing to recompute
        self._remember()
        self.refresh()

    def _suggest_absolute(self) -> None:
        """Start the absolute cut at the current territory's median cut points."""
        if self.tables is None:
            return
        customers = self.tables["customers"]
        rows = customers[(customers["market"] == self.market.value) & customers["segment"].notna()]
        if len(rows):
            self.potential_cut.value = round(float(rows["potential_cut"].iloc[0]), 1)
            self.support_cut.value = min(1.0, max(0.0, round(float(rows["support_cut"].iloc[0]) * 20) / 20))

    def _on_fit(self) -> None:
        if self._loading:
            return
        self._remember()
        self.refresh_channels()

    def _show_pending(self) -> None:
        tid = self.territory.value
        changes = {dotted(k): v for k, v in self.changes().items()}
        self.pending.value = _color(text.explorer_unsaved(tid, changes), _WARN if changes else None)
        self.save_button.disabled = self.profile_path is None or not changes

    # --- computing -------------------------------------------------------------------------
    def current_params(self) -> dict:
        """The territory's effective parameters with the analyst's changes."""
        params = parameters.effective(self.profile, self.territory.value)
        for key, value in self.changes().items():
            _assign(params, key, value)
        params["period_end"] = self.period_end.value
        return params

    def refresh(self) -> None:
        """Recompute the territory's tables with the current settings, then every view."""
        self.refresh_count += 1
        tid = self.territory.value
        profile = {**self.current_params(), "territories": [tid]}
        self.params = parameters.effective(profile, tid)
        self.window = make_window(self.ds.sales["period"], self.period_end.value, self.params["period_months"])
        self._update_moves()
        self._show_pending()
        try:
            self.tables = national_pass(self.ds.subset([tid]), profile)
        except Exception as exc:  # noqa: BLE001 - shown to the analyst, never a silent traceback
            self._unavailable(f"{type(exc).__name__}: {exc}")
            return
        self.show_segmentation()
        self.refresh_channels()

    def _unavailable(self, reason: str) -> None:
        """The views when the tables cannot be computed for these settings: say why."""
        acts = self.ds.subset([self.territory.value]).activities
        self._notice(acts, analysis_activities(acts, self.window))
        message = f"The tables cannot be computed with these settings ({reason})."
        self.notice.value = " ".join(v for v in (self.notice.value, "⚠ " + _color(message, _ERROR)) if v)
        self.tables = None
        self.facts = pd.DataFrame()
        self.whatif_table = self.mismatch_table = self.segment_table = pd.DataFrame()
        for view in (self.vip, self.segments, self.mismatch, self.whatif, self.unplaced):
            view.value = ""
        self.scatter.clear_output()

    def refresh_channels(self) -> None:
        """Activity facts under the ticked fit matrix; mismatched effort and what-if follow."""
        if self.tables is None:
            return
        now = self.values()
        fit = fit_matrix({phase: now[_fit_key(phase)] for phase in PHASES}, channels=self.channels)
        territory_acts = self.ds.subset([self.territory.value]).activities
        acts = analysis_activities(territory_acts, self.window)
        self._notice(territory_acts, acts)
        self.facts = activity_facts(acts, self.tables["customers"], fit)
        self.mismatch_table = mismatched_effort(self.facts).merge(
            self.ds.reps[["rep_id", "rep_name"]], on="rep_id", how="left")
        self.mismatch.value = table(self.mismatch_table[["rep_name", "cost", "mismatched_effort", "mismatched_flag"]],
                                    formats={"cost": "int", "mismatched_effort": "pct1"},
                                    labels={"mismatched_flag": f"above {self.params['norms']['mismatched_effort']:.0%}"}
                                    )._repr_html_()
        self.show_whatif()

    def _notice(self, territory_acts: pd.DataFrame, acts: pd.DataFrame) -> None:
        if len(acts):
            self.notice.value = ""
            return
        dates = pd.to_datetime(territory_acts["date"]) if len(territory_acts) else pd.Series(dtype="datetime64[ns]")
        first = dates.min().strftime("%Y-%m-%d") if len(dates) else None
        last = dates.max().strftime("%Y-%m-%d") if len(dates) else None
        start = self.window.start_date("analysis")
        message = text.explorer_no_activities(pd.Timestamp(start).strftime("%Y-%m"), self.period_end.value,
                                              first, last)
        self.notice.value = "⚠ " + _color(message, _WARN)

    # --- views ---------------------------------------------------------------------------
    def show_segmentation(self) -> None:
        if self.tables is None:
            return
        customers = self.tables["customers"]
        rows = customers[customers["market"] == self.market.value]
        seg = rows[rows["segment"].notna()]
        self.vip_share = float(seg["vip"].mean()) if len(seg) else float("nan")
        self.vip.value = (f"<b>VIPs</b>: {int(seg['vip'].sum())} of {len(seg)} customers "
                          f"({self.vip_share:.0%}) reach {self.params['vip_share']:.0%} of the potential")
        summary = self.tables["segments"]
        summary = summary[summary["market"] == self.market.value]
        self.segment_table = summary
        self.segments.value = table(summary[["segment", "customers", "potential", "support"]],
                                    formats={"customers": "int", "potential": "int", "support": "pct1"})._repr_html_()
        self.figure = figures.segment_scatter(rows, scheme_of(self.params))
        with self.scatter:
            self.scatter.clear_output(wait=True)
            display(self.figure)
        plt.close(self.figure)

    @staticmethod
    def _segment_moves(scheme: SegmentScheme) -> tuple[list[str], tuple[str, ...], str]:
        """The scheme's segments, and the default move: from the non-priority segments to the
        last priority one (2x2: C, D -> B; 3x3: the lower rows -> high/low)."""
        labels = list(scheme.labels)
        return labels, tuple(s for s in labels if s not in scheme.priority), scheme.priority[-1]

    def _update_moves(self, force: bool = False) -> None:
        """The what-if groups of the current scheme (or the channels): every one listed."""
        if self.move_by.value == "segment":
            groups, source, target = self._segment_moves(scheme_of(self.params))
        else:
            groups, source, target = list(self.channels), ("f2f_visit",), "web_interview"
        if not force and list(self.move_from.options) == groups:
            return
        with self._quiet():
            self.move_from.options, self.move_to.options = groups, groups
            self.move_from.rows = len(groups)
            self.move_from.value, self.move_to.value = source, target

    def _on_move_by(self, change) -> None:
        self._update_moves(force=True)
        self.show_whatif()

    def show_whatif(self) -> None:
        if self.tables is None:
            return
        if self.facts.empty:
            self.whatif_table = pd.DataFrame()
            self.unplaced.value = ""
            self.whatif.value = "<i>No activities in the analysis period.</i>"
            return
        self.whatif_table = what_if(self.facts, self.move_by.value, list(self.move_from.value), self.move_to.value,
                                    float(self.move_share.value), self.params["norms"],
                                    priority=scheme_of(self.params).priority)
        shown = self.whatif_table.merge(self.ds.reps[["rep_id", "rep_name"]], on="rep_id", how="left")
        lost = shown[shown["unplaced_cost"] > 0]
        self.unplaced.value = ("⚠ " + _color(text.unplaced_effort(dict(zip(lost["rep_name"].astype(str),
                                                                          lost["unplaced_cost"])),
                                                                 self.move_to.value), _WARN)
                               if len(lost) else "")
        self.whatif.value = table(shown[["rep_name", "effort_on_priority_before", "effort_on_priority_after",
                                         "mismatched_effort_before", "mismatched_effort_after",
                                         "over_service_before", "over_service_after", "flags_before", "flags_after",
                                         "unplaced_cost"]],
                                  formats={**{c: "pct1" for c in shown.columns if c.endswith(("_before", "_after"))
                                              and not c.startswith("flags")}, "unplaced_cost": "int"},
                                  labels={"unplaced_cost": "not placed (cost)"})._repr_html_()

    # --- saving ----------------------------------------------------------------------------
    def _guarded(self, action) -> None:
        """A button's action: whatever goes wrong shows in the status line."""
        try:
            action()
        except Exception as exc:  # noqa: BLE001 - a click must never fail silently
            self.status.value = _color(text.explorer_not_saved(f"{type(exc).__name__}: {exc}"), _ERROR)

    def save(self) -> dict:
        """Write this territory's changes into its override in the run profile.

        Only the changed keys are written (or removed, see :meth:`plan`); the new profile is
        checked (types, ranges, and the names and months the data has) before the file is
        touched. A problem leaves the file as it was, shows the reason in :attr:`status` and
        returns ``{}``. Returns the saved profile otherwise (the current one when nothing
        changed).
        """
        tid = self.territory.value
        if self.profile_path is None:
            self.status.value = _color(text.explorer_not_saved("no run profile given"), _ERROR)
            return {}
        changes = self.changes()
        written, cleared = self.plan()
        if not written and not cleared:
            self.status.value = _color(text.explorer_nothing_to_save(tid))
            return self.profile
        try:
            saved = save_changes(self.profile_path, tid, written, cleared, ds=self.ds)
        except (ParameterError, OSError, ValueError) as exc:
            self.status.value = _color(text.explorer_not_saved(str(exc)), _ERROR)
            return {}
        self.profile = saved.profile
        self.last_save = (saved, changes)
        self.drafts.pop(tid, None)
        self._rebase()
        self.undo_button.disabled = False
        self.status.value = _color(text.explorer_saved(self.profile_path, tid,
                                                       {dotted(k): v for k, v in saved.written.items()},
                                                       [dotted(k) for k in saved.cleared]))
        self._show_pending()
        return saved.profile

    def undo(self) -> bool:
        """Put the run profile back as it was before the last save; its changes become
        unsaved again. Refused (with the reason in :attr:`status`) when the file changed since."""
        if self.last_save is None:
            self.status.value = _color("Nothing to undo.")
            return False
        saved, changes = self.last_save
        try:
            restore(saved)
            self.profile = self._read_profile(checked_against=self.ds)
        except (ParameterError, OSError) as exc:
            self.status.value = _color(f"Not undone: {exc}", _ERROR)
            return False
        self.last_save = None
        self.undo_button.disabled = True
        self._rebase()
        if saved.territory_id == self.territory.value:
            self._remember()
        else:
            self.drafts[saved.territory_id] = {**changes, **self.drafts.get(saved.territory_id, {})}
        self.status.value = _color(text.explorer_undone(saved.path, saved.territory_id))
        self._show_pending()
        return True

    def view(self) -> w.Widget:
        """The whole explorer as one widget."""
        header = w.HTML("<b>Fit matrix</b>: rows phases, columns channels; ticked = the channel fits the phase")
        grid = w.GridBox([w.HTML("")] + [w.HTML(f"<small>{c.replace('_', ' ')}</small>") for c in self.channels] +
                         [item for phase in PHASES for item in
                          [w.HTML(phase)] + [self.fit[(phase, c)] for c in self.channels]],
                         layout=w.Layout(grid_template_columns="110px " + " ".join(["64px"] * len(self.channels))))
        tabs = w.Tab(children=[
            w.VBox([self.grid, w.HBox([self.cut, self.q]), w.HBox([self.potential_cut, self.support_cut]), self.vip,
                    self.scatter, self.segments]),
            w.VBox([header, grid, w.HTML("<b>Mismatched effort per rep</b>"), self.mismatch]),
            w.VBox([w.HBox([self.move_by, self.move_share]), w.HBox([self.move_from, self.move_to]), self.unplaced,
                    self.whatif]),
        ])
        for i, title in enumerate(("Segmentation", "Channel fit", "What-if")):
            tabs.set_title(i, title)
        controls = w.HBox([w.VBox([self.region, self.territory]), w.VBox([self.market, self.period_end])])
        return w.VBox([controls, self.notice, tabs, self.pending,
                       w.HBox([self.save_button, self.undo_button, self.status])])
