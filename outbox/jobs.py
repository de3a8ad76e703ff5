"""Jobs the outbox itself provides: sending a signal after commit, and sending an
email rendered before it was queued (outbox.mail)."""

from django.apps import apps
from django.utils.module_loading import import_string


def send_signal(*, signal: str, sender: str, signal_kwargs: dict) -> None:
    """Every receiver runs; the first error is raised afterwards so the job is retried
    (the receivers that succeeded must be safe to run again: emails are, see
    outbox.mail)."""
    responses = import_string(signal).send_robust(apps.get_model(sender), **signal_kwargs)
    for _receiver, response in responses:
        if isinstance(response, Exception):
            raise response
