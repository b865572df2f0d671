"""The analyst's explorer: ipywidgets over the same functions as the reports.

Pick region, territory, market and period; move the segmentation cut points and see
the scatter, the segment table and the VIP share update; tick the channel-phase fit
matrix and see mismatched effort per rep update; move call effort in the what-if panel;
save the settings as the territory's override in a run profile, so the next batch uses
them. All state lives on the :class:`Explorer` object; every callback is a method, so
tests drive the widgets from Python (set ``.value``, read the outputs).
"""
from __future__ import annotations

import html
from pathlib import Path

import ipywidgets as w
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from analysis.report import figures as figures

from analysis.contract import params as parameters
from analysis.domain.channels import DEFAULT_FIT, activity_facts, fit_matrix, mismatched_effort
from analysis.contract.schema import CHANNELS, PHASES
from analysis.contract import privacy
from analysis.contract.dataset import load_dataset
from analysis.domain.national import analysis_activities, national_pass
from analysis.domain.periods import make_window
from analysis.report.present import table
from analysis.lab.profile_file import save_override
from analysis.domain.segmentation import SegmentScheme, scheme_of
from analysis.lab.whatif import what_if
from analysis.errors import ParameterError


class Explorer:
    """Widgets and state for exploring one territory at a time."""

    def __init__(self, data_path: str | Path, profile_path: str | Path | None = None,
                 territory_id: str | None = None):
        self.profile_path = Path(profile_path) if profile_path else None
        self.profile = parameters.load_profile(self.profile_path) if self.profile_path and self.profile_path.is_file() else {}
        self.ds = privacy.apply_dataset(load_dataset(Path(data_path), extra_channels=self.profile.get("extra_channels", ())),
                                        self.profile)
        self.profile = parameters.check_against_data(self.profile, self.ds, source=str(self.profile_path or "parameters"))
        #: The profile as loaded: the baseline that tells a month the analyst picked from
        #: one the profile (or the data's latest month) gave (see :meth:`override`).
        self.loaded_profile = self.profile
        territories = self.ds.territories
        periods = sorted(self.ds.sales["period"].unique())
        self.latest_period = periods[-1]
        first = territory_id or territories["territory_id"].iloc[0]
        region = territories.loc[territories["territory_id"] == first, "region"].iloc[0]
        eff = parameters.effective(self.profile, first)
        seg = eff["segmentation"]

        self.region = w.Dropdown(options=sorted(territories["region"].unique()), value=region, description="Region")
        self.territory = w.Dropdown(options=self._territories_of(region), value=first, description="Territory")
        self.market = w.Dropdown(options=list(self.ds.markets["market"]), description="Market")
        self.period_end = w.Dropdown(options=periods, value=eff["period_end"] or periods[-1], description="Period end")
        self.cut = w.ToggleButtons(options=["median", "quantile", "absolute"], value=seg["cut"], description="Cut")
        self.q = w.FloatSlider(value=seg.get("q") or 0.5, min=0.05, max=0.95, step=0.05, description="Quantile")
        self.potential_cut = w.FloatText(value=seg.get("potential") or 10.0, description="Potential ≥")
        self.support_cut = w.FloatSlider(value=seg.get("support") or 0.3, min=0, max=1, step=0.05,
                                         description="Support ≥")
        self.fit = {(phase, channel): w.Checkbox(value=channel in DEFAULT_FIT[phase], indent=False,
                                                 layout=w.Layout(width="28px"))
                    for phase in PHASES for channel in CHANNELS}
        for (phase, channel), box in self.fit.items():
            box.value = channel in (eff["fit_matrix"].get(phase) or DEFAULT_FIT[phase])
        self.move_by = w.ToggleButtons(options=["segment", "channel"], value="segment", description="Move by")
        scheme = scheme_of(eff)
        labels, source, target = self._segment_moves(scheme)
        self.move_from = w.SelectMultiple(options=labels, value=source, description="From")
        self.move_to = w.Dropdown(options=labels, value=target, description="To")
        self.move_share = w.FloatSlider(value=0.2, min=0, max=1, step=0.05, description="Share moved")
        self.save_button = w.Button(description="Save as territory override", button_style="primary",
                                    icon="save")
        self.status = w.HTML()
        self.scatter = w.Output()
        self.segments = w.HTML()
        self.vip = w.HTML()
        self.mismatch = w.HTML()
        self.whatif = w.HTML()

        self.region.observe(self._on_region, "value")
        for control in (self.territory, self.period_end, self.cut, self.q, self.potential_cut, self.support_cut):
            control.observe(lambda change: self.refresh(), "value")
        self.market.observe(lambda change: self.show_segmentation(), "value")
        for box in self.fit.values():
            box.observe(lambda change: self.refresh_channels(), "value")
        self.move_by.observe(self._on_move_by, "value")
        for control in (self.move_from, self.move_to, self.move_share):
            control.observe(lambda change: self.show_whatif(), "value")
        self.save_button.on_click(lambda button: self.save())
        self.refresh()

    # --- state ---------------------------------------------------------------------------
    def _territories_of(self, region: str) -> list[str]:
        t = self.ds.territories
        return t.loc[t["region"] == region, "territory_id"].tolist()

    def segmentation(self) -> dict:
        """The segmentation parameters the widgets describe."""
        if self.cut.value == "quantile":
            return {"cut": "quantile", "q": round(float(self.q.value), 4)}
        if self.cut.value == "absolute":
            return {"cut": "absolute", "potential": float(self.potential_cut.value),
                    "support": round(float(self.support_cut.value), 4)}
        return {"cut": "median"}

    def fit_overrides(self) -> dict:
        """Phases whose ticked channels differ from the design's defaults."""
        out = {}
        for phase in PHASES:
            ticked = [c for c in CHANNELS if self.fit[(phase, c)].value]
            if set(ticked) != set(DEFAULT_FIT[phase]):
                out[phase] = ticked
        return out

    def loaded_period_end(self, territory_id: str) -> str:
        """The territory's effective ``period_end`` when the explorer loaded the profile
        (the latest month in sales when the profile sets none)."""
        return parameters.effective(self.loaded_profile, territory_id)["period_end"] or self.latest_period

    def override(self) -> dict:
        """The territory override the current settings amount to.

        ``period_end`` is part of it only when the analyst moved it away from the
        territory's effective month at load time, or when the territory's override already
        sets it: an untouched month is never written, so a saved territory keeps following
        the profile (or the latest month of the data).
        """
        tid = self.territory.value
        out: dict = {}
        already = "period_end" in ((self.profile.get("overrides") or {}).get(tid) or {})
        if already or self.period_end.value != self.loaded_period_end(tid):
            out["period_end"] = self.period_end.value
        out["segmentation"] = self.segmentation()
        fit = self.fit_overrides()
        if fit:
            out["fit_matrix"] = fit
        return out

    def refresh(self) -> None:
        """Recompute the territory's tables with the current settings, then every view."""
        tid = self.territory.value
        base = {k: v for k, v in self.profile.items() if k != "overrides"}
        profile = parameters.merge(base, {**self.override(), "territories": [tid]})
        profile["segmentation"] = {**parameters.DEFAULTS["segmentation"], **self.segmentation()}
        self.params = parameters.effective(profile, tid)
        self.tables = national_pass(self.ds.subset([tid]), profile)
        self.window = make_window(self.ds.sales["period"], self.period_end.value, self.params["period_months"])
        self.show_segmentation()
        self.refresh_channels()

    def refresh_channels(self) -> None:
        """Activity facts under the ticked fit matrix; mismatched effort and what-if follow."""
        fit = fit_matrix(self.fit_overrides() or None)
        acts = analysis_activities(self.ds.subset([self.territory.value]).activities, self.window)
        self.facts = activity_facts(acts, self.tables["customers"], fit)
        self.mismatch_table = mismatched_effort(self.facts).merge(
            self.ds.reps[["rep_id", "rep_name"]], on="rep_id", how="left")
        self.mismatch.value = table(self.mismatch_table[["rep_name", "cost", "mismatched_effort", "mismatched_flag"]],
                                    formats={"cost": "int", "mismatched_effort": "pct1"},
                                    labels={"mismatched_flag": f"above {self.params['norms']['mismatched_effort']:.0%}"}
                                    )._repr_html_()
        self.show_whatif()

    # --- views ---------------------------------------------------------------------------
    def show_segmentation(self) -> None:
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

    def _on_region(self, change) -> None:
        options = self._territories_of(change["new"])
        self.territory.options = options
        self.territory.value = options[0]

    @staticmethod
    def _segment_moves(scheme: SegmentScheme) -> tuple[list[str], tuple[str, ...], str]:
        """The scheme's segments, and the default move: from the non-priority segments to the
        last priority one (2x2: C, D -> B; 3x3: the lower rows -> high/low)."""
        labels = list(scheme.labels)
        return labels, tuple(s for s in labels if s not in scheme.priority), scheme.priority[-1]

    def _on_move_by(self, change) -> None:
        if change["new"] == "segment":
            groups, source, target = self._segment_moves(scheme_of(self.params))
        else:
            groups, source, target = list(CHANNELS), ("f2f_visit",), "web_interview"
        self.move_from.options, self.move_to.options = groups, groups
        self.move_from.value, self.move_to.value = source, target

    def show_whatif(self) -> None:
        if self.facts.empty:
            self.whatif_table = pd.DataFrame()
            self.whatif.value = "<i>No activities in the analysis period.</i>"
            return
        self.whatif_table = what_if(self.facts, self.move_by.value, list(self.move_from.value), self.move_to.value,
                                    float(self.move_share.value), self.params["norms"],
                                    priority=scheme_of(self.params).priority)
        shown = self.whatif_table.merge(self.ds.reps[["rep_id", "rep_name"]], on="rep_id", how="left")
        self.whatif.value = table(shown[["rep_name", "effort_on_priority_before", "effort_on_priority_after",
                                         "mismatched_effort_before", "mismatched_effort_after",
                                         "over_service_before", "over_service_after", "flags_before", "flags_after"]],
                                  formats={c: "pct1" for c in shown.columns if c.endswith(("_before", "_after"))
                                           and not c.startswith("flags")})._repr_html_()

    def save(self) -> dict:
        """Write the current settings as this territory's override into the run profile.

        The new profile is checked (types, ranges, and the names and months the data has)
        before the file is touched; a bad value leaves the file as it was, shows the
        reason in :attr:`status` and returns ``{}``. Returns the saved profile otherwise.
        """
        if self.profile_path is None:
            self.status.value = "<span style='color:#b42318'>No run profile given: nothing saved.</span>"
            return {}
        try:
            self.profile = save_override(self.profile_path, self.territory.value, self.override(), ds=self.ds)
        except ParameterError as exc:
            self.status.value = f"<span style='color:#b42318'>Not saved: {html.escape(str(exc))}</span>"
            return {}
        self.status.value = (f"Saved overrides.{self.territory.value} to {self.profile_path}: the next "
                             "<code>territory-reports run</code> uses it.")
        return self.profile

    def view(self) -> w.Widget:
        """The whole explorer as one widget."""
        header = w.HTML("<b>Fit matrix</b>: rows phases, columns channels; ticked = the channel fits the phase")
        grid = w.GridBox([w.HTML("")] + [w.HTML(f"<small>{c.replace('_', ' ')}</small>") for c in CHANNELS] +
                         [item for phase in PHASES for item in
                          [w.HTML(phase)] + [self.fit[(phase, c)] for c in CHANNELS]],
                         layout=w.Layout(grid_template_columns="110px " + " ".join(["64px"] * len(CHANNELS))))
        tabs = w.Tab(children=[
            w.VBox([w.HBox([self.cut, self.q]), w.HBox([self.potential_cut, self.support_cut]), self.vip,
                    self.scatter, self.segments]),
            w.VBox([header, grid, w.HTML("<b>Mismatched effort per rep</b>"), self.mismatch]),
            w.VBox([w.HBox([self.move_by, self.move_share]), w.HBox([self.move_from, self.move_to]), self.whatif]),
        ])
        for i, title in enumerate(("Segmentation", "Channel fit", "What-if")):
            tabs.set_title(i, title)
        controls = w.HBox([w.VBox([self.region, self.territory]), w.VBox([self.market, self.period_end])])
        return w.VBox([controls, tabs, w.HBox([self.save_button, self.status])])
