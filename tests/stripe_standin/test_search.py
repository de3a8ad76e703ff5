"""PaymentIntent search as Stripe documents it (https://docs.stripe.com/search), which
localstripe lacks: the stand-in plays it over localstripe's PaymentIntents."""

import pytest
import stripe


def _intent(client, amount: int, **metadata):
    return client.v1.payment_intents.create(
        params={
            "amount": amount,
            "currency": "eur",
            "allowed_payment_method_types": ["card"],
            "metadata": metadata,
        }
    )


def test_payment_intents_are_found_by_every_metadata_clause_joined_by_and(stripe_standin):
    client = stripe_standin.client()
    wanted = _intent(client, 1000, order="s-1", attempt="2")
    _intent(client, 1000, order="s-1", attempt="1")
    _intent(client, 1000, order="s-2", attempt="2")

    found = client.v1.payment_intents.search(
        params={"query": "metadata['order']:'s-1' AND metadata['attempt']:'2'"}
    )

    assert found.object == "search_result"
    assert [intent.id for intent in found.data] == [wanted.id]
    assert found.has_more is False


def test_or_negation_and_numbers(stripe_standin):
    client = stripe_standin.client()
    small = _intent(client, 500, batch="n-1")
    large = _intent(client, 5000, batch="n-1")

    over = client.v1.payment_intents.search(params={"query": "metadata['batch']:'n-1' AND amount>1000"})
    not_small = client.v1.payment_intents.search(params={"query": "metadata['batch']:'n-1' AND -amount:500"})
    either = client.v1.payment_intents.search(params={"query": "amount:500 OR amount:5000"})

    assert [i.id for i in over.data] == [large.id]
    assert [i.id for i in not_small.data] == [large.id]
    assert {small.id, large.id} <= {i.id for i in either.data}


def test_results_come_newest_first_a_page_at_a_time(stripe_standin):
    client = stripe_standin.client()
    made = [_intent(client, 1000 + n, pages="p-1").id for n in range(3)]

    first = client.v1.payment_intents.search(params={"query": "metadata['pages']:'p-1'", "limit": 2})
    rest = client.v1.payment_intents.search(
        params={"query": "metadata['pages']:'p-1'", "limit": 2, "page": first.next_page}
    )

    assert first.has_more and not rest.has_more
    assert {i.id for i in first.data} | {i.id for i in rest.data} == set(made)
    assert len(first.data) == 2 and len(rest.data) == 1


@pytest.mark.parametrize(
    "query",
    [
        "metadata['a']:'1' AND metadata['b']:'2' OR metadata['c']:'3'",  # AND with OR
        "status:succeeded",  # a string unquoted
        "amount:'1000'",  # a number quoted
        "description:'x'",  # not a query field of PaymentIntents
        "",
    ],
)
def test_a_query_stripe_would_refuse_is_refused(stripe_standin, query):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_standin.client().v1.payment_intents.search(params={"query": query})

    assert refused.value.http_status == 400
    assert refused.value.json_body["error"]["param"] == "query"


def test_a_new_payment_intent_is_not_searchable_while_the_index_is_behind(stripe_standin):
    client = stripe_standin.client()
    stripe_standin.search_lag(3600)
    made = _intent(client, 1000, lagging="l-1")

    behind = client.v1.payment_intents.search(params={"query": "metadata['lagging']:'l-1'"})
    stripe_standin.search_lag(0)
    caught_up = client.v1.payment_intents.search(params={"query": "metadata['lagging']:'l-1'"})

    assert behind.data == []
    assert [i.id for i in caught_up.data] == [made.id]
