import math

import pytest

from scheduler.domain.units import UnitError, format_compute, parse_compute, parse_memory


@pytest.mark.parametrize(("text", "gflops"), [
    ("120P", 120_000_000), ("500T", 500_000), ("1.5E", 1_500_000_000), ("4.99P", 4_990_000),
    ("2.5", 2_500_000), (" 7 p ", 7_000_000), ("300TFLOPS", 300_000), (0, 0), (12.5, 12_500_000),
])
def test_compute_in_human_units(text: str | float, gflops: int) -> None:
    assert parse_compute(text) == gflops


@pytest.mark.parametrize("bad", ["12X", "", "P", "-3P", "1e999P", "nan", "12 P P", True, -1, math.inf])
def test_malformed_compute_is_refused_with_a_message(bad: object) -> None:
    with pytest.raises(UnitError):
        parse_compute(bad)  # type: ignore[arg-type]


def test_a_16_device_job_of_312_tflops_is_4_99_pflops() -> None:
    assert format_compute(16 * 312_000) == "4.99P"
    assert format_compute(500_000) == "500T"
    assert format_compute(1_500_000_000) == "1.5E"


@pytest.mark.parametrize(("text", "nbytes"), [("128Gi", 128 << 30), ("64G", 64 * 10**9), ("512Mi", 512 << 20),
                                              (1024, 1024), ("1Ti", 1 << 40)])
def test_memory_in_human_units(text: str | int, nbytes: int) -> None:
    assert parse_memory(text) == nbytes


@pytest.mark.parametrize("bad", ["12Xi", "-1Gi", "Gi", -5])
def test_malformed_memory_is_refused(bad: object) -> None:
    with pytest.raises(UnitError):
        parse_memory(bad)  # type: ignore[arg-type]
