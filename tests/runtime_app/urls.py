from django.urls import path

from . import views

urlpatterns = [
    path("tickets/", views.open_ticket, name="open-ticket"),
    path("notes/", views.write_note, name="write-note"),
    path("anotes/", views.awrite_note, name="awrite-note"),
]
