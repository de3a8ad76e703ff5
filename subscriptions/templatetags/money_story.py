from django import template

from subscriptions import money_story, words

register = template.Library()


@register.filter
def money_story_of(seat_change) -> money_story.SeatChangeMoney:
    """`{% with money=seat_change|money_story_of %}`: what the change costs now
    (`money.due_now`) and the renewal it leads to (`money.renewal`)."""
    return money_story.seat_change_money(seat_change)


@register.filter
def renewal_of(subscription) -> money_story.Renewal | None:
    """`{% with renewal=subscription|renewal_of %}`: the next renewal
    (`renewal.amount` for `renewal.quantity` seats on `renewal.on`), or, when
    `renewal.ends`, the date it ends on; None when the subscription is not live."""
    return money_story.subscription_renewal(subscription)


@register.filter
def users(count) -> str:
    """`{{ 1|users }}` → "1 user", `{{ 4|users }}` → "4 users"."""
    return words.users(count)


@register.filter
def licences(count) -> str:
    """`{{ 1|licences }}` → "1 licence"."""
    return words.licences(count)
