"""Re-encrypt every stored credential with the newest key in FIELD_ENCRYPTION_KEYS."""

from django.core.management.base import BaseCommand, CommandError
from django.db import connections, router, transaction

from peerlinks.encryption import DecryptionError, encrypted_fields, is_current, rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted value with the first key in FIELD_ENCRYPTION_KEYS, in batches. "
        "Safe to run again; afterwards the older keys can be removed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500, help="rows per transaction (default 500)")

    def handle(self, *args, batch_size: int, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be 1 or more.")
        total_rotated = total_current = 0
        for model, names in encrypted_fields():
            rotated, current = self._rotate_model(model, names, batch_size)
            total_rotated += rotated
            total_current += current
            self.stdout.write(f"{model._meta.label}: {rotated} re-encrypted, {current} already current")
        self.stdout.write(f"Done: {total_rotated} values re-encrypted, {total_current} already current.")

    def _rotate_model(self, model, names: list[str], batch_size: int) -> tuple[int, int]:
        """Raw column values (tokens), read and written by primary key, one transaction per batch."""
        alias = router.db_for_write(model)
        connection = connections[alias]
        quote = connection.ops.quote_name
        meta = model._meta
        pk = quote(meta.pk.column)
        columns = [quote(meta.get_field(name).column) for name in names]
        table = quote(meta.db_table)
        select = f"SELECT {pk}, {', '.join(columns)} FROM {table} WHERE {pk} > %s ORDER BY {pk} LIMIT %s"
        rotated = current = 0
        last = None
        while True:
            with transaction.atomic(using=alias), connection.cursor() as cursor:
                if last is None:
                    cursor.execute(select.replace(f"WHERE {pk} > %s ", ""), [batch_size])
                else:
                    cursor.execute(select, [last, batch_size])
                rows = cursor.fetchall()
                for row in rows:
                    changes = {}
                    for column, token in zip(columns, row[1:], strict=True):
                        if token is None or token == "":
                            continue
                        if is_current(token):
                            current += 1
                            continue
                        try:
                            changes[column] = rotate(token)
                        except DecryptionError as exc:
                            raise CommandError(f"{meta.label} row {row[0]}: {exc}") from None
                    if changes:
                        assignments = ", ".join(f"{column} = %s" for column in changes)
                        cursor.execute(
                            f"UPDATE {table} SET {assignments} WHERE {pk} = %s", [*changes.values(), row[0]]
                        )
                        rotated += len(changes)
            if len(rows) < batch_size:
                return rotated, current
            last = rows[-1][0]
