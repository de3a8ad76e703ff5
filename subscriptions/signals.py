"""Signals this app sends so that upper apps can react without being imported here."""

from django.dispatch import Signal

# Sent on commit of a new SeatSync outbox row; kwargs: seat_sync_id.
# `licensing` connects the task that pushes the count to the connected org.
seat_sync_created = Signal()

# Sent INSIDE the transaction that moves a seat change to `applying` and sets the
# new quantity (kwargs: seat_change): receivers' writes commit or roll back with it.
# `licensing` frees the licences a decrease named.
seat_change_applying = Signal()
