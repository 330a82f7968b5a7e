"""The carrier-neutral model's time parsing agrees with the standard library."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.carriers.gdeposylka import _TIME_FORMAT as GDEPOSYLKA_FORMAT
from bot.carriers.models import KYIV, wall_clock
from bot.carriers.novaposhta import _TIME_FORMATS as NOVA_POSHTA_FORMATS

NAIVE_MIN = datetime(1990, 1, 1)  # noqa: DTZ001 - carriers' times carry no zone
NAIVE_MAX = datetime(2040, 12, 31)  # noqa: DTZ001
FORMATS = (*NOVA_POSHTA_FORMATS, GDEPOSYLKA_FORMAT)  # every format the carriers use


def strptime_utc(text: str, fmt: str) -> datetime | None:
    """What the slow reference parser makes of a text (None: refused)."""
    try:
        return datetime.strptime(text, fmt).replace(tzinfo=KYIV).astimezone(UTC)
    except ValueError:
        return None


def fast_utc(text: str, fmt: str) -> datetime | None:
    """What wall_clock makes of a text (None: refused)."""
    try:
        return wall_clock(text, fmt, KYIV)
    except ValueError:
        return None


@given(
    # Naive wall-clock times, as the carriers write them.
    moment=st.datetimes(min_value=NAIVE_MIN, max_value=NAIVE_MAX),
    written=st.sampled_from(FORMATS),
    read=st.sampled_from(FORMATS),
    typos=st.lists(
        st.tuples(st.integers(0, 30), st.sampled_from("0123456789 x\t\xa0:-.")), max_size=2
    ),
)
def test_wall_clock_agrees_with_strptime(
    moment: datetime, written: str, read: str, typos: list[tuple[int, str]]
) -> None:
    text = moment.strftime(written)
    for position, char in typos:
        if position < len(text):
            text = text[:position] + char + text[position + 1 :]
    assert fast_utc(text, read) == strptime_utc(text, read)


@pytest.mark.parametrize(
    ("text", "fmt", "expected"),
    [
        # Summer time: Kyiv is UTC+3; winter: UTC+2.
        ("06-07-2023 08:20:34", "%d-%m-%Y %H:%M:%S", datetime(2023, 7, 6, 5, 20, 34, tzinfo=UTC)),
        ("15:36 07.01.2023", "%H:%M %d.%m.%Y", datetime(2023, 1, 7, 13, 36, tzinfo=UTC)),
        ("2023-04-06", "%Y-%m-%d", datetime(2023, 4, 5, 21, 0, tzinfo=UTC)),
    ],
)
def test_wall_clock_reads_kyiv_time(text: str, fmt: str, expected: datetime) -> None:
    assert wall_clock(text, fmt, KYIV) == expected


@pytest.mark.parametrize("text", ["31.02.2023 10:00:00", "01.01.2023 25:00:00", "", "soon"])
def test_wall_clock_refuses_impossible_times(text: str) -> None:
    with pytest.raises(ValueError):
        wall_clock(text, "%d.%m.%Y %H:%M:%S", KYIV)
