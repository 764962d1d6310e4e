"""The benchmark behind ``manage.py bench``: stack, load, peer and report."""
