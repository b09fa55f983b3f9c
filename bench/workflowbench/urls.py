import os

from django.urls import path

from . import views

START = {"restate": views.start_restate, "bare": views.start_bare, "dbos": views.start_dbos}

urlpatterns = [path("start/<str:order_id>", START[os.environ.get("BENCH_WORKFLOW_SIDE", "restate")])]
