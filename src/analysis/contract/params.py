"""Run profiles (DESIGN 5): package defaults, overlaid by the profile, overlaid by the
territory's overrides.

One typed parameter model serves every entry point (``territory-reports validate`` and
``run``, the notebooks, the explorer): :data:`DEFAULTS` holds every parameter's default,
:data:`SPEC` next to it says what each one may hold (type, range, choices) and what it
means. :func:`check` validates a profile against the spec at every level, the
territory overrides included; :func:`check_against_data` also checks the names a profile
uses (territories, markets, months) against a dataset. A bad value is a
:class:`~analysis.errors.ParameterError` naming the key, the value and what is allowed;
unknown keys are an error too, so a typo never passes silently.
"""
from __future__ import annotations

import copy
import datetime as dt
import difflib
import math
import numbers
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import yaml

from analysis.contract import schema
from analysis.errors import ParameterError

if TYPE_CHECKING:  # pragma: no cover
    from analysis.contract.dataset import Dataset

#: Every parameter with its default, in one place.
DEFAULTS: dict[str, Any] = {
    "territories": "all",          # or a list of territory ids
    "markets": "all",              # or a list of markets
    "period_end": None,            # YYYY-MM; default: the latest month in sales
    "period_months": 3,
    "potential": {"default": "market_sum", "by_market": {}, "by_customer_type": {}},
    "segmentation": {"cut": "median", "q": 0.5, "potential": None, "support": None, "grid": "2x2"},
    "vip_share": 0.8,
    "vip_by": "potential",         # potential | own_units
    "profile_fields": {"basic": ["phone", "email"], "education": ["university"], "surrounding": ["hometown"]},
    "phases": {"loyal": 0.5, "adopter": 0.2, "interested_positive": 2, "aware_responses": 1},
    "competitor_dominant": 0.6,
    "fit_matrix": {},              # phase -> channels; empty: the design's defaults
    "extra_channels": [],          # channels beyond the design's ten
    "min_rate_base": 5,            # rates over fewer customers show as "too few"
    "norms": {
        "coverage_min": 80, "coverage_max": 120, "profile_completeness": 0.6,
        "profile_qualified_share": 0.8, "effort_on_priority": 0.6,
        "mismatched_effort": 0.25, "over_service": 0.3,
    },
    "cadence": {"vip": 30, "supplier": 90, "distributor": 60, "peripheral": 180},
    "call_plan": {                 # contacts per month each segment's customers get in the call plan
        "contacts_per_month": {
            "A": 2, "B": 3, "C": 1, "D": 0,                   # 2x2 (D: digital only, not called)
            "high/high": 2, "high/medium": 3, "high/low": 3,  # 3x3
            "medium/high": 1, "medium/medium": 1, "medium/low": 1,
            "low/high": 0.5, "low/medium": 0.5, "low/low": 0,
        },
    },
    "privacy": "none",             # none | pseudonymise
    "overrides": {},               # territory id -> any of the keys above
}

#: Keys that apply to the whole run and cannot be overridden per territory.
RUN_LEVEL = ("overrides", "territories", "privacy", "extra_channels")

#: Keys that were renamed: old name -> new name (an old name is an error that says so).
RENAMED = {"next_best_min_customers": "min_rate_base"}

POTENTIAL_METHODS = schema.POTENTIAL_METHODS

#: Longest ``period_months``: the analysis, comparison and "before" windows must fit the data.
MAX_PERIOD_MONTHS = 36

_PERIOD = re.compile(schema.PERIOD_PATTERN)


# --- the parameter kinds ------------------------------------------------------------------

@dataclass
class _Context:
    """What a check needs besides the value: the problems found so far, the known channels."""

    problems: list[str] = field(default_factory=list)
    channels: tuple[str, ...] = schema.CHANNELS

    def bad(self, where: str, value: Any, allowed: str, note: str = "") -> None:
        self.problems.append(f"parameter {where!r} is {_show(value)}; expected {allowed}{note}")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))


def _bool_note(value: Any) -> str:
    return " (true/false is not a number)" if _is_bool(value) else ""


def _is_name(value: Any) -> bool:
    """Text, or a whole number YAML read from an unquoted id (``101``)."""
    return isinstance(value, str) and value.strip() != "" or (isinstance(value, numbers.Integral)
                                                               and not _is_bool(value))


