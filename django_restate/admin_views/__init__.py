"""Views of the Restate pages in the Django admin, wired up by ``django_restate.admin``.

- ``services``: registered services and handlers, and drift from the code;
- ``instances``: Virtual Object / Workflow instances and their state, editable;
- ``invocations``: invocations, their journals, and the actions on them;
- ``deployments``: deployments, and registering this project's;
- ``queries``: the SQL sent to Restate's ``/query``; ``journal``: journals made readable;
- ``forms``, ``base``: what the pages share.

Every page reads live from the Restate admin API through ``django_restate.admin_api.AdminAPI``
and shows a banner instead of failing when that API cannot answer.
"""
