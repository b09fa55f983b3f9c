from django.contrib import admin

from .models import Order, Product

admin.site.register(Product, list_display=["sku", "name", "price", "stock"])
admin.site.register(Order, list_display=["order_id", "customer", "total", "status", "created"])
