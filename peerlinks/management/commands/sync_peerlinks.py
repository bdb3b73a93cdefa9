"""Sync the cache with the cloud now, in this process, and say what changed."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from peerlinks.services.sync import sync_all


class Command(BaseCommand):
    help = "Fetch every managed region's gateways, routers and peer links and reconcile the cache."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--region", action="append", help="Only this region (repeatable).")

    def handle(self, *args: object, region: list[str] | None = None, **options: object) -> None:
        results = sync_all(regions=region or None)
        for r in results:
            if r.ok:
                self.stdout.write(
                    f"{r.region}: {r.gateways} gateways, {r.links_created} new links, "
                    f"{r.links_updated} updated, {r.links_gone} gone, {r.drifts} drift"
                    + (f" (warnings: {'; '.join(r.warnings)})" if r.warnings else "")
                )
            else:
                self.stderr.write(f"{r.region}: sync failed: {r.error}")
        if not any(r.ok for r in results):
            raise CommandError("No region could be synced.")
