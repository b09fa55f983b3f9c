"""Views of the Restate pages in the Django admin, wired up by ``django_restate.admin``.

- ``services``: registered services and handlers, and drift from the code;
- ``instances``: Virtual Object / Workflow instances and their state, editable;
- ``invocations``: invocations, their journals, and the actions on them;
- ``deployments``: deployments, and registering this project's;
- ``journal``: journals made readable;
- ``forms``, ``base``: what the pages share.

Every page reads live from the Restate admin API through :mod:`django_restate.admin_api`
(its SQL lives there too) inside ``base.live()``, which turns an admin API failure into
the banner at the top of the page instead of a server error.
"""
