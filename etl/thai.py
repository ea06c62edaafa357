"""Thai calendar labels: executives read months as ``เมษายน 2566``."""

from __future__ import annotations

from datetime import date

import pandas as pd

THAI_MONTHS = (
    "มกราคม",
    "กุมภาพันธ์",
    "มีนาคม",
    "เมษายน",
    "พฤษภาคม",
    "มิถุนายน",
    "กรกฎาคม",
    "สิงหาคม",
    "กันยายน",
    "ตุลาคม",
    "พฤศจิกายน",
    "ธันวาคม",
)

BUDDHIST_ERA_OFFSET = 543


def month_th(month: date) -> str:
    """``date(2023, 4, 1)`` -> ``เมษายน 2566`` (Buddhist-era year)."""
    return f"{THAI_MONTHS[month.month - 1]} {month.year + BUDDHIST_ERA_OFFSET}"


def month_th_series(months: pd.Series) -> pd.Series:
    """Vectorised :func:`month_th` over a datetime64 series."""
    names = months.dt.month.map(lambda m: THAI_MONTHS[int(m) - 1])
    years = (months.dt.year + BUDDHIST_ERA_OFFSET).astype(str)
    labels: pd.Series = (names + " " + years).astype(object)
    return labels
