"""Stripe's webhook endpoint: verify, record, answer. Processing happens in a task."""

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import webhooks
from .errors import WebhookRejected


@csrf_exempt
@require_POST
def stripe_webhook(request):
    """200 for a new event (queued) and for a duplicate (nothing stored; queued again if
    still unprocessed); 400 for a bad signature, a stale timestamp or a payload that is
    not an event."""
    try:
        event, created = webhooks.stripe_event_record(
            payload=request.body, signature=request.headers.get("Stripe-Signature", "")
        )
    except WebhookRejected as error:
        return JsonResponse(error.as_dict(), status=400)
    return JsonResponse({"received": event.stripe_id, "duplicate": not created})
