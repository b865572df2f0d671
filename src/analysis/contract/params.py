"""Run profiles (DESIGN 5): package defaults, overlaid by the profile, overlaid by the
territory's overrides. Unknown keys are an error: a typo must not pass silently.
"""
from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from analysis.errors import ParameterError

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
    "next_best_min_customers": 5,
    "norms": {
        "coverage_min": 80, "coverage_max": 120, "profile_completeness": 0.6,
        "profile_qualified_share": 0.8, "effort_on_priority": 0.6,
        "mismatched_effort": 0.25, "over_service": 0.3,
    },
    "cadence": {"vip": 30, "supplier": 90, "distributor": 60, "peripheral": 180},
    "privacy": "none",             # none | pseudonymise
    "overrides": {},               # territory id -> any of the keys above
}

#: Keys whose value is a free mapping (its keys are data, not parameter names).
FREE_MAPPINGS = {("potential", "by_market"), ("potential", "by_customer_type"), ("fit_matrix",),
                 ("profile_fields",), ("overrides",)}

#: Keys that apply to the whole run and cannot be overridden per territory.
RUN_LEVEL = ("overrides", "territories", "privacy", "extra_channels")

CHOICES = {
    ("segmentation", "cut"): ("median", "quantile", "absolute"),
    ("segmentation", "grid"): ("2x2", "3x3"),
    ("privacy",): ("none", "pseudonymise"),
    ("vip_by",): ("potential", "own_units"),
}


def _check_keys(given: Mapping, reference: Mapping, path: tuple[str, ...], source: str) -> None:
    for key, value in given.items():
        where = ".".join((*path, str(key)))
        if key not in reference:
            close = difflib.get_close_matches(str(key), [str(k) for k in reference], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(map(str, reference))}"
            raise ParameterError(f"{source}: unknown parameter {where!r}{hint}")
        if (*path, key) in FREE_MAPPINGS:
            if value is not None and not isinstance(value, Mapping):
                raise ParameterError(f"{source}: parameter {where!r} must be a mapping")
            continue
        if isinstance(reference[key], Mapping):
            if not isinstance(value, Mapping):
                raise ParameterError(f"{source}: parameter {where!r} must be a mapping, got {value!r}")
            _check_keys(value, reference[key], (*path, key), source)
        elif (*path, key) in CHOICES and value not in CHOICES[(*path, key)]:
            raise ParameterError(f"{source}: parameter {where!r} is {value!r}; expected one of "
                                 f"{', '.join(CHOICES[(*path, key)])}")


def merge(base: Mapping, overlay: Mapping) -> dict:
    """Deep merge: mappings merge key by key, everything else is replaced."""
    out = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def check(profile: Mapping, source: str = "parameters") -> dict:
    """Validate a profile's keys and choices (overrides included); return it as a dict."""
    if not isinstance(profile, Mapping):
        raise ParameterError(f"{source}: a run profile must be a mapping of parameters")
    _check_keys(profile, DEFAULTS, (), source)
    for territory, override in (profile.get("overrides") or {}).items():
        if not isinstance(override, Mapping):
            raise ParameterError(f"{source}: overrides.{territory} must be a mapping of parameters")
        for run_level in RUN_LEVEL:
            if run_level in override:
                raise ParameterError(f"{source}: overrides.{territory}.{run_level}: '{run_level}' is set for the "
                                     "whole run, not per territory")
        _check_keys(override, DEFAULTS, ("overrides", str(territory)), source)
    return dict(profile)


def load_profile(path: str | Path | None) -> dict:
    """Read a YAML run profile safely and validate its keys (``None``: the defaults)."""
    if path is None:
        return {}
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"{path}: run profile not found")
    try:
        profile = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ParameterError(f"{path}: not valid YAML: {exc}") from exc
    return check(profile, source=str(path))


def effective(profile: Mapping, territory_id: str | None = None) -> dict:
    """Defaults <- profile <- the territory's overrides (without the ``overrides`` key)."""
    base = merge(DEFAULTS, {k: v for k, v in profile.items() if k != "overrides"})
    base.pop("overrides", None)
    override = (profile.get("overrides") or {}).get(territory_id, {}) if territory_id else {}
    return merge(base, override)


def check_territories(profile: Mapping, known: Iterable[str], source: str = "parameters") -> None:
    """Overrides and territory lists must name existing territories."""
    known = set(known)
    named = list((profile.get("overrides") or {}).keys())
    if isinstance(profile.get("territories"), list):
        named += profile["territories"]
    unknown = [str(t) for t in named if str(t) not in known]
    if unknown:
        raise ParameterError(f"{source}: territory id(s) not in territories table: {', '.join(sorted(set(unknown)))}")
