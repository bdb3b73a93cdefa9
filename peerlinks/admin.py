"""The Django admin (staff only): policy, roles and users; peer links; requests and audit log read-only."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext_lazy as _

from peerlinks.models import (
    AccountRole,
    Approval,
    AuditEvent,
    ChangeRequest,
    Comment,
    Notice,
    PeerLink,
    Policy,
    Preferences,
)
from peerlinks.presentation.charts import format_duration
from peerlinks.services.lifecycle import save_policy
from peerlinks.services.links import update_local_fields
from peerlinks.services.notifications import shown_notice
from peerlinks.services.roles import add_account_role, remove_account_role


@admin.register(PeerLink)
class PeerLinkAdmin(admin.ModelAdmin):
    """A cached link: what the cloud owns (and the cache's own stamps) is shown, never edited here, since
    the next sync would take an edit for a change made in the cloud; the local fields are edited through
    the same service as the link page, so each edit is audited."""

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
    local_fields = ("owner_team", "ticket_ref", "labels")

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        if obj is not None and obj.gone_at is not None:
            return [field.name for field in PeerLink._meta.fields]  # kept for its history only
        return [field.name for field in PeerLink._meta.fields if field.name not in self.local_fields]

    def has_add_permission(self, request) -> bool:
        return False  # links are made in the cloud, through a change request

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # kept for their history; a link gone from the cloud is marked gone by the sync

    def save_model(self, request, obj: PeerLink, form, change: bool) -> None:
        update_local_fields(
            link_id=obj.pk,
            user=request.user,
            owner_team=obj.owner_team,
            ticket_ref=obj.ticket_ref,
            labels=list(obj.labels or []),
        )


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin):
    list_display = ("__str__", "approvals_create", "approvals_update", "approvals_delete", "expiry")
    fieldsets = (
        (
            _("Approvals required"),
            {
                "fields": (
                    "approvals_create",
                    "approvals_update",
                    "approvals_delete",
                    "cross_account_approval",
                )
            },
        ),
        (_("Expiry"), {"fields": ("expire_after",)}),
        (_("Change window"), {"fields": ("window_enabled", "window_weekdays", "window_start", "window_end")}),
    )

    def has_add_permission(self, request) -> bool:
        return not Policy.objects.exists()  # one row

    @admin.display(description=Policy._meta.get_field("expire_after").verbose_name, ordering="expire_after")
    def expiry(self, policy: Policy) -> str:
        return format_duration(policy.expire_after.total_seconds())

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj: Policy, form, change: bool) -> None:
        save_policy(obj, user=request.user)


class ReadOnlyAdmin(admin.ModelAdmin):
    """A record of what happened: looked at here, never changed here."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ApprovalInline(admin.TabularInline):
    model = Approval
    extra = 0
    can_delete = False
    readonly_fields = ("approver", "decision", "comment", "payload_digest", "decided_at")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ChangeRequest)
class ChangeRequestAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "kind", "state", "requested_by", "gateway", "approvals_required", "created_at")
    list_filter = ("state", "kind")
    search_fields = ("payload", "requested_by__username")
    date_hierarchy = "created_at"
    inlines = [ApprovalInline]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor", "action", "object_type", "shown_object")
    list_filter = ("action", "object_type")
    search_fields = ("actor_name", "object_repr", "object_id", "cloud_request_id")
    date_hierarchy = "at"
    list_select_related = ("change_request",)
    # Who and what in the reader's language (the stored actor name and object are kept as recorded).
    fields = (
        "at",
        "actor",
        "action",
        "object_type",
        "object_id",
        "shown_object",
        "before",
        "after",
        "cloud_request_id",
        "change_request",
    )
    readonly_fields = ("actor", "shown_object")

    @admin.display(description=_("actor"), ordering="actor_name")
    def actor(self, event: AuditEvent) -> str:
        return event.shown_actor

    @admin.display(description=_("object"), ordering="object_repr")
    def shown_object(self, event: AuditEvent) -> str:
        return event.shown_object


@admin.register(Comment)
class CommentAdmin(ReadOnlyAdmin):
    list_display = ("change_request", "author", "created_at")


@admin.register(Notice)
class NoticeAdmin(ReadOnlyAdmin):
    list_display = ("user", "notice", "created_at", "read_at")
    list_filter = ("read_at",)
    # What happened is shown in the reader's language, not as stored (its kind and details, or English).
    fields = ("user", "change_request", "notice", "created_at", "read_at")
    readonly_fields = ("notice",)

    @admin.display(description=_("message"))
    def notice(self, notice: Notice) -> str:
        return shown_notice(notice)


class PreferencesInline(admin.StackedInline):
    """The language and time zone a user's pages and mail are in, on the user's own admin page."""

    model = Preferences
    can_delete = False
    fields = ("language", "time_zone", "browser_time_zone")
    readonly_fields = ("browser_time_zone",)  # what their browser last reported


class AccountRoleInline(admin.TabularInline):
    """The roles a user holds for one account only (their groups are the roles for every account).

    Each one given or taken away is audited (services.roles); a row from the identity provider is taken
    away again by the next single sign-on login unless the IdP still gives it."""

    model = AccountRole
    extra = 0
    fields = ("account", "role", "from_idp")
    readonly_fields = ("from_idp",)


admin.site.unregister(get_user_model())


@admin.register(get_user_model())
class UserWithPreferencesAdmin(UserAdmin):
    inlines = [*UserAdmin.inlines, PreferencesInline, AccountRoleInline]

    def save_formset(self, request, form, formset, change: bool) -> None:
        if formset.model is not AccountRole:
            return super().save_formset(request, form, formset, change)
        formset.save(commit=False)
        for row in formset.deleted_objects:
            remove_account_role(row=row, by=request.user)
        for row, _fields in formset.changed_objects:  # another account or role: the old one goes
            remove_account_role(row=AccountRole.objects.get(pk=row.pk), by=request.user)
        for row in [*formset.new_objects, *(row for row, _fields in formset.changed_objects)]:
            add_account_role(user=form.instance, account=row.account, role=row.role, by=request.user)
