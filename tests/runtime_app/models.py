"""Rows written by the runtime/client test handlers and views, so tests can count what really ran."""

from django.db import models


class Note(models.Model):
    """Written by handlers, from sync steps and with the async ORM."""

    key = models.CharField(max_length=128, db_index=True)
    text = models.CharField(max_length=200)
    via = models.CharField(max_length=16)  # "sync" (a ctx.run step) or "async" (async ORM in the handler)


class Account(models.Model):
    name = models.CharField(max_length=128, unique=True)
    balance = models.IntegerField()


class Ticket(models.Model):
    """Written by the view that sends on commit: one row per request that committed."""

    subject = models.CharField(max_length=200)


class Delivery(models.Model):
    """One row each time the Mailer handler's step really ran. Deliberately not idempotent:
    a handler started twice leaves two rows."""

    tag = models.CharField(max_length=128, db_index=True)
    ticket_id = models.BigIntegerField()
