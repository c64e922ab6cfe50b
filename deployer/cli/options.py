"""Option types shared by several commands."""

from __future__ import annotations

import math
from typing import Any, Callable

import typer

WEEK = 7 * 24 * 3600.0


def _seconds_parser(minimum: float, maximum: float) -> Callable[[str], float]:
    def parse(text: Any) -> float:
        if isinstance(text, (int, float)):  # a default
            return float(text)
        try:
            value = float(str(text).strip())
        except ValueError as e:
            raise typer.BadParameter(f"{text!r} is not a number of seconds") from e
        if not math.isfinite(value):
            raise typer.BadParameter(f"{text!r} is not a finite number of seconds")
        if not minimum <= value <= maximum:
            raise typer.BadParameter(f"{text} is not in the range {minimum:g}<=x<={maximum:g} (seconds; "
                                     f"{maximum:g} is {maximum / 86400:g} days)")
        return value

    return parse


def seconds_option(default: float, *decls: str, minimum: float = 1.0, maximum: float = WEEK, **kwargs: Any) -> Any:
    """A duration in seconds: a finite number between `minimum` and `maximum` (a week by default),
    else a usage error (exit 2). `inf`, `nan` and 1e308 would overflow the clocks and timers
    they are added to (asyncio, helm's --timeout)."""
    return typer.Option(default, *decls, parser=_seconds_parser(minimum, maximum), metavar="SECONDS", **kwargs)
