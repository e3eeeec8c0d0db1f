"""Injected faults: the ways a real Amazon Business call goes wrong, on demand and reproducibly.

A production worker meets throttling it did not cause (other applications of the same customer
share nothing with it, but Amazon's own fleet has bad minutes), internal errors, maintenance
windows, slow answers, connections reset mid-request and answers cut short. The sandbox injects
these at configurable rates so that retry, back-off and idempotency code is exercised in every
test run, not only on a bad day in production.

A :class:`FaultSpec` is written as a comma-separated list, for example::

    429=0.05,500=0.02,503=0.02,slow=0.05,drop=0.01,truncate=0.01,slow_seconds=2

Each ``KIND=RATE`` gives the probability (``0`` to ``1``) that one API request suffers that
fault; at most one fault hits a request, so the rates must add up to at most ``1``.
``slow_seconds`` is the delay of a ``slow`` answer (default 2 s). The kinds:

``429``
    Amazon's throttling answer, ``{"errors":[{"code":"QuotaExceeded", ...}]}``, although the
    usage plan's bucket still had tokens.
``500`` / ``503``
    An internal failure / service unavailable, in Amazon's error format.
``slow``
    Sleep ``slow_seconds``, then answer normally (exercises client read timeouts).
``drop``
    Close the connection without sending any response.
``truncate``
    Send the status line and headers with the full ``Content-Length``, then only part of the
    body, then close the connection.

:meth:`FaultSpec.pick` makes the decision from a caller-supplied :class:`random.Random`, so a
sandbox seeded with the same seed injects the same faults into the same sequence of requests.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

__all__ = ["DEFAULT_SLOW_SECONDS", "Fault", "FaultKind", "FaultSpec"]

DEFAULT_SLOW_SECONDS = 2.0


class FaultKind(StrEnum):
    """The faults the sandbox can inject; the value is the name used in a fault spec."""

    THROTTLED = "429"
    INTERNAL_ERROR = "500"
    UNAVAILABLE = "503"
    SLOW = "slow"
    DROP = "drop"
    TRUNCATE = "truncate"

    @property
    def status(self) -> int | None:
        """The HTTP status the fault answers with, or ``None`` if it is not an error status."""
        return {"429": 429, "500": 500, "503": 503}.get(self.value)


#: The order in which :meth:`FaultSpec.pick` lays the rates out on ``[0, 1)``; fixed so that a
#: seed always maps to the same fault whatever order the spec string was written in.
_PICK_ORDER: tuple[FaultKind, ...] = tuple(FaultKind)


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault chosen for one request; ``seconds`` is the delay of a ``slow`` fault."""

    kind: FaultKind
    seconds: float = 0.0


def _no_rates() -> Mapping[FaultKind, float]:
    return MappingProxyType({})


@dataclass(frozen=True)
class FaultSpec:
    """How often each fault is injected into API requests.

    ``rates`` maps a :class:`FaultKind` to its probability per request; kinds not listed never
    happen. Build one with :meth:`parse` or directly::

        FaultSpec({FaultKind.THROTTLED: 0.1}, slow_seconds=0.5)
    """

    rates: Mapping[FaultKind, float] = field(default_factory=_no_rates)
    slow_seconds: float = DEFAULT_SLOW_SECONDS

    def __post_init__(self) -> None:
        checked: dict[FaultKind, float] = {}
        for kind, rate in self.rates.items():
            kind = FaultKind(kind)
            if not isinstance(rate, (int, float)) or isinstance(rate, bool):
                raise ValueError(f"fault rate of {kind.value!r} must be a number, not {rate!r}")
            if not (0.0 <= float(rate) <= 1.0) or math.isnan(rate):
                raise ValueError(f"fault rate {kind.value}={rate} is not between 0 and 1")
            checked[kind] = float(rate)
        total = sum(checked.values())
        if total > 1.0 + 1e-9:
            raise ValueError(
                f"fault rates add up to {total:g}; at most one fault hits a request, "
                "so they must add up to at most 1"
            )
        if (
            not isinstance(self.slow_seconds, (int, float))
            or isinstance(self.slow_seconds, bool)
            or not (0.0 <= float(self.slow_seconds) < math.inf)
        ):
            raise ValueError(f"slow_seconds must be a number >= 0, not {self.slow_seconds!r}")
        object.__setattr__(self, "rates", MappingProxyType(checked))
        object.__setattr__(self, "slow_seconds", float(self.slow_seconds))

    @classmethod
    def parse(cls, text: str) -> FaultSpec:
        """A spec from ``"429=0.05,500=0.02,slow=0.05,slow_seconds=2"``.

        An empty string (or ``"none"``) is the spec that injects nothing. Raises
        :class:`ValueError` naming the offending item for an unknown kind, a duplicate, a value
        that is not a number, a rate outside ``0..1`` or rates adding up to more than 1.
        """
        stripped = text.strip()
        if not stripped or stripped.lower() == "none":
            return cls()
        rates: dict[FaultKind, float] = {}
        slow_seconds = DEFAULT_SLOW_SECONDS
        seen: set[str] = set()
        known = ", ".join([k.value for k in FaultKind] + ["slow_seconds"])
        for raw in stripped.split(","):
            item = raw.strip()
            if not item:
                continue
            name, sep, value_text = item.partition("=")
            name = name.strip().lower()
            if not sep:
                raise ValueError(f"fault spec item {item!r} is not NAME=VALUE")
            if name in seen:
                raise ValueError(f"fault spec item {item!r}: {name!r} is given twice")
            seen.add(name)
            try:
                value = float(value_text.strip())
            except ValueError:
                raise ValueError(
                    f"fault spec item {item!r}: {value_text.strip()!r} is not a number"
                ) from None
            if math.isnan(value):
                raise ValueError(f"fault spec item {item!r}: the value is not a number")
            if name == "slow_seconds":
                if not (0.0 <= value < math.inf):
                    raise ValueError(f"fault spec item {item!r}: slow_seconds must be >= 0")
                slow_seconds = value
                continue
            try:
                kind = FaultKind(name)
            except ValueError:
                raise ValueError(
                    f"fault spec item {item!r}: unknown fault {name!r}; the names are {known}"
                ) from None
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"fault spec item {item!r}: a rate must be between 0 and 1")
            rates[kind] = value
        return cls(rates, slow_seconds=slow_seconds)

    @property
    def total_rate(self) -> float:
        """The probability that a request suffers any fault."""
        return sum(self.rates.values())

    def __bool__(self) -> bool:
        return self.total_rate > 0.0

    def __str__(self) -> str:
        parts = [f"{k.value}={self.rates[k]:g}" for k in _PICK_ORDER if self.rates.get(k)]
        if FaultKind.SLOW in self.rates or self.slow_seconds != DEFAULT_SLOW_SECONDS:
            parts.append(f"slow_seconds={self.slow_seconds:g}")
        return ",".join(parts) or "none"

    def pick(self, rng: random.Random) -> Fault | None:
        """The fault for one request, or ``None``; exactly one draw from ``rng`` per call.

        The rates are laid out one after the other on ``[0, 1)`` in a fixed order, so the same
        sequence of draws always yields the same sequence of faults.
        """
        draw = rng.random()
        threshold = 0.0
        for kind in _PICK_ORDER:
            rate = self.rates.get(kind, 0.0)
            if rate <= 0.0:
                continue
            threshold += rate
            if draw < threshold:
                seconds = self.slow_seconds if kind is FaultKind.SLOW else 0.0
                return Fault(kind, seconds)
        return None
