from tests.stripe_standin.fixtures import stripe_standin, stripe_standin_server  # noqa: F401
