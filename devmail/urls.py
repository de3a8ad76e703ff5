from django.urls import path

from . import views

app_name = "devmail"
urlpatterns = [
    path("", views.mailbox, name="mailbox"),
    path("<int:pk>/", views.message, name="message"),
]
