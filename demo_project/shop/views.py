from django.conf import settings
from django.http import HttpRequest, HttpResponse

from django_restate import registry


def index(request: HttpRequest) -> HttpResponse:
    ingress = settings.RESTATE["INGRESS_URL"]
    services = "".join(f"<li><b>{s.name}</b>: {', '.join(h.name for h in s.handlers)}</li>" for s in registry)
    return HttpResponse(
        "<h1>django-restate demo shop</h1>"
        f"<p>Restate ingress: {ingress}</p><ul>{services}</ul>"
        '<p><a href="/admin/">Django admin</a></p>'
    )
