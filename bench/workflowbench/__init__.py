"""The three-step order workflow of ``bench.workflow_bench``, written for each side: django-restate,
the bare Restate SDK and DBOS, over one set of step functions and one model."""
