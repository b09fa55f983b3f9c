from django.contrib import admin

from django_restate.admin import RestateObjectMixin

from .models import Order, Product
from .restate_services import Checkout

admin.site.register(Product, list_display=["sku", "name", "price", "stock"])


@admin.register(Order)
class OrderAdmin(RestateObjectMixin, admin.ModelAdmin):
    """An order's page shows its Checkout workflow (the workflow id is the order id)."""

    list_display = ["order_id", "customer", "total", "status", "created"]
    restate_object = Checkout
    restate_key = "order_id"
