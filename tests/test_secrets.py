"""Credentials encrypted at rest: round trip, nothing plain in the database, key rotation, clear errors."""

import io
import json

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.core import serializers
from django.core.management import call_command
from django.db import connection, models
from django.forms import modelform_factory

from peerlinks.encryption import DecryptionError, EncryptedTextField, decrypt, encrypt
from tests.test_settings import run_check

PLAIN = "AK-0123456789/SK-very-secret-value"
OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


@pytest.fixture
def secret_model(transactional_db):
    """A model with an EncryptedTextField, in a table of its own for this test only (no migration)."""

    class Meta:
        app_label = "peerlinks"
        db_table = "test_encrypted_secret"

    model = type(
        "EncryptedSecretForTests",
        (models.Model,),
        {
            "__module__": __name__,
            "Meta": Meta,
            "name": models.CharField(max_length=20),
            "value": EncryptedTextField(null=True),
        },
    )
    with connection.schema_editor() as editor:
        editor.create_model(model)
    yield model
    with connection.schema_editor() as editor:
        editor.delete_model(model)
    del apps.all_models["peerlinks"][model._meta.model_name]
    apps.clear_cache()


def raw_values() -> list[str | None]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT value FROM test_encrypted_secret ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


def rotate(**kwargs) -> str:
    out = io.StringIO()
    call_command("rotate_encryption_keys", stdout=out, **kwargs)
    return out.getvalue()


def test_round_trip(settings):
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    token = encrypt(PLAIN)
    assert PLAIN not in token
    assert decrypt(token) == PLAIN
    assert encrypt(PLAIN) != token  # a fresh token each time: equal values do not show as equal


def test_the_column_holds_no_plain_text_and_python_gets_it_back(secret_model, settings):
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    secret_model.objects.create(name="hub", value=PLAIN)
    secret_model.objects.create(name="none", value=None)
    stored, empty = raw_values()
    assert PLAIN not in stored and "very-secret" not in stored
    assert empty is None
    assert secret_model.objects.get(name="hub").value == PLAIN
    assert secret_model.objects.get(name="none").value is None
    # Serialisation (dumpdata, exports built on it) carries a token, never the plain text.
    dumped = serializers.serialize("json", secret_model.objects.all())
    assert PLAIN not in dumped
    assert decrypt(json.loads(dumped)[0]["fields"]["value"]) == PLAIN
    # Forms never draw the stored value back into the page; left empty they keep it, filled they replace it.
    form_class = modelform_factory(secret_model, fields=["name", "value"])
    hub = secret_model.objects.get(name="hub")
    assert PLAIN not in str(form_class(instance=hub))
    form_class(data={"name": "hub-renamed", "value": ""}, instance=hub).save()
    assert secret_model.objects.get(name="hub-renamed").value == PLAIN
    form_class(data={"name": "hub", "value": "replaced"}, instance=hub).save()
    assert secret_model.objects.get(name="hub").value == "replaced"


def test_old_key_still_reads_then_rotation_lets_it_go(secret_model, settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    for n in range(5):
        secret_model.objects.create(name=f"s{n}", value=f"{PLAIN}-{n}")
    before = raw_values()

    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    assert secret_model.objects.get(name="s0").value == f"{PLAIN}-0"
    secret_model.objects.create(name="new", value="written-with-the-new-key")

    out = rotate(batch_size=2)
    assert "peerlinks.EncryptedSecretForTests: 5 re-encrypted, 1 already current" in out
    after = raw_values()
    assert all(old != new for old, new in zip(before, after[:5], strict=True))
    assert not any(PLAIN in token for token in after)

    # Idempotent: a second run finds everything current and changes nothing.
    assert "0 re-encrypted, 6 already current" in rotate()
    assert raw_values() == after

    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    assert [s.value for s in secret_model.objects.order_by("id")] == [
        *(f"{PLAIN}-{n}" for n in range(5)),
        "written-with-the-new-key",
    ]


def test_a_wrong_key_is_a_clear_error_without_token_or_plain_text(secret_model, settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    token = encrypt(PLAIN)
    secret_model.objects.create(name="hub", value=PLAIN)

    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    with pytest.raises(DecryptionError) as direct:
        decrypt(token)
    with pytest.raises(DecryptionError) as from_row:
        secret_model.objects.get(name="hub")
    for message in (str(direct.value), str(from_row.value)):
        assert "FIELD_ENCRYPTION_KEYS" in message
        assert token not in message and PLAIN not in message
        assert OLD_KEY not in message and NEW_KEY not in message

    with pytest.raises(Exception) as rotation:
        rotate()
    assert "could not be decrypted" in str(rotation.value)
    assert PLAIN not in str(rotation.value) and raw_values()[0] not in str(rotation.value)


def test_a_malformed_key_stops_the_site_without_echoing_it():
    bad = "not-a-fernet-key-but-a-secret"
    result = run_check(FIELD_ENCRYPTION_KEYS=f"{NEW_KEY},{bad}")
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS: key 2 is not a Fernet key" in result.stderr
    assert bad not in result.stderr and NEW_KEY not in result.stderr


def test_debug_off_without_keys_warns_and_debug_on_needs_none():
    secret_key = "k" * 20 + "-random-enough-for-a-test-0123"
    result = run_check(DEBUG="0", SECRET_KEY=secret_key)
    assert result.returncode == 0, result.stderr
    assert "peerlinks.W004" in result.stderr and "FIELD_ENCRYPTION_KEYS is not set" in result.stderr
    result = run_check(DEBUG="0", SECRET_KEY=secret_key, FIELD_ENCRYPTION_KEYS=f" {NEW_KEY} , {OLD_KEY} ")
    assert result.returncode == 0 and "peerlinks.W004" not in result.stderr
    assert "W004" not in run_check().stderr


def test_the_admin_may_not_list_an_encrypted_field(secret_model):
    from django.contrib import admin

    from peerlinks.checks import check_encrypted_fields_out_of_admin_lists

    assert check_encrypted_fields_out_of_admin_lists() == []
    admin.site.register(secret_model, list_display=["name", "value"])
    try:
        [error] = check_encrypted_fields_out_of_admin_lists()
    finally:
        admin.site.unregister(secret_model)
    assert error.id == "peerlinks.E005" and "value" in error.msg
