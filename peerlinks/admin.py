"""The Django admin: peer links listed for admins (and as the baseline the list page is measured against)."""

from django.contrib import admin

from peerlinks.models import PeerLink


@admin.register(PeerLink)
class PeerLinkAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "status",
        "gateway",
        "peer_type",
        "peer_gateway_id",
        "peer_region",
        "cloud_updated_at",
    )
    list_filter = ("status", "peer_type")
    search_fields = ("name", "cloud_id")
