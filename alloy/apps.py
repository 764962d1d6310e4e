"""The shared core's app configuration."""

from django.apps import AppConfig


class AlloyConfig(AppConfig):
    name = "alloy"
    verbose_name = "Alloy core"
