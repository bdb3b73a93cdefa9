"""gunicorn settings for dcportal, read from the environment: `gunicorn dcportal.wsgi` (see docs/deploy.md).

Put gunicorn behind a TLS proxy (nginx, a load balancer); it serves plain HTTP on GUNICORN_BIND.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "") or multiprocessing.cpu_count() * 2 + 1)
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
# A request slower than this is killed and its worker restarted; pages answer from the cache, so
# anything near this is a bug, not load.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# Recycle workers now and then so a slow leak cannot grow forever; jitter keeps them from restarting together.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = max_requests // 10
# The proxy in front sets X-Forwarded-*; trust it only from these addresses.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# Logs go to stdout/stderr: the process manager (systemd, a container runtime) collects them.
_access = os.environ.get("GUNICORN_ACCESS_LOG", "1").lower() not in ("0", "false", "no", "off")
accesslog = "-" if _access else None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# The request id comes from the X-Request-ID response header dcportal sets.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'

if os.environ.get("LOG_FORMAT", "plain") == "json":
    # gunicorn's own records through dcportal's JSON formatter: one object per line, like the app's.
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "dcportal.logging.JsonFormatter"}},
        "handlers": {
            "stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"},
        },
        "loggers": {
            "gunicorn.error": {"handlers": ["stdout"], "level": loglevel.upper(), "propagate": False},
            "gunicorn.access": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
        },
        "root": {"handlers": ["stdout"], "level": loglevel.upper()},
    }
