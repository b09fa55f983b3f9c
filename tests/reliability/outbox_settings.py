"""The reliability suite's Django server, for the outbox tests: their views, and the ingress of the
test's restate-server (``RESTATE_INGRESS_URL``); the lifespan's relay on unless ``OUTBOX_RELAY=0``."""

import os

from tests.reliability.subprocess_settings import *  # noqa: F403
from tests.reliability.subprocess_settings import RESTATE

ROOT_URLCONF = "tests.reliability.outbox_urls"
RESTATE = {
    **RESTATE,
    "INGRESS_URL": os.environ["RESTATE_INGRESS_URL"],
    "OUTBOX_RELAY": os.environ.get("OUTBOX_RELAY", "1") == "1",
    "OUTBOX_POLL_INTERVAL": 0.2,
}
