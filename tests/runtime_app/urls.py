from django.urls import path

from . import views

urlpatterns = [path("tickets/", views.open_ticket, name="open-ticket")]
