"""Every Django route measured; run.py names the one each measurement loads."""

from __future__ import annotations

from django.urls import path

from django_site import authgate_views, simplejwt_views

urlpatterns = [
    path("open", authgate_views.Open.as_view()),
    path("guarded", authgate_views.Guarded.as_view()),
    path("plain/open", authgate_views.plain_open),
    path("plain/guarded", authgate_views.plain_guarded),
    path("simplejwt/guarded", simplejwt_views.Guarded.as_view()),
    path("simplejwt/stateless", simplejwt_views.Stateless.as_view()),
]
