"""Console URLs."""

from __future__ import annotations

from django.urls import path

from accounts import views

app_name = "console"

urlpatterns = [
    path("", views.home, name="home"),
]
