"""A sync task's attempt is recorded as a ``django_restate.StepRun`` now, like ``atomic_step(once=True)``.

The old table only mattered for an attempt that committed but that Restate had not journaled yet;
an attempt caught in that window while this migration runs runs once more.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("django_restate_tasks", "0001_initial"), ("django_restate", "0004_step_runs")]

    operations = [migrations.DeleteModel(name="CommittedAttempt")]
