"""``POST /start/<order_id>``: start the workflow and answer 202, one view per side."""

from __future__ import annotations

import os

import httpx
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

_ingress: httpx.AsyncClient | None = None


@csrf_exempt
async def start_restate(request: HttpRequest, order_id: str) -> HttpResponse:
    from django_restate.client import client

    from .restate_services import BenchOrder

    await client.workflow(BenchOrder, order_id).run.asend()
    return HttpResponse(status=202)


@csrf_exempt
async def start_bare(request: HttpRequest, order_id: str) -> HttpResponse:
    """What a project on the bare SDK writes: a POST to the ingress's ``/send``."""
    global _ingress
    if _ingress is None:
        _ingress = httpx.AsyncClient(base_url=os.environ["RESTATE_INGRESS_URL"], timeout=30)
    response = await _ingress.post(f"/BareOrder/{order_id}/run/send")
    response.raise_for_status()
    return HttpResponse(status=202)


@csrf_exempt
def start_dbos(request: HttpRequest, order_id: str) -> HttpResponse:
    from dbos import DBOS, SetWorkflowID

    from .dbos_workflows import order_workflow

    with SetWorkflowID(order_id):
        DBOS.start_workflow(order_workflow, order_id)
    return HttpResponse(status=202)
