"""ASGI applications composed in the ways users compose them, for the router tests and checks."""

from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application as django_asgi
from django.urls import re_path

from django_restate.asgi import restate_urlpattern

django_only = django_asgi()

channels_app = ProtocolTypeRouter(
    {
        "http": URLRouter([restate_urlpattern(), re_path(r"", django_only)]),
    }
)
