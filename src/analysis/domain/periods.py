"""Analysis and comparison windows (DESIGN 4: ``period_end`` and ``period_months``).

A period is a calendar month written ``YYYY-MM``. The analysis window is the
``months`` months ending at ``period_end``; the comparison window is the same number
of months just before it; the *before* window precedes the comparison window (the
phase rule "loyal" looks one window back).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.domain.keys import factorized

WINDOWS = ("before", "comparison", "analysis")


def shift(period: str, months: int) -> str:
    """The period ``months`` months after ``period`` (negative: before)."""
    return (pd.Period(period, freq="M") + months).strftime("%Y-%m")


def span(end: str, months: int) -> tuple[str, ...]:
    """The ``months`` consecutive periods ending at ``end``, oldest first."""
    return tuple(shift(end, -k) for k in range(months - 1, -1, -1))


@dataclass(frozen=True)
class Window:
    """The three consecutive windows of one analysis."""

    period_end: str
    months: int

    @property
    def analysis(self) -> tuple[str, ...]:
        return span(self.period_end, self.months)

    @property
    def comparison(self) -> tuple[str, ...]:
        return span(shift(self.period_end, -self.months), self.months)

    @property
    def before(self) -> tuple[str, ...]:
        return span(shift(self.period_end, -2 * self.months), self.months)

    def periods(self, window: str) -> tuple[str, ...]:
        return getattr(self, window)

    @property
    def periods_by_window(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """Each window's name and periods, oldest first (the key of the sales summed per
        window out of core: :attr:`analysis.contract.dataset.Dataset.window_sales`)."""
        return tuple((name, self.periods(name)) for name in WINDOWS)

    def label(self, window: str = "analysis") -> str:
        periods = self.periods(window)
        return f"{periods[0]} to {periods[-1]}" if len(periods) > 1 else periods[0]

    def start_date(self, window: str = "analysis") -> pd.Timestamp:
        return pd.Period(self.periods(window)[0], freq="M").start_time

    def end_date(self, window: str = "analysis") -> pd.Timestamp:
        """The first instant after the window (exclusive bound)."""
        return pd.Period(self.periods(window)[-1], freq="M").end_time.normalize() + pd.Timedelta(days=1)

    def assign(self, periods: pd.Series) -> pd.Series:
        """Map a Series of ``YYYY-MM`` periods to window names (missing when outside)."""
        names = np.array([*WINDOWS, None], dtype=object)
        return pd.Series(names[period_codes(periods, self)], index=periods.index, dtype=object)

    def assign_dates(self, dates: pd.Series) -> pd.Series:
        """Map a Series of dates to window names (missing when outside)."""
        names = np.array([*WINDOWS, None], dtype=object)
        return pd.Series(names[window_codes(dates, self)], index=dates.index, dtype=object)


def make_window(sales_periods: pd.Series, period_end: str | None = None, months: int = 3) -> Window:
    """The window for ``period_end`` (default: the latest period in ``sales_periods``)."""
    if months < 1:
        raise ValueError("period_months must be at least 1")
    if period_end is None:
        if len(sales_periods) == 0:
            raise ValueError("no sales periods: cannot default period_end")
        period_end = str(pd.Series(sales_periods).max())
    return Window(str(period_end), int(months))


def period_codes(periods: pd.Series, window: Window) -> np.ndarray:
    """Index into ``WINDOWS`` of each ``YYYY-MM`` period (-1 outside, or missing): the
    mapping of :meth:`Window.assign`, as codes."""
    return _looked_up(periods, {p: code for code, w in enumerate(WINDOWS) for p in window.periods(w)})


def window_name_codes(names: pd.Series) -> np.ndarray:
    """Index into ``WINDOWS`` of each window name (-1: missing, or another name)."""
    return _looked_up(names, {w: code for code, w in enumerate(WINDOWS)})


def _looked_up(values: pd.Series, lookup: dict[str, int]) -> np.ndarray:
    """``lookup`` of each value (-1: not in it, or missing), looked up once per distinct
    value (few of them, many rows: map those, then take)."""
    codes, uniques = factorized(values)
    return np.array([lookup.get(u, -1) for u in uniques] + [-1], dtype=np.int8)[codes]


def window_codes(dates: pd.Series, window: Window) -> np.ndarray:
    """Index into ``WINDOWS`` of each date (0 before, 1 comparison, 2 analysis; -1 outside).

    The same mapping as :meth:`Window.assign_dates`, by comparing timestamps with the
    window bounds instead of formatting every date.
    """
    stamps = pd.to_datetime(pd.Series(dates))
    if isinstance(stamps.dtype, pd.DatetimeTZDtype):  # wall-clock time, as assign_dates reads it
        stamps = stamps.dt.tz_localize(None)
    values = stamps.to_numpy()
    edges = np.array([window.start_date(w) for w in WINDOWS] + [window.end_date(WINDOWS[-1])],
                     dtype="datetime64[ns]").astype(values.dtype)
    codes = np.searchsorted(edges, values, side="right") - 1
    codes[(codes >= len(WINDOWS)) | np.isnat(values)] = -1
    return codes.astype(np.int8)