@dataclass(frozen=True)
class Param:
    """One parameter: what it means (``description``) and what it may hold."""

    description: str

    def allowed(self) -> str:
        """What the parameter accepts, in words (used in error messages)."""
        raise NotImplementedError

    def check(self, value: Any, where: str, ctx: _Context) -> Any:
        """The value, normalized (e.g. a date as ``YYYY-MM``); problems go to ``ctx``."""
        raise NotImplementedError


@dataclass(frozen=True)
class Integer(Param):
    """A whole number in ``[minimum, maximum]`` (a float such as ``3.0`` counts as 3)."""

    minimum: int | None = None
    maximum: int | None = None

    def allowed(self) -> str:
        if self.minimum is not None and self.maximum is not None:
            return f"a whole number from {self.minimum} to {self.maximum}"
        if self.minimum is not None:
            return f"a whole number >= {self.minimum}"
        return "a whole number" + (f" <= {self.maximum}" if self.maximum is not None else "")

    def check(self, value: Any, where: str, ctx: _Context) -> Any:
        if _is_bool(value) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)) \
                or not float(value).is_integer():
            ctx.bad(where, value, self.allowed(), _bool_note(value))
            return value
        number = int(value)
        if (self.minimum is not None and number < self.minimum) or (self.maximum is not None and number > self.maximum):
            ctx.bad(where, value, self.allowed())
        return number


@dataclass(frozen=True)
class Number(Param):
    """A number in a range; ``nullable``: nothing (``None``) is allowed too."""

    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    nullable: bool = False

    def allowed(self) -> str:
        lo, hi = self.minimum, self.maximum
        if lo is not None and hi is not None:
            if self.exclusive_minimum and self.exclusive_maximum:
                text = f"a number strictly between {lo:g} and {hi:g}"
            elif self.exclusive_minimum:
                text = f"a number greater than {lo:g} and at most {hi:g}"
            elif self.exclusive_maximum:
                text = f"a number from {lo:g} up to (not including) {hi:g}"
            else:
                text = f"a number from {lo:g} to {hi:g}"
        elif lo is not None:
            text = f"a number {'>' if self.exclusive_minimum else '>='} {lo:g}"
        elif hi is not None:
            text = f"a number {'<' if self.exclusive_maximum else '<='} {hi:g}"
        else:
            text = "a number"
        return text + (" (or nothing)" if self.nullable else "")

    def check(self, value: Any, where: str, ctx: _Context) -> Any:
        if value is None and self.nullable:
            return None
        if _is_bool(value) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
            ctx.bad(where, value, self.allowed(), _bool_note(value))
            return value
        x = float(value)
        lo, hi = self.minimum, self.maximum
        if (lo is not None and (x <= lo if self.exclusive_minimum else x < lo)) or \
                (hi is not None and (x >= hi if self.exclusive_maximum else x > hi)):
            ctx.bad(where, value, self.allowed())
        return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True)
class Choice(Param):
    """One of a few fixed words."""

    choices: tuple[str, ...] = ()

    def allowed(self) -> str:
        return "one of " + ", ".join(self.choices)

    def check(self, value: Any, where: str, ctx: _Context) -> Any:
        if not isinstance(value, str) or value not in self.choices:
            ctx.bad(where, value, self.allowed())
        return value


@dataclass(frozen=True)
class Month(Param):
    """A calendar month ``YYYY-MM``, or nothing; a date (YAML reads ``2026-06-01`` as one)
    stands for its month."""

    def allowed(self) -> str:
        return "a month written YYYY-MM, e.g. 2026-06 (or nothing: the latest month in sales)"

    def check(self, value: Any, where: str, ctx: _Context) -> Any:
        if value is None:
            return None
        if isinstance(value, dt.date):  # datetime.datetime and pandas.Timestamp too
            return value.strftime("%Y-%m")
        if not isinstance(value, str) or not _PERIOD.match(value):
            ctx.bad(where, value, self.allowed())
        return value


@dataclass(frozen=True)
class Selection(Param):
    """``all``, or a non-empty list of names (territory ids, markets)."""

    noun: str = "names"
    example: str = ""

    def allowed(self) -> str:
        return f"'all' or a list of {self.noun}, e.g. [{self.example}]"

    def check(self, value: Any, where: str, ctx: _Context) -> Any:
        if value == "all":
            return value
        if not isinstance(value, (list, tuple)) or not value or not all(_is_name(v) for v in value):
            ctx.bad(where, value, self.allowed())
            return value
        return [str(v) for v in value]


