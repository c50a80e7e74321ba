"""The live state's packed power samples: what goes in comes out, in a fraction of the memory
(a fleet reader keeps two hours of pushes for every meter it sees)."""

from __future__ import annotations

import sys

from hypothesis import given
from hypothesis import strategies as st

from hanport.reader.energy import this_hour
from hanport.reader.live import PowerSamples

watts = st.one_of(st.none(), st.integers(0, 100_000), st.floats(0, 1e6, allow_nan=False))
samples = st.lists(st.tuples(st.floats(1.7e9, 1.8e9), watts, watts), max_size=50)


@given(samples)
def test_samples_come_out_as_they_went_in(
    given_samples: list[tuple[float, float | None, float | None]],
) -> None:
    packed = PowerSamples(given_samples)
    assert list(packed) == given_samples
    assert len(packed) == len(given_samples)


@given(samples, st.floats(1.7e9, 1.8e9))
def test_up_to_keeps_the_samples_at_or_before(
    given_samples: list[tuple[float, float | None, float | None]], at: float
) -> None:
    assert list(PowerSamples(given_samples).up_to(at)) == [s for s in given_samples if s[0] <= at]


def test_this_hour_is_the_same_from_packed_samples() -> None:
    hour = 1_796_522_400
    pushes = [(hour + 10.0 * n, 1000 + 7 * n, None if n % 5 else 120) for n in range(300)]
    assert this_hour(PowerSamples(pushes), hour + 2_995) == this_hour(pushes, hour + 2_995)


def test_an_hour_of_pushes_takes_under_30_bytes_a_sample() -> None:
    packed = PowerSamples()
    for n in range(720):  # two hours of a Kamstrup meter's pushes
        packed.append(1_796_522_400 + 10.0 * n, 1000 + n, 0)
    assert sys.getsizeof(packed._packed) / 720 < 30
