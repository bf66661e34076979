"""Re-seal every encrypted value with the primary (first) key of FIELD_ENCRYPTION_KEYS.

Rotation: put the new key first, keep the old one after it, deploy, run this command, then
remove the old key. Values that cannot be opened stop the command before anything is written.
"""

from __future__ import annotations

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from syncportal.crypto import DecryptionError, get_keyring
from syncportal.fields import EncryptedTextField, Secret


def encrypted_fields():
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if isinstance(field, EncryptedTextField):
                yield model, field


class Command(BaseCommand):
    help = "Re-encrypt stored secrets with the primary key of FIELD_ENCRYPTION_KEYS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count what would be re-encrypted; write nothing.",
        )

    def handle(self, *args, dry_run: bool, **options) -> None:
        keyring = get_keyring()
        total = 0
        with transaction.atomic():
            for model, field in encrypted_fields():
                rotated = 0
                rows = (
                    model._default_manager.select_for_update()
                    .exclude(**{field.attname: None})
                    .only("pk", field.attname)
                )
                for obj in rows.iterator(chunk_size=500):
                    secret: Secret = getattr(obj, field.attname)
                    if not keyring.needs_rotation(secret.token):
                        continue
                    try:
                        plaintext = secret.reveal()
                    except DecryptionError as exc:
                        label = f"{model._meta.label} #{obj.pk} {field.name}"
                        raise CommandError(f"{label}: {exc}; nothing was changed.") from None
                    rotated += 1
                    if not dry_run:
                        setattr(obj, field.attname, plaintext)
                        obj.save(update_fields=[field.attname])
                total += rotated
                self.stdout.write(f"{model._meta.label}.{field.name}: {rotated} re-encrypted")
            if dry_run:
                transaction.set_rollback(True)
        verb = "would be re-encrypted" if dry_run else "re-encrypted"
        self.stdout.write(
            self.style.SUCCESS(f"{total} value(s) {verb} with key id {keyring.primary_kid!r}.")
        )