@dataclass(frozen=True)
class Names(Param):
    """A list of names; ``single``: one name alone or nothing stand for a list too."""

    noun: str = "names"
    single: bool = False
    known: str | None = None  # "channels": each name must be a known channel

    def allowed(self) -> str:
        text = f"a list of {self.noun}"
        return text + (" (or one, or nothing)" if self.single else "")

    def check(self, value: Any, where: str, ctx: _Context) -> Any:
        if self.single and value is None:
            return []
        if self.single and isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in value):
            ctx.bad(where, value, self.allowed())
            return value
        if self.known == "channels":
            for name in value:
                if name not in ctx.channels:
                    ctx.bad(where, name, "a known channel: " + ", ".join(ctx.channels)
                            + " (declare others in extra_channels)")
        return list(value)


@dataclass(frozen=True)
class Group(Param):
    """A mapping with fixed keys, each with its own parameter (``segmentation``, ``norms``).

    ``run_level`` keys are known but not allowed here (the whole-run keys inside a
    territory's override).
    """

    fields: Mapping[str, Param] = field(default_factory=dict)
    run_level: tuple[str, ...] = ()

    def allowed(self) -> str:
        return "a mapping with keys " + ", ".join(self.fields)

    def check(self, value: Any, where: str, ctx: _Context) -> Any:
        if not isinstance(value, Mapping):
            ctx.bad(where, value, self.allowed())
            return value
        out = {}
        for key, item in value.items():
            inner = f"{where}.{key}" if where else str(key)
            if key in self.run_level:
                ctx.problems.append(f"parameter {inner!r}: '{key}' is set for the whole run, not per territory")
            elif key not in self.fields and RENAMED.get(key) in self.fields:
                ctx.problems.append(f"unknown parameter {inner!r}: it is now called {RENAMED[key]!r}")
            elif key not in self.fields:
                names = [str(k) for k in self.fields]
                close = difflib.get_close_matches(str(key), names, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(names)}"
                ctx.problems.append(f"unknown parameter {inner!r}{hint}")
            else:
                out[key] = self.fields[key].check(item, inner, ctx)
        return out


@dataclass(frozen=True)
class FreeMap(Param):
    """A mapping whose keys are data (markets, phases, territory ids), each value checked
    by ``value``; ``keys`` restricts the keys to fixed choices. Nothing means empty."""

    value: Param = field(default_factory=lambda: Names(""))
    key_noun: str = "name"
    keys: tuple[str, ...] | None = None

    def allowed(self) -> str:
        return f"a mapping of {self.key_noun} -> {self.value.allowed()}"

    def check(self, value: Any, where: str, ctx: _Context) -> Any:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            ctx.bad(where, value, self.allowed())
            return value
        out = {}
        for key, item in value.items():
            if self.keys is not None and key not in self.keys:
                ctx.problems.append(f"parameter {where!r} names {self.key_noun} {_show(key)}; "
                                    f"expected one of {', '.join(self.keys)}")
            elif self.keys is None and not _is_name(key):
                ctx.problems.append(f"parameter {where!r} has the key {_show(key)}; expected a {self.key_noun}")
            out[str(key)] = self.value.check(item, f"{where}.{key}", ctx)
        return out


def fit_phases() -> tuple[str, ...]:
    """The phases a fit matrix may name: the ladder (``below_trial`` has no channels: it only
    occurs without activities)."""
    return schema.PHASES


_SHARE = dict(minimum=0.0, maximum=1.0)
_UNIT_SHARE = dict(minimum=0.0, maximum=1.0, exclusive_minimum=True)

