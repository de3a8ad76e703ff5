"""Paying for seat changes through Stripe: awaiting_payment ─paid─▶ applying (DESIGN §3).

Guarantees, for every function below:

* **Exactly one successful charge per seat change.** A seat change has at most one
  Payment row (a unique constraint), created under the seat change's row lock *before*
  anything is sent to Stripe. Each try with a card is an *attempt*, claimed under the
  payment's row lock; while one is in flight, other calls (a double click, a second
  tab, a retry after a timeout, 20 threads) send nothing and report "paying…". A new
  attempt first cancels the previous PaymentIntent in Stripe (a cancelled one can never
  be charged), and any charge that still arrives for a change that is already paid,
  expired or cancelled is refunded in full (a StrayCharge; the customer is told once).
* **A charge whose outcome is unknown is asked about, never sent blindly again.** Every
  write carries an idempotency key built from our ids, and the charge relies on it: an
  attempt is marked sent (`charge_sent_at`, committed) just before its one request;
  once marked, reconciliation learns its outcome by sending the same request with the
  same key (Stripe, and the strict stand-in, answer with the first PaymentIntent for
  24 h), else by searching PaymentIntents by our metadata, after processing the
  payment's stored webhook events. An attempt never marked sent had charged nothing:
  it is sent again without troubling the customer.
* **Paid means applied.** A PaymentIntent that succeeded becomes, in one transaction:
  the Payment `succeeded` with its receipt number, and `seat_change_apply(via="payment")`
  (the change `applying`, the new quantity and its SeatSync row). Whoever learns of the
  success first (the page, the webhook, reconciliation) does it; the others change
  nothing. The receipt (PDF attached) is emailed on commit.
* **Failures change no seats, and each cause is handled as what it is.** A decline, a
  bank asking the cardholder to confirm (3-D Secure) or a missing card leave the change
  `awaiting_payment`, with the reason (and the issuer's decline code) on the Payment;
  the customer can try again. A request Stripe refused that is ours to fix
  (PaymentRefused: an invalid request, keys, permissions, idempotency, an amount too
  small once converted) fails the attempt definitively: the customer is told their card
  was not charged, the account manager is alerted (the `payment_refused` signal), and
  nothing sends it again. Only Stripe being unreachable or failing (network, 5xx, 429;
  or, for a charge already sent, refusing its key as used for other parameters) leaves
  an attempt pending for reconciliation, which asks again with backoff at most
  MAX_PROCESSOR_FAILURES times, then fails it the same way.
* **Paid means the amount we asked for.** A PaymentIntent that succeeded with another
  amount or currency than the Payment's is never marked paid: it is refunded in full,
  audited, and the account manager is alerted.
* **Nothing moves backwards.** A failure reported after a success (or for an older
  attempt's PaymentIntent) changes nothing.
* The amount charged is the quote stored on the seat change; an expired quote can't be
  paid.
* **The card on file is the last card that paid.** A card typed in is saved through a
  SetupIntent (`payment_card_setup`) and charged on-session; once a payment succeeds,
  the card of its PaymentIntent becomes the customer's default
  (`payment_card_make_default`, on commit). A declined card never does.

The functions live in one module per part: `payments` (attempts, the charge, what
Stripe says happened), `refunds`, `reconciliation`, `renewals` (Stripe subscriptions:
set up on activation, seats and price kept in step; its own guarantees are in its
docstring) and `catalogue` (Products and Prices); the names below are the ones the
rest of the project uses.
"""

from .catalogue import stripe_catalogue_sync, stripe_price_for, stripe_product_for
from .payments import (
    AMOUNT_MISMATCH,
    ATTEMPT_IN_FLIGHT,
    GAVE_UP_MESSAGE,
    MAX_PROCESSOR_FAILURES,
    MISMATCH_MESSAGE,
    NOTHING_CHARGED_MESSAGE,
    NOTHING_DUE_MESSAGE,
    PAID_MESSAGE,
    PENDING_MESSAGE,
    RECONCILE_AFTER,
    UNRESOLVED_MESSAGE,
    PaymentOutcome,
    outcome_of,
    payment_attempt_send,
    payment_card_make_default,
    payment_card_on_file_queue,
    payment_card_setup,
    payment_confirm,
    payment_failed,
    payment_requires_action,
    payment_start_or_retry,
    payment_succeeded,
)
from .reconciliation import RECONCILE_BATCH, payments_claim_signed, payments_reconcile
from .refunds import duplicate_charge_refund, payment_refund, stray_charges_refund_due
from .renewals import (
    LinkReport,
    renewal_seats,
    stripe_renewal_setup_request,
    stripe_renewal_setups_retry,
    stripe_subscription_link,
    stripe_subscription_quantity_sync,
    stripe_subscription_resume_renewal,
    stripe_subscription_set_up,
    stripe_subscription_stop_renewal,
)

__all__ = [
    "AMOUNT_MISMATCH",
    "ATTEMPT_IN_FLIGHT",
    "GAVE_UP_MESSAGE",
    "MAX_PROCESSOR_FAILURES",
    "MISMATCH_MESSAGE",
    "NOTHING_CHARGED_MESSAGE",
    "NOTHING_DUE_MESSAGE",
    "PAID_MESSAGE",
    "PENDING_MESSAGE",
    "RECONCILE_AFTER",
    "RECONCILE_BATCH",
    "UNRESOLVED_MESSAGE",
    "LinkReport",
    "PaymentOutcome",
    "duplicate_charge_refund",
    "outcome_of",
    "payment_attempt_send",
    "payment_card_make_default",
    "payment_card_on_file_queue",
    "payment_card_setup",
    "payment_confirm",
    "payment_failed",
    "payment_refund",
    "payment_requires_action",
    "payment_start_or_retry",
    "payment_succeeded",
    "payments_claim_signed",
    "payments_reconcile",
    "renewal_seats",
    "stray_charges_refund_due",
    "stripe_catalogue_sync",
    "stripe_price_for",
    "stripe_product_for",
    "stripe_renewal_setup_request",
    "stripe_renewal_setups_retry",
    "stripe_subscription_link",
    "stripe_subscription_quantity_sync",
    "stripe_subscription_resume_renewal",
    "stripe_subscription_set_up",
    "stripe_subscription_stop_renewal",
]
