"""Signals this app sends so that upper apps can react without being imported here."""

from django.dispatch import Signal

# Sent on commit of a new SeatSync outbox row; kwargs: seat_sync_id, subscription_id.
# `licensing` connects the task that pushes the count to the connected org.
seat_sync_created = Signal()

# Sent INSIDE the transaction that moves a seat change to `applying` and sets the
# new quantity (kwargs: seat_change): receivers' writes commit or roll back with it.
# `licensing` frees the licences a decrease named.
seat_change_applying = Signal()

# Sent on commit when a seat count keeps failing to reach the connected org
# (kwargs: seat_sync_id, error): `backoffice` emails the account manager.
seat_sync_failing = Signal()

# Sent on commit once a seat change is signed and waits for payment (increase) or for
# an account manager's approval (decrease); kwargs: seat_change_id.
# `backoffice` emails the organization's account manager.
seat_change_signed = Signal()

# Sent on commit when a subscription's admin asks to cancel it at the end of the period
# (kwargs: subscription_id). `billing` tells Stripe not to renew it.
subscription_cancel_requested = Signal()

# Sent on commit when the admin withdraws that cancellation ("Keep my subscription";
# kwargs: subscription_id). `billing` tells Stripe to renew it again.
subscription_cancel_withdrawn = Signal()

# Sent INSIDE the transaction that activates a subscription (kwargs: subscription).
# `licensing` opens the setup wizard of an organization that has nobody in it yet.
subscription_activated = Signal()

# Sent INSIDE the transaction that moves an open seat change to `cancelled` or
# `expired` (kwargs: seat_change). `licensing` drops the licences waiting for it.
seat_change_closed = Signal()

# Sent on commit when a subscription ends (kwargs: subscription_id, requested: whether
# its admin asked for it, reason). `backoffice` tells the account manager of an end
# nobody asked for (the biller stopped it after failed payments).
subscription_ended = Signal()

# Sent on commit when the seats the next period will have change without the quantity
# changing yet: a decrease is scheduled for the period end, or a scheduled one is
# withdrawn (kwargs: subscription_id). `billing` tells Stripe before the renewal.
renewal_seats_changed = Signal()
