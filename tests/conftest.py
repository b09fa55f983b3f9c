"""Shared fixtures: the django_restate pytest plugin provides restate_server / restate_live."""