#: What every parameter may hold and what it means, key for key as in :data:`DEFAULTS`.
SPEC: dict[str, Param] = {
    "territories": Selection("the territories to report on", noun="territory ids", example="T01, T02"),
    "markets": Selection("the markets to analyse", noun="markets", example="stroke, lipid_lowering"),
    "period_end": Month("the last month of the analysis period (default: the latest month in sales)"),
    "period_months": Integer("months in the analysis period (the comparison period is as long)",
                             minimum=1, maximum=MAX_PERIOD_MONTHS),
    "potential": Group("how potential is computed (DESIGN 4.1)", fields={
        "default": Choice("the algorithm for every market and customer type", choices=POTENTIAL_METHODS),
        "by_market": FreeMap("market -> algorithm", value=Choice("", choices=POTENTIAL_METHODS),
                             key_noun="market"),
        "by_customer_type": FreeMap("customer type -> algorithm (wins over by_market)",
                                    value=Choice("", choices=POTENTIAL_METHODS), key_noun="customer type",
                                    keys=schema.CUSTOMER_TYPES),
    }),
    "segmentation": Group("the potential x support grid (DESIGN 4.3)", fields={
        "cut": Choice("where high starts: the territory median, a quantile (q) or absolute values",
                      choices=("median", "quantile", "absolute")),
        "q": Number("the quantile of the quantile cut", minimum=0.0, maximum=1.0,
                    exclusive_minimum=True, exclusive_maximum=True),
        "potential": Number("the absolute potential cut (boxes per month)", minimum=0.0, nullable=True),
        "support": Number("the absolute support cut (a share)", **_SHARE, nullable=True),
        "grid": Choice("the segment scheme", choices=("2x2", "3x3")),
    }),
    "vip_share": Number("share of the territory's value the VIPs reach (Pareto)", **_UNIT_SHARE),
    "vip_by": Choice("what the VIP ranking uses", choices=("potential", "own_units")),
    "profile_fields": FreeMap("profile group -> the customer columns it counts",
                              value=Names("", noun="customer columns", single=True), key_noun="profile group"),
    "phases": Group("thresholds of the derived phases (DESIGN 4.4)", fields={
        "loyal": Number("support a loyal customer has (this period and the one before)", **_UNIT_SHARE),
        "adopter": Number("support an adopter has", **_UNIT_SHARE),
        "interested_positive": Integer("positive responses that make a customer interested", minimum=0),
        "aware_responses": Integer("responses other than none that make a customer aware", minimum=0),
    }),
    "competitor_dominant": Number("share from which the leading competitor dominates", **_UNIT_SHARE),
    "fit_matrix": FreeMap("phase -> the channels that suit it (empty: the design's defaults)",
                          value=Names("", noun="channels", single=True, known="channels"), key_noun="phase",
                          keys=fit_phases()),
    "extra_channels": Names("channels beyond the design's ten", noun="channel names"),
    "min_rate_base": Integer("rates over fewer customers show as 'too few'", minimum=1),
    "norms": Group("coaching norms (DESIGN 4.6)", fields={
        "coverage_min": Integer("fewest customers a chronic rep should cover", minimum=0),
        "coverage_max": Integer("most customers a chronic rep should cover", minimum=0),
        "profile_completeness": Number("completeness that makes a profile qualified", **_SHARE),
        "profile_qualified_share": Number("share of a rep's customers with a qualified profile", **_SHARE),
        "effort_on_priority": Number("least share of effort on priority segments", **_SHARE),
        "mismatched_effort": Number("most share of effort outside the channel-phase fit", **_SHARE),
        "over_service": Number("most share of effort on loyal customers", **_SHARE),
    }),
    "cadence": Group("days between contacts due (DESIGN 4.7)", fields={
        key: Integer(f"days between contacts with {key} customers" if key != "vip" else
                     "days between contacts with VIPs", minimum=1)
        for key in DEFAULTS["cadence"]
    }),
    "call_plan": Group("the call plan per rep", fields={
        "contacts_per_month": FreeMap("segment -> contacts per month its customers get (0: not called)",
                                      value=Number("", minimum=0.0, maximum=31.0), key_noun="segment",
                                      keys=tuple(DEFAULTS["call_plan"]["contacts_per_month"])),
    }),
    "privacy": Choice("pseudonymise names and ids before anything is written", choices=("none", "pseudonymise")),
}
SPEC["overrides"] = FreeMap(
    "territory id -> any of the keys above but the whole-run ones",
    value=Group("", fields={k: v for k, v in SPEC.items() if k not in RUN_LEVEL}, run_level=RUN_LEVEL),
    key_noun="territory id")

_PROFILE = Group("a run profile", fields=SPEC)


