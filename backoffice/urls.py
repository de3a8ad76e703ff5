from django.urls import path

from . import views

app_name = "backoffice"

urlpatterns = [
    path("", views.approvals, name="approvals"),
    path("changes/<str:number>/", views.seat_change, name="seat_change"),
    path("changes/<str:number>/agreement.pdf", views.agreement_pdf, name="agreement_pdf"),
    path("changes/<str:number>/approve/", views.approve, name="approve"),
    path("changes/<str:number>/reject/", views.reject, name="reject"),
    path("accounts/", views.accounts, name="accounts"),
    path("accounts/new/", views.account_new, name="account_new"),
    path("accounts/<int:pk>/", views.account, name="account"),
    path("accounts/<int:pk>/audit.csv", views.audit_csv, name="audit_csv"),
    path("accounts/<int:pk>/subscriptions/new/", views.subscription_new, name="subscription_new"),
    path("accounts/<int:pk>/test-push/", views.test_push, name="test_push"),
    path("accounts/<int:pk>/connected-org/", views.connected_org_edit, name="connected_org_edit"),
    path("subscriptions/<int:pk>/activate/", views.subscription_activate, name="subscription_activate"),
    path("subscriptions/<int:pk>/change/", views.change_start, name="change_start"),
    path("subscriptions/<int:pk>/links/send/", views.links_send, name="links_send"),
    path("subscriptions/<int:pk>/links/rotate/", views.links_rotate, name="links_rotate"),
    path("links/<int:pk>/revoke/", views.link_revoke, name="link_revoke"),
    path("payments/<int:pk>/receipt.pdf", views.payment_receipt, name="payment_receipt"),
]
