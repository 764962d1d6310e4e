"""The admin's app configuration, which discovers admin modules with the URLconf."""

from django.contrib.admin import autodiscover
from django.contrib.admin.apps import SimpleAdminConfig
from django.contrib.admin.checks import check_admin_app, check_dependencies
from django.core import checks


class AdminConfig(SimpleAdminConfig):
    """``django.contrib.admin`` without importing every app's admin module at start.

    Those modules import the admin's options, forms, filters and django-rq's
    statistics views, about 4 MB resident that an RQ worker never uses.
    alloy/urls.py discovers them before it routes the admin, and so does the
    admin's system check before it checks the registered model admins.
    """

    def ready(self) -> None:
        checks.register(check_dependencies, checks.Tags.admin)
        checks.register(_check_admin_app, checks.Tags.admin)


def _check_admin_app(app_configs, **kwargs):
    autodiscover()
    return check_admin_app(app_configs, **kwargs)
