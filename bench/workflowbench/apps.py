import os

from django.apps import AppConfig


class WorkflowBenchConfig(AppConfig):
    name = "bench.workflowbench"
    label = "workflowbench"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        if os.environ.get("BENCH_WORKFLOW_SIDE") == "dbos" and os.environ.get("BENCH_DBOS_LAUNCH") == "1":
            # DBOS's documented Django setup: configure and launch in AppConfig.ready().
            from dbos import DBOS, DBOSConfig

            from . import dbos_workflows  # noqa: F401  (registers the workflow before launch)

            config: DBOSConfig = {
                "name": "workflow-bench",
                "system_database_url": os.environ["DBOS_SYSTEM_DATABASE_URL"],
                "log_level": "WARNING",
                # A workflow holds an executor thread from start to end, and each thread keeps a
                # Django connection (CONN_MAX_AGE): unbounded (DBOS's default), 1,000 started
                # workflows exhaust PostgreSQL's 100 connections. workflow_bench sets the bound.
                "max_executor_threads": int(os.environ.get("BENCH_DBOS_THREADS", "32")),
            }
            DBOS(config=config)
            DBOS.launch()
