from django.urls import path

from . import views

urlpatterns = [
    path("order/", views.order, name="traced-order"),
    path("order-later/", views.order_later, name="traced-order-later"),
]
