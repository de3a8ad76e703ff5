from django.core.mail.backends.base import BaseEmailBackend

from .models import StoredEmail


class StoredEmailBackend(BaseEmailBackend):
    """Keeps every message in the database so it can be read at /_dev/mail/."""

    def send_messages(self, email_messages):
        for message in email_messages:
            html = ""
            for alternative in getattr(message, "alternatives", []):
                content, mimetype = alternative[0], alternative[1]
                if mimetype == "text/html":
                    html = content
            StoredEmail.objects.create(
                subject=message.subject,
                from_email=message.from_email,
                to=", ".join(message.to),
                body=message.body,
                html_body=html,
                attachment_names=[
                    a[0] if isinstance(a, tuple) else a.get_filename() or "" for a in message.attachments
                ],
            )
        return len(email_messages)
