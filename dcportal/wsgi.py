"""WSGI entry point (gunicorn dcportal.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dcportal.settings")
application = get_wsgi_application()
