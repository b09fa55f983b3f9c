"""django-restate: Restate Services, Virtual Objects and Workflows in a Django project."""

from .handlers import Service, VirtualObject, Workflow, handler
from .registry import AlreadyRegistered, NotRegistered, autodiscover, registry
from .runtime import atomic_step

__all__ = [
    "AlreadyRegistered",
    "NotRegistered",
    "Service",
    "VirtualObject",
    "Workflow",
    "atomic_step",
    "autodiscover",
    "handler",
    "registry",
]

__version__ = "0.1.0"
