from django.urls import path

from demo_project.urls import urlpatterns as demo_urlpatterns

from . import views

urlpatterns = [*demo_urlpatterns, path("tasks/<str:result_id>/", views.task_result, name="task-result")]
