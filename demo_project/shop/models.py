from django.db import models


class Product(models.Model):
    sku = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    stock = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} ({self.sku})"


class Order(models.Model):
    order_id = models.CharField(max_length=64, unique=True)
    customer = models.CharField(max_length=100)
    total = models.DecimalField(max_digits=12, decimal_places=2)
    status = models.CharField(max_length=20, default="pending")
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Order {self.order_id} ({self.status})"
