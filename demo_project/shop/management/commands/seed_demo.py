from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from demo_project.shop.models import Product

PRODUCTS = [("tea", "Green tea", "3.50", 100), ("mug", "Mug", "8.00", 20), ("pot", "Teapot", "25.00", 5)]


class Command(BaseCommand):
    help = "Create the demo shop's products and an admin/admin superuser (demo only)."

    def handle(self, *args: Any, **options: Any) -> None:
        for sku, name, price, stock in PRODUCTS:
            Product.objects.update_or_create(sku=sku, defaults={"name": name, "price": price, "stock": stock})
        user_model = get_user_model()
        if not user_model.objects.filter(username="admin").exists():
            user_model.objects.create_superuser("admin", "admin@example.com", "admin")
        self.stdout.write(f"Seeded {len(PRODUCTS)} products and the admin/admin superuser.")
