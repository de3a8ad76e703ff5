"""Seats over time as an SVG step chart, computed on the server (no JavaScript).

`seats_chart` turns a subscription's quantity history into coordinates; the template
`backoffice/_seats_chart.html` draws them, with a text summary and a table for people
who do not see the chart.
"""

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

WIDTH = 640
HEIGHT = 200
LEFT, RIGHT, TOP, BOTTOM = 44, 16, 12, 28
MAX_X_TICKS = 5


@dataclass(frozen=True)
class Step:
    at: datetime
    quantity: int
    note: str = ""


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str
    scheduled: bool = False


@dataclass(frozen=True)
class SeatChart:
    width: int
    height: int
    path: str
    scheduled_path: str
    points: list[Point]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    summary: str
    rows: list[Step] = field(default_factory=list)

    @property
    def plot_left(self) -> int:
        return LEFT

    @property
    def plot_right(self) -> int:
        return self.width - RIGHT

    @property
    def plot_bottom(self) -> int:
        return self.height - BOTTOM


def nice_step(top: int, *, max_ticks: int = 4) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50… that divides 0..`top` in at most `max_ticks` steps."""
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            step = factor * magnitude
            if math.ceil(top / step) <= max_ticks:
                return step
        magnitude *= 10


def _day(at: datetime) -> str:
    return f"{at.day} {at:%b %Y}"


def seats_chart(
    *,
    start: datetime,
    initial: int,
    changes: list[Step],
    now: datetime,
    scheduled: Step | None = None,
) -> SeatChart:
    """The chart of a quantity that was `initial` at `start` and then took each value
    in `changes` (in time order) until `now`; `scheduled` is a change still to come
    (an approved decrease waiting for its period end), drawn dashed."""
    end = max([now, *([scheduled.at] if scheduled else [])])
    if end <= start:
        end = start + timedelta(days=1)
    span = (end - start).total_seconds()
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    quantities = [initial, *(c.quantity for c in changes), *([scheduled.quantity] if scheduled else [])]
    step = nice_step(max(max(quantities), 1))
    y_max = step * math.ceil(max(max(quantities), 1) / step)

    def x(at: datetime) -> float:
        return round(LEFT + plot_width * (at - start).total_seconds() / span, 1)

    def y(quantity: int) -> float:
        return round(TOP + plot_height * (1 - quantity / y_max), 1)

    history = [Step(start, initial, "start"), *changes]
    commands = [f"M{x(start)} {y(initial)}"]
    points = [Point(x(start), y(initial), f"{_day(start)}: {initial} seats")]
    for change in changes:
        commands.append(f"H{x(change.at)} V{y(change.quantity)}")
        points.append(Point(x(change.at), y(change.quantity), f"{_day(change.at)}: {change.quantity} seats"))
    current = history[-1].quantity
    commands.append(f"H{x(now)}")
    scheduled_path = ""
    if scheduled is not None:
        at = max(scheduled.at, now)
        scheduled_path = f"M{x(now)} {y(current)} H{x(at)} V{y(scheduled.quantity)}"
        points.append(
            Point(
                x(at),
                y(scheduled.quantity),
                f"{_day(at)}: {scheduled.quantity} seats (scheduled)",
                scheduled=True,
            )
        )

    y_ticks = [Tick(y(value), str(value)) for value in range(0, y_max + 1, step)]
    count = min(MAX_X_TICKS, max(2, int(span // 86400) + 1))
    x_ticks = [
        Tick(
            x(start + timedelta(seconds=span * i / (count - 1))),
            _day(start + timedelta(seconds=span * i / (count - 1))),
        )
        for i in range(count)
    ]
    summary = f"{initial} seats on {_day(start)}"
    for change in changes:
        summary += f", {change.quantity} from {_day(change.at)}"
    summary += f"; {current} now"
    if scheduled is not None:
        summary += f"; {scheduled.quantity} from {_day(scheduled.at)} (scheduled)"
    summary += "."
    rows = [*history, *([Step(scheduled.at, scheduled.quantity, "scheduled")] if scheduled else [])]
    return SeatChart(
        width=WIDTH,
        height=HEIGHT,
        path=" ".join(commands),
        scheduled_path=scheduled_path,
        points=points,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        summary=summary,
        rows=rows,
    )
