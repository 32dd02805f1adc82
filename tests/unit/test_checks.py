"""require_int: one wording and error type for every integer setting."""

from __future__ import annotations

import pytest

from qcos.checks import is_int, require_int
from qcos.exceptions import ConfigError


def test_integers_in_range_pass_through() -> None:
    assert require_int("n", 3) == 3
    assert require_int("n", 0, minimum=0) == 0
    assert require_int("port", 65535, minimum=1, maximum=65535) == 65535
    assert is_int(5) and not is_int(True) and not is_int(5.0)


@pytest.mark.parametrize(("value", "kwargs", "message"), [
    (0, {}, "n must be a positive integer, got 0"),
    (True, {}, "n must be a positive integer, got True"),
    ("3", {}, "n must be a positive integer, got '3'"),
    (2.0, {}, "n must be a positive integer, got 2.0"),
    (-1, {"minimum": 0}, "n must be an integer >= 0, got -1"),
    (21, {"minimum": 0, "maximum": 20}, "n must be an integer from 0 to 20, got 21"),
    (None, {"what": "'auto' or a positive integer"}, "n must be 'auto' or a positive integer, got None"),
])
def test_bad_values_name_the_setting_and_the_value(value: object, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$".replace("(", r"\(").replace(")", r"\)")):
        require_int("n", value, **kwargs)


def test_the_caller_chooses_the_error_type() -> None:
    with pytest.raises(ConfigError, match="workers must be a positive integer"):
        require_int("workers", 0, error=ConfigError)
