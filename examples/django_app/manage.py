#!/usr/bin/env python
"""A Django project whose /things view and /api/things DRF view need an authgate token.

AUTHGATE_ISSUER=http://localhost:8000 python examples/django_app/manage.py runserver 8004
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
