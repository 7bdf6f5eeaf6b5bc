"""A tiny Django project in one module: settings, views, URLconf and the WSGI application.

Its routes cover Django's converters (each beside a literal sibling that must win), a
`re_path()`, an included URLconf and a class-based view.
"""

from __future__ import annotations

import django
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path, re_path
from django.views import View

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="tests-only",
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["*"],
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
        USE_TZ=True,
    )
    django.setup(set_prefix=False)


def answer(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return JsonResponse({"app": "django", "path": request.path})


class ItemView(View):  # type: ignore[misc]  # Django ships no type hints
    def get(self, request: HttpRequest, item_id: int) -> HttpResponse:
        return answer(request)

    def delete(self, request: HttpRequest, item_id: int) -> HttpResponse:
        return answer(request)


api = [
    path("items", answer, name="items"),
    path("items/export", answer, name="export"),
    path("items/<int:item_id>", ItemView.as_view(), name="item"),
    path("items/<slug:slug>/tags", answer, name="tags"),
]

urlpatterns = [
    path("health", answer, name="health"),
    path("api/", include(api)),
    path("u/<uuid:key>", answer, name="by-uuid"),
    path("files/<path:name>", answer, name="file"),
    path("s/<str:name>/", answer, name="slashed"),
    re_path(r"^archive/(?P<year>[0-9]{4})/$", answer, name="archive"),
]

application = WSGIHandler()
