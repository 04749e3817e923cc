"""The example's routes: one plain Django view, one Django REST framework view."""

from __future__ import annotations

from django.urls import path
from views import ApiThings, things

urlpatterns = [
    path("things", things),
    path("api/things", ApiThings.as_view()),
]
