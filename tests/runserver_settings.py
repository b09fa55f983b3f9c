"""The demo with Channels' daphne in INSTALLED_APPS, so `manage.py runserver` serves ASGI."""

from demo_project.settings import *  # noqa: F403
from demo_project.settings import INSTALLED_APPS

INSTALLED_APPS = ["daphne", *INSTALLED_APPS]