def reference() -> pd.DataFrame:
    """Every parameter: key (dotted), default, allowed values and meaning, one row each."""
    rows = []

    def walk(spec: Mapping[str, Param], defaults: Mapping, prefix: str) -> None:
        for key, param in spec.items():
            if isinstance(param, Group) and key != "overrides":
                rows.append((prefix + key, None, param.allowed(), param.description))
                walk(param.fields, defaults[key], f"{prefix}{key}.")
            else:
                rows.append((prefix + key, defaults.get(key), param.allowed(), param.description))

    walk(SPEC, DEFAULTS, "")
    return pd.DataFrame(rows, columns=["key", "default", "allowed", "description"])


# --- profiles -----------------------------------------------------------------------------

def merge(base: Mapping, overlay: Mapping) -> dict:
    """Deep merge: mappings merge key by key, everything else is replaced."""
    out = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _raise(problems: list[str], source: str) -> None:
    unique = list(dict.fromkeys(problems))
    if len(unique) == 1:
        raise ParameterError(f"{source}: {unique[0]}")
    if unique:
        raise ParameterError(f"{source}: {len(unique)} problems with the parameters:\n"
                             + "\n".join(f"  - {p}" for p in unique))


def _rules(eff: Mapping) -> list[tuple[str, Any, str]]:
    """Rules across keys, on effective parameters: (key, value, what is allowed)."""
    out = []
    seg = eff["segmentation"]
    if seg["cut"] == "absolute" and (seg.get("potential") is None or seg.get("support") is None):
        out.append(("segmentation.cut", "absolute", "segmentation.potential (a number >= 0) and "
                    "segmentation.support (a number from 0 to 1) to be set with it"))
    if seg["cut"] == "absolute" and seg["grid"] == "3x3":
        out.append(("segmentation.grid", "3x3", "2x2 with cut 'absolute' (the 3x3 grid takes median or "
                    "quantile cuts)"))
    norms = eff["norms"]
    if norms["coverage_min"] > norms["coverage_max"]:
        out.append(("norms.coverage_min", norms["coverage_min"],
                    f"at most norms.coverage_max ({norms['coverage_max']})"))
    return out


def check(profile: Mapping, source: str = "parameters") -> dict:
    """Validate a profile: keys, types, ranges and choices at every level, overrides included.

    Returns the profile as plain data, normalized (a date as its ``YYYY-MM`` month, ids
    as text, ``3.0`` months as 3). Raises :class:`ParameterError` listing every problem,
    each naming the key, the value and what is allowed.
    """
    if not isinstance(profile, Mapping):
        raise ParameterError(f"{source}: a run profile must be a mapping of parameters, got {_show(profile)}")
    extra = profile.get("extra_channels")
    extra = tuple(c for c in extra if isinstance(c, str)) if isinstance(extra, (list, tuple)) else ()
    ctx = _Context(channels=tuple(dict.fromkeys((*schema.CHANNELS, *extra))))
    out = _PROFILE.check(profile, "", ctx)
    if not ctx.problems:  # the rules across keys need well-typed values
        top = _rules(effective(out))
        ctx.problems.extend(f"parameter {key!r} is {_show(value)}; expected {allowed}" for key, value, allowed in top)
        for tid in out.get("overrides", {}):
            for key, value, allowed in _rules(effective(out, tid)):
                if (key, value, allowed) not in top:
                    ctx.bad(f"overrides.{tid}.{key}", value, allowed)
    _raise(ctx.problems, source)
    return out


def effective(profile: Mapping, territory_id: str | None = None) -> dict:
    """Defaults <- profile <- the territory's overrides (without the ``overrides`` key)."""
    base = merge(DEFAULTS, {k: v for k, v in profile.items() if k != "overrides"})
    base.pop("overrides", None)
    override = (profile.get("overrides") or {}).get(territory_id, {}) if territory_id else {}
    return merge(base, override)


def _known(values: Iterable, noun: str) -> str:
    values = list(dict.fromkeys(str(v) for v in values))
    shown = ", ".join(values[:10])
    return f"{noun}: {shown}" + (f", ... ({len(values)} in all)" if len(values) > 10 else "")


def _quote_hint(name: str) -> str:
    return (" (YAML reads an unquoted 007 as the number 7: quote ids, e.g. '007')"
            if name.isdigit() else "")


