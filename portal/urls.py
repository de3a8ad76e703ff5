from django.urls import path

from . import views

app_name = "portal"

# Each seat change page is reachable through a unique link (no sign-in) and, for a
# signed-in admin, through the dashboard; both routes share one view. A link's pages
# live under `/link/<session id>/`, reached by opening the emailed `/l/<token>/`
# (`portal.access`): no page carries the token.
SHARED = [
    ("change/", views.change_seats, "change"),
    ("change/quote/", views.quote, "quote"),
    ("changes/<str:number>/", views.seat_change_detail, "seat_change"),
    ("changes/<str:number>/agreement.pdf", views.agreement_pdf, "agreement_pdf"),
    ("changes/<str:number>/sign/", views.sign, "sign"),
    ("changes/<str:number>/withdraw/", views.withdraw, "withdraw"),
    ("changes/<str:number>/pay/", views.pay, "pay"),
    ("changes/<str:number>/pay/card/", views.pay_card, "pay_card"),
    ("changes/<str:number>/pay/confirm/", views.pay_confirm, "pay_confirm"),
    ("changes/<str:number>/pay/status/", views.payment_status, "payment_status"),
    ("payments/", views.payments, "payments"),
    ("payments/<str:receipt_number>/receipt.pdf", views.receipt_pdf, "receipt_pdf"),
    ("cancel/", views.cancel_subscription, "cancel"),
    ("keep/", views.keep_subscription, "keep"),
]

urlpatterns = [
    path("l/<str:token>/", views.link_entry, name="link"),
    # An emailed link straight to one of its pages (the payment page, say).
    path("l/<str:token>/<path:then>", views.link_entry, name="link_to"),
    path("links/retrieve/", views.retrieve_links, name="retrieve_links"),
    # A signed-in admin adding a user (or giving a licence) when none is left.
    path("subscriptions/<int:subscription_pk>/buy-seat/", views.buy_seat, name="admin_buy_seat"),
    path(
        "subscriptions/<int:subscription_pk>/links/rotate/",
        views.links_rotate,
        name="admin_rotate_links",
    ),
]
for route, view, name in SHARED:
    urlpatterns.append(path(f"link/<str:sid>/{route}", view, name=f"link_{name}"))
    urlpatterns.append(path(f"subscriptions/<int:subscription_pk>/{route}", view, name=f"admin_{name}"))
