"""A project with its own AdminSite next to the default one, for the custom-site tests."""

from django.contrib import admin
from django.urls import path

from django_restate.admin import register_pages

ops_site = admin.AdminSite(name="ops")
register_pages(ops_site)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("ops/", ops_site.urls),
]
