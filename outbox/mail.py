"""The one email path: `EMAIL_BACKEND` is `OutboxEmailBackend`, so every message the
product sends (its notifications, allauth's sign-in emails) goes through the outbox.

Inside an outbox job, a message is sent through the real backend
(`OUTBOX_EMAIL_BACKEND`) with a `Message-ID` and an `X-Idempotency-Key` derived from
the job's key, and recorded as sent at once: a retry of the job skips the messages
already sent, so a retry never sends one twice. Anywhere else, the rendered message
becomes an outbox row of its own (job `send_stored`), sent after commit.
"""

import base64
import hashlib
import uuid
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend

from . import services


def message_id(key: str, part: str) -> str:
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "seatmgr.local"
    digest = hashlib.sha256(f"{key}\n{part}".encode()).hexdigest()[:40]
    return f"<{digest}@{domain}>"


class OutboxEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        running = services.current()
        if running is None:
            for message in email_messages:
                services.enqueue(
                    send_stored, key=f"email:{uuid.uuid4().hex}", kind="email", message=_stored(message)
                )
            return len(email_messages)
        backend = get_connection(settings.OUTBOX_EMAIL_BACKEND, fail_silently=self.fail_silently)
        sent = 0
        for message in email_messages:
            running.parts_seen += 1
            part = f"{running.parts_seen}:{','.join(sorted(message.recipients()))}"
            if part in running.parts_done:
                sent += 1
                continue
            message.extra_headers = {
                **message.extra_headers,
                "Message-ID": message_id(running.key, part),
                "X-Idempotency-Key": f"{running.key}#{running.parts_seen}",
            }
            if backend.send_messages([message]):
                services.part_done(running, part)
                sent += 1
        return sent


def send_stored(*, message: dict) -> None:
    """Send a message rendered before it was queued (see `_stored`)."""
    email = EmailMultiAlternatives(
        subject=message["subject"],
        body=message["body"],
        from_email=message["from_email"],
        to=message["to"],
        cc=message["cc"],
        bcc=message["bcc"],
        reply_to=message["reply_to"],
        headers=message["headers"],
        alternatives=[tuple(alternative) for alternative in message["alternatives"]],
    )
    for filename, content, mimetype in message["attachments"]:
        email.attach(filename, base64.b64decode(content), mimetype)
    email.send()


def _stored(message) -> dict:
    attachments = []
    for attachment in message.attachments:
        if isinstance(attachment, tuple):
            filename, content, mimetype = attachment
        else:
            filename = attachment.get_filename()
            content, mimetype = attachment.get_payload(decode=True), attachment.get_content_type()
        raw = content.encode() if isinstance(content, str) else bytes(content)
        attachments.append([filename, base64.b64encode(raw).decode(), mimetype])
    return {
        "subject": str(message.subject),
        "body": str(message.body),
        "from_email": message.from_email,
        "to": list(message.to),
        "cc": list(message.cc),
        "bcc": list(message.bcc),
        "reply_to": list(message.reply_to),
        "headers": dict(message.extra_headers),
        "alternatives": [
            [str(content), mimetype] for content, mimetype in getattr(message, "alternatives", [])
        ],
        "attachments": attachments,
    }
