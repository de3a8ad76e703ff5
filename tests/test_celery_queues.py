"""Work is queued by urgency (seatmgr/settings.py): customer-facing money and pushes,
emails, periodic batch work; every task is routed, and compose's workers serve every
queue, the urgent one alone. (tests/licensing/test_worker_queues.py: a paid push lands
while 10,000 emails wait.)"""

import re
from pathlib import Path

import yaml
from django.conf import settings

from seatmgr.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[1]


def queue_of(task_name: str) -> str:
    return celery_app.amqp.router.route({}, task_name)["queue"].name


def project_tasks() -> list[str]:
    celery_app.loader.import_default_modules()
    return sorted(name for name in celery_app.tasks if not name.startswith("celery."))


def test_each_kind_of_work_has_a_queue_of_its_own():
    queues = settings.CELERY_QUEUES_BY_KIND
    assert sorted(queues) == ["batch", "email", "urgent"]
    assert len(set(queues.values())) == 3
    assert set(celery_app.conf.task_queues) == set(queues.values())


def test_every_task_is_routed_by_name_to_the_queue_of_its_kind():
    by_kind = settings.CELERY_QUEUES_BY_KIND
    unrouted = [name for name in project_tasks() if name not in settings.CELERY_TASK_ROUTES]
    assert unrouted == [], "a task with no route would wait on the default queue behind batch work"
    assert queue_of("licensing.tasks.deliver_seat_sync") == by_kind["urgent"]
    assert queue_of("subscriptions.tasks.send_retrieved_links") == by_kind["email"]
    assert queue_of("subscriptions.tasks.roll_subscription_periods") == by_kind["batch"]
    assert queue_of("licensing.tasks.requeue_seat_syncs") == by_kind["batch"]


def compose_worker_queues() -> dict[str, list[str]]:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    workers = {}
    for name, service in services.items():
        command = service.get("command")
        if isinstance(command, str) and command.startswith("celery -A seatmgr worker "):
            workers[name] = re.search(r"(?:-Q|--queues)[ =](\S+)", command).group(1).split(",")
    return workers


def test_compose_serves_every_queue_and_the_urgent_one_alone():
    workers = compose_worker_queues()
    served = {queue for queues in workers.values() for queue in queues}
    assert served == {"urgent", "email", "batch"}
    assert ["urgent"] in workers.values(), "paid pushes would wait for a worker busy with emails"


def test_outbox_messages_go_to_the_queue_of_their_kind(monkeypatch):
    """A charge's or refund's message waits on the urgent queue, an email on the email
    queue, Stripe bookkeeping on the batch queue (outbox.services.publish)."""
    from kombu import Connection

    from outbox import services

    published = []
    monkeypatch.setattr(settings, "OUTBOX_IN_PROCESS_KINDS", [])
    with Connection(settings.CELERY_BROKER_URL) as connection:
        for queue in settings.CELERY_QUEUES_BY_KIND.values():
            connection.default_channel.queue_purge(queue)
        for kind in ("urgent", "email", "batch"):
            assert services.publish(10_000 + len(published), kind=kind, ticket=1)
            published.append(kind)
        waiting = {
            kind: connection.default_channel.queue_declare(queue=queue, passive=True).message_count
            for kind, queue in settings.CELERY_QUEUES_BY_KIND.items()
        }
        for queue in settings.CELERY_QUEUES_BY_KIND.values():
            connection.default_channel.queue_purge(queue)
    assert waiting == {"urgent": 1, "email": 1, "batch": 1}
