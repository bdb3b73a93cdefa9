import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_check(**env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "DATABASE_URL")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_site_refuses_to_start_with_debug_off_and_no_secret_key():
    result = run_check(DEBUG="0")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_site_refuses_a_weak_secret_key_with_debug_off():
    result = run_check(DEBUG="0", SECRET_KEY="short")
    assert result.returncode != 0
    assert "too weak" in result.stderr


def test_site_starts_with_debug_off_and_a_real_secret_key():
    result = run_check(DEBUG="0", SECRET_KEY="k" * 20 + "-random-enough-for-a-test-0123")
    assert result.returncode == 0, result.stderr


def test_a_bad_number_in_the_environment_is_a_clear_error():
    result = run_check(CLOUD_MAX_RETRIES="three")
    assert result.returncode != 0
    assert "CLOUD_MAX_RETRIES must be a whole number" in result.stderr
