"""The Django admin (staff only): policy, roles and users, cloud accounts; peer links; requests and audit
log read-only."""

from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import display_for_value
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from peerlinks import cloud
from peerlinks.forms import (
    AccountRegionsForm,
    CloudAccountDescriptionForm,
    CloudAccountForm,
    IamRegionForm,
    WebhookSubscriptionForm,
)
from peerlinks.models import (
    AccountRole,
    Approval,
    AuditEvent,
    ChangeRequest,
    CloudAccount,
    Comment,
    Notice,
    PeerLink,
    Policy,
    Preferences,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from peerlinks.presentation.charts import format_duration
from peerlinks.presentation.text import describe_cloud_error
from peerlinks.services import accounts, webhooks
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
        # A link's last sync is its gateway's (PeerLink.last_synced_at); the digest is the sync's own.
        shown = ["last_synced_at" if f.name == "synced_at" else f.name for f in PeerLink._meta.fields]
        shown.remove("cloud_digest")
        if obj is not None and obj.gone_at is not None:
            return shown  # kept for its history only
        return [name for name in shown if name not in self.local_fields]

    @admin.display(description=_("last synced"))
    def last_synced_at(self, obj: PeerLink) -> str:
        return display_for_value(obj.last_synced_at, self.get_empty_value_display())

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


@admin.register(CloudAccount)
class CloudAccountAdmin(admin.ModelAdmin):
    """Cloud accounts: added and edited by admins, every save audited (peerlinks.services.accounts).

    Credentials are write-only; the first account (the CLOUD_* settings) is shown, only its description
    edited. Regions are ticked on their own page, among those the account's IAM projects name. Accounts are
    never deleted here: their history (audit events, projects) names them; untick every region instead."""

    list_display = ("name", "description", "shown_auth", "shown_regions", "shown_source")
    search_fields = ("name", "description")
    readonly_fields = ("settings_note", "shown_auth", "shown_regions")
    change_form_template = "admin/peerlinks/cloudaccount/change_form.html"

    def get_form(self, request: HttpRequest, obj: CloudAccount | None = None, **kwargs: Any) -> Any:
        if obj is not None and obj.from_environment:
            kwargs["form"] = CloudAccountDescriptionForm
        else:
            kwargs["form"] = CloudAccountForm
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: CloudAccount | None = None) -> list:
        if obj is not None and obj.from_environment:
            return [
                (
                    None,
                    {"fields": ["shown_name", "settings_note", "description", "shown_auth", "shown_regions"]},
                )
            ]

        # A "Clear" box only next to a credential that is stored.
        def clear(name: str) -> list[str]:
            return [f"clear_{name}"] if obj is not None and getattr(obj, name) else []

        return [
            (None, {"fields": ["name", "description", "auth"]}),
            (
                _("Access key (AK/SK)"),
                {"fields": ["access_key", *clear("access_key"), "secret_key", *clear("secret_key")]},
            ),
            (
                _("IAM user (token)"),
                {"fields": ["iam_domain", "iam_user", "iam_password", *clear("iam_password")]},
            ),
            (_("Regions and endpoints"), {"fields": [*(["shown_regions"] if obj else []), "endpoints"]}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: CloudAccount | None = None) -> list[str]:
        if obj is not None and obj.from_environment:
            return ["shown_name", "settings_note", "shown_auth", "shown_regions"]
        return ["shown_regions"]

    def has_delete_permission(self, request: HttpRequest, obj: CloudAccount | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: CloudAccount, form: Any, change: bool) -> None:
        accounts.save_account(obj, user=request.user)

    def response_add(self, request: HttpRequest, obj: CloudAccount, post_url_continue: str | None = None):
        """A new account manages no region yet: go on to choosing them (unless adding another)."""
        if "_addanother" in request.POST or "_popup" in request.POST:
            return super().response_add(request, obj, post_url_continue)
        messages.success(
            request,
            gettext("The account %(name)s was added. Choose the regions dcportal manages in it.")
            % {"name": obj.name},
        )
        return HttpResponseRedirect(reverse("admin:peerlinks_cloudaccount_regions", args=[obj.pk]))

    @admin.display(description=CloudAccount._meta.get_field("name").verbose_name)
    def shown_name(self, account: CloudAccount) -> str:
        return account.name  # without the field's help, which is for typing one

    @admin.display(description=_("from the CLOUD_* settings"))
    def shown_source(self, account: CloudAccount) -> str:
        return gettext("yes") if account.from_environment else ""

    @admin.display(description=_("from the CLOUD_* settings"))
    def settings_note(self, account: CloudAccount) -> str:
        return gettext(
            "Its credentials (CLOUD_AUTH, CLOUD_SDK_AK and CLOUD_SDK_SK, or CLOUD_IAM_*), regions "
            "(CLOUD_REGIONS) and endpoints (CLOUD_ENDPOINT, CLOUD_ENDPOINTS) are read from the settings; "
            "change them there. Only the description is edited here."
        )

    @admin.display(description=_("authentication"))
    def shown_auth(self, account: CloudAccount) -> str:
        auth = settings.CLOUD_AUTH if account.from_environment else account.auth
        return CloudAccount.Auth(auth).label

    @admin.display(description=_("managed regions"))
    def shown_regions(self, account: CloudAccount) -> str:
        regions = ", ".join(account.managed_regions) or gettext("none yet")
        url = reverse("admin:peerlinks_cloudaccount_regions", args=[account.pk])
        return format_html('{} · <a href="{}">{}</a>', regions, url, gettext("Discover regions"))

    def get_urls(self) -> list:
        regions = self.admin_site.admin_view(self.regions_view)
        return [
            path("<path:object_id>/regions/", regions, name="peerlinks_cloudaccount_regions"),
            *super().get_urls(),
        ]

    def regions_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The regions the account's IAM projects name, to tick those dcportal manages; saving queues a sync
        of those added. A cloud failure is said in plain words (and technically, keys redacted)."""
        account = self.get_object(request, object_id)
        if account is None:
            raise Http404
        if not self.has_change_permission(request, account):
            raise PermissionDenied
        ask = IamRegionForm(request.GET)
        found, problem, detail = [], "", ""
        if request.method == "POST":
            form = AccountRegionsForm(request.POST, account=account)
            if form.is_valid():
                try:
                    added, queued = accounts.set_regions(
                        account, regions=form.cleaned_data["regions"], user=request.user
                    )
                except ValidationError as exc:
                    form.add_error("regions", exc)
                else:
                    self.message_user(request, self._regions_saved(added, queued), messages.SUCCESS)
                    return HttpResponseRedirect(
                        reverse("admin:peerlinks_cloudaccount_change", args=[account.pk])
                    )
        else:
            found, problem, detail = self._discover(account, ask)
            form = AccountRegionsForm(account=account, found=found)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Regions of %(name)s") % {"name": account.name},
            "opts": self.opts,
            "account": account,
            "ask": ask,
            "default_region": accounts.iam_region(account),
            "form": form,
            "found": found,
            "problem": problem,
            "detail": detail,
        }
        return TemplateResponse(request, "admin/peerlinks/cloudaccount/regions.html", context)

    @staticmethod
    def _discover(account: CloudAccount, ask: IamRegionForm) -> tuple[list[str], str, str]:
        """The regions IAM names for the account, or the cloud's failure: in plain words, and as the
        client said it (keys redacted)."""
        if not ask.is_valid():
            return [], "", ""
        try:
            return accounts.discover_regions(account, region=ask.cleaned_data["region"]), "", ""
        except cloud.CloudError as exc:
            return [], describe_cloud_error(exc), str(exc)

    @staticmethod
    def _regions_saved(added: list[str], queued: bool) -> str:
        if not added:
            return gettext("Regions saved.")
        if queued:
            return gettext("Regions saved. A sync is queued: the regions added appear once it is done.")
        return gettext(
            "Regions saved. A sync is already waiting or running: the regions added are synced by it or, at "
            "the latest, by the next one."
        )


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    """Webhooks and chat rooms that hear about events; every save audited (peerlinks.services.webhooks),
    the secret write-only. Their deliveries, attempt by attempt, are listed under webhook deliveries."""

    form = WebhookSubscriptionForm
    list_display = (
        "name",
        "format",
        "shown_events",
        "account",
        "gateway",
        "shown_active",
        "shown_deliveries",
    )
    list_filter = ("active", "format")
    search_fields = ("name", "url")
    fieldsets = (
        (None, {"fields": ("name", "url", "format", "secret", "clear_secret", "active")}),
        (_("What it hears about"), {"fields": ("events", "account", "gateway")}),
    )

    def save_model(self, request: HttpRequest, obj: WebhookSubscription, form: Any, change: bool) -> None:
        webhooks.save_subscription(obj, user=request.user)

    @admin.display(description=WebhookSubscription._meta.get_field("active").verbose_name, ordering="active")
    def shown_active(self, subscription: WebhookSubscription) -> str:
        return gettext("yes") if subscription.active else gettext("no")  # words, where Django draws an icon

    @admin.display(description=_("events"))
    def shown_events(self, subscription: WebhookSubscription) -> str:
        labels = dict(WebhookSubscription.Event.choices)
        return ", ".join(str(labels.get(event, event)) for event in subscription.events or [])

    @admin.display(description=_("deliveries"))
    def shown_deliveries(self, subscription: WebhookSubscription) -> str:
        url = reverse("admin:peerlinks_webhookdelivery_changelist")
        return format_html(
            '<a href="{}?subscription__id__exact={}">{}</a>', url, subscription.pk, gettext("Log")
        )


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


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = readonly_fields = ("at", "status_code", "response_excerpt", "duration_ms", "error")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    """The delivery log: each event sent to each webhook, attempt by attempt; a delivered or failed one
    can be sent again ("Redeliver", audited)."""

    list_display = ("created_at", "event_type", "subscription", "state", "attempts", "next_attempt_at")
    list_filter = ("state", "event_type", "subscription")
    search_fields = ("event_id",)
    list_select_related = ("subscription",)
    fields = (
        "subscription",
        "event_id",
        "event_type",
        "state",
        "attempts",
        "next_attempt_at",
        "created_at",
        "finished_at",
        "event",
    )
    readonly_fields = fields
    inlines = [WebhookAttemptInline]
    actions = ["redeliver"]
    change_form_template = "admin/peerlinks/webhookdelivery/change_form.html"

    def get_urls(self) -> list:
        redeliver = self.admin_site.admin_view(self.redeliver_view)
        return [
            path("<path:object_id>/redeliver/", redeliver, name="peerlinks_webhookdelivery_redeliver"),
            *super().get_urls(),
        ]

    def has_redeliver_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("peerlinks.change_webhooksubscription")

    @admin.action(description=_("Redeliver"), permissions=["redeliver"])
    def redeliver(self, request: HttpRequest, queryset: Any) -> None:
        sent = 0
        for delivery in queryset:
            try:
                webhooks.redeliver(delivery.pk, user=request.user)
            except ValidationError as exc:
                self.message_user(request, f"{delivery}: {' '.join(exc.messages)}", messages.WARNING)
            else:
                sent += 1
        if sent:
            self.message_user(request, gettext("Queued to be sent again: %(count)s.") % {"count": sent})

    def redeliver_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The delivery page's "Redeliver" button (a POST)."""
        delivery = self.get_object(request, object_id)
        if delivery is None:
            raise Http404
        if request.method != "POST" or not self.has_redeliver_permission(request):
            raise PermissionDenied
        try:
            webhooks.redeliver(delivery.pk, user=request.user)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.WARNING)
        else:
            self.message_user(request, gettext("Queued to be sent again: %(count)s.") % {"count": 1})
        return HttpResponseRedirect(reverse("admin:peerlinks_webhookdelivery_change", args=[delivery.pk]))

    def render_change_form(self, request: HttpRequest, context: dict, *args: Any, **kwargs: Any) -> Any:
        obj = context.get("original")
        context["can_redeliver"] = (
            obj is not None
            and obj.state in (WebhookDelivery.State.DELIVERED, WebhookDelivery.State.FAILED)
            and self.has_redeliver_permission(request)
        )
        return super().render_change_form(request, context, *args, **kwargs)


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