def _territory_problems(profile: Mapping, known: Iterable[str]) -> list[str]:
    known = [str(t) for t in known]
    ids = set(known)
    problems = []
    if isinstance(profile.get("territories"), list):
        for tid in profile["territories"]:
            if str(tid) not in ids:
                problems.append(f"parameter 'territories' names {str(tid)!r}, which is not in the territories "
                                f"table; expected {_known(known, 'a territory id of the data')}"
                                + _quote_hint(str(tid)))
    for tid in (profile.get("overrides") or {}):
        if str(tid) not in ids:
            problems.append(f"parameter 'overrides' names territory {str(tid)!r}, which is not in the territories "
                            f"table; expected {_known(known, 'a territory id of the data')}"
                            + _quote_hint(str(tid)))
    return problems


def check_territories(profile: Mapping, known: Iterable[str], source: str = "parameters") -> None:
    """Overrides and territory lists must name existing territories (``known`` ids)."""
    _raise(_territory_problems(profile, known), source)


def check_against_data(profile: Mapping, ds: Dataset, source: str = "parameters") -> dict:
    """:func:`check`, then the names the profile uses against the dataset ``ds``.

    Territories and overrides must name territories of ``ds``, ``markets`` and
    ``potential.by_market`` its markets, ``period_end`` a month of its sales (at the top
    and in every override). Returns the checked profile; raises :class:`ParameterError`
    naming each key, value and what the data allows.
    """
    profile = check(profile, source)
    problems = _territory_problems(profile, ds.territories["territory_id"])
    markets = [str(m) for m in ds.markets["market"]]
    periods = ds.sales_periods
    scopes = [("", profile)] + [(f"overrides.{tid}.", o) for tid, o in (profile.get("overrides") or {}).items()]
    for prefix, scope in scopes:
        if isinstance(scope.get("markets"), list):
            for market in scope["markets"]:
                if market not in markets:
                    problems.append(f"parameter '{prefix}markets' names {market!r}, which is not in the markets "
                                    f"table; expected {_known(markets, 'a market of the data')}")
        for market in ((scope.get("potential") or {}).get("by_market") or {}):
            if market not in markets:
                problems.append(f"parameter '{prefix}potential.by_market' names {market!r}, which is not in the "
                                f"markets table; expected {_known(markets, 'a market of the data')}")
        end = scope.get("period_end")
        if end is not None and end not in periods:
            held = f"a month of the sales data: {periods[0]} to {periods[-1]}" if periods else "nothing: sales is empty"
            gaps = " (some months missing)" if periods and len(periods) < _months_between(periods[0], periods[-1]) else ""
            problems.append(f"parameter '{prefix}period_end' is {end!r}; expected {held}{gaps}")
    _raise(problems, source)
    return profile


def _months_between(first: str, last: str) -> int:
    """Months from ``first`` to ``last``, both included."""
    return (pd.Period(last, freq="M") - pd.Period(first, freq="M")).n + 1


# --- profile files --------------------------------------------------------------------------

class _Refused(yaml.YAMLError):
    """A YAML construct a run profile may not use (anchors, aliases, duplicate keys)."""


class _ProfileLoader(yaml.SafeLoader):
    """Safe YAML without anchors and aliases (no alias bombs) and without duplicate keys."""

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _Refused(f"line {event.start_mark.line + 1}: YAML anchors and aliases (&name, *name, <<) are not "
                           "allowed in a run profile; write each value out")
        return super().compose_node(parent, index)

    def compose_mapping_node(self, anchor):
        node = super().compose_mapping_node(anchor)
        seen = set()
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode):
                if (key.tag, key.value) in seen:
                    raise _Refused(f"line {key.start_mark.line + 1}: the key {key.value!r} is given twice")
                seen.add((key.tag, key.value))
        return node


def read_yaml(path: str | Path) -> Any:
    """The data of a YAML file, read safely: UTF-8 only, no anchors, aliases or duplicate keys.

    Raises :class:`ParameterError` naming the file (and the line) otherwise.
    """
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"{path}: run profile not found")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ParameterError(f"{path}: line {line}: not UTF-8 text (byte {raw[exc.start:exc.start + 1]!r}); "
                             "save the run profile as UTF-8") from None
    try:
        return yaml.load(text, Loader=_ProfileLoader)
    except _Refused as exc:
        raise ParameterError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ParameterError(f"{path}: not valid YAML: {exc}") from None


def load_profile(path: str | Path | None) -> dict:
    """Read a YAML run profile safely and validate it (``None``: the defaults)."""
    if path is None:
        return {}
    profile = read_yaml(path)
    return check({} if profile is None else profile, source=str(path))
