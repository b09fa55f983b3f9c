from django.db import models


class Order(models.Model):
    """One workflow's row: inserted by its first step, marked done by its last."""

    order_id = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=16, default="new")
    digest = models.CharField(max_length=64, blank=True)
    #: time.time() when the first step ran (written by its INSERT, so knowing it costs nothing).
    first_step_at = models.FloatField(null=True)
    #: time.time() when the last step ran, so the load generator reads end-to-end latency from the row.
    done_at = models.FloatField(null=True)
