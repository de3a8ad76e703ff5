"""The seats chart's geometry and the business-day clock, as plain functions."""

from datetime import UTC, datetime, timedelta

import pytest

from backoffice.business_days import business_time_between, waited_more_than
from backoffice.charts import BOTTOM, HEIGHT, LEFT, RIGHT, TOP, WIDTH, Step, nice_step, seats_chart

START = datetime(2026, 1, 1, tzinfo=UTC)


def test_the_step_line_follows_each_change_and_runs_to_now():
    chart = seats_chart(
        start=START,
        initial=5,
        changes=[
            Step(START + timedelta(days=10), 8, "payment"),
            Step(START + timedelta(days=20), 6, "approval"),
        ],
        now=START + timedelta(days=40),
    )

    # y axis 0..8 (steps of 2), x axis 40 days over the plot width.
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    assert [tick.label for tick in chart.y_ticks] == ["0", "2", "4", "6", "8"]
    assert chart.path == (
        f"M{LEFT:.1f} {TOP + plot_height * 3 / 8:.1f} "
        f"H{LEFT + plot_width / 4:.1f} V{TOP:.1f} "
        f"H{LEFT + plot_width / 2:.1f} V{TOP + plot_height / 4:.1f} "
        f"H{WIDTH - RIGHT:.1f}"
    )
    assert chart.summary == "5 seats on 1 Jan 2026, 8 from 11 Jan 2026, 6 from 21 Jan 2026; 6 now."
    assert [p.label for p in chart.points] == [
        "1 Jan 2026: 5 seats",
        "11 Jan 2026: 8 seats",
        "21 Jan 2026: 6 seats",
    ]
    assert chart.scheduled_path == ""
    assert chart.x_ticks[0].label == "1 Jan 2026" and chart.x_ticks[-1].label == "10 Feb 2026"


def test_a_scheduled_change_extends_the_axis_and_is_drawn_separately():
    now = START + timedelta(days=10)
    chart = seats_chart(
        start=START, initial=4, changes=[], now=now, scheduled=Step(START + timedelta(days=20), 2)
    )

    assert chart.path.endswith(f"H{LEFT + (WIDTH - LEFT - RIGHT) / 2:.1f}")
    assert chart.scheduled_path.startswith(f"M{LEFT + (WIDTH - LEFT - RIGHT) / 2:.1f}")
    assert chart.points[-1].scheduled and chart.points[-1].label == "21 Jan 2026: 2 seats (scheduled)"
    assert chart.summary.endswith("; 4 now; 2 from 21 Jan 2026 (scheduled).")
    assert [row.note for row in chart.rows] == ["start", "scheduled"]


def test_a_subscription_started_today_still_gets_a_chart():
    chart = seats_chart(start=START, initial=1, changes=[], now=START)

    assert chart.path.startswith(f"M{LEFT:.1f}")
    assert [tick.label for tick in chart.y_ticks] == ["0", "1"]


@pytest.mark.parametrize(
    ("top", "step"), [(1, 1), (4, 1), (5, 2), (8, 2), (9, 5), (20, 5), (21, 10), (180, 50)]
)
def test_the_y_axis_uses_round_steps(top, step):
    assert nice_step(top) == step


@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [
        (datetime(2026, 11, 6, 10, tzinfo=UTC), datetime(2026, 11, 9, 10, tzinfo=UTC), 24),  # Fri → Mon
        (datetime(2026, 11, 7, 10, tzinfo=UTC), datetime(2026, 11, 8, 22, tzinfo=UTC), 0),  # weekend
        (datetime(2026, 11, 2, 9, tzinfo=UTC), datetime(2026, 11, 2, 17, tzinfo=UTC), 8),
        (datetime(2026, 11, 2, 0, tzinfo=UTC), datetime(2026, 11, 30, 0, tzinfo=UTC), 20 * 24),  # 4 weeks
        (datetime(2026, 11, 4, 12, tzinfo=UTC), datetime(2026, 12, 2, 12, tzinfo=UTC), 20 * 24),
        (datetime(2026, 11, 9, 10, tzinfo=UTC), datetime(2026, 11, 6, 10, tzinfo=UTC), 0),  # backwards
    ],
)
def test_business_time_counts_monday_to_friday_only(start, end, hours):
    assert business_time_between(start, end) == timedelta(hours=hours)


def test_more_than_two_business_days_means_strictly_more():
    thursday = datetime(2026, 11, 5, 10, tzinfo=UTC)

    assert not waited_more_than(thursday, datetime(2026, 11, 9, 10, tzinfo=UTC), business_days=2)
    assert waited_more_than(thursday, datetime(2026, 11, 9, 10, 1, tzinfo=UTC), business_days=2)


def test_an_audit_event_reads_as_before_and_after():
    from audit.models import AuditEvent
    from backoffice.selectors import audit_summary

    event = AuditEvent(
        before={"state": "draft", "gone": 1},
        after={"state": "signed", "sha256": "a" * 64, "reason": "Too many"},
    )

    assert audit_summary(event) == (
        f"state: draft → signed · gone was 1 · sha256: {'a' * 39}… · reason: Too many"
    )
