from django.urls import path

from transfers import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
]
