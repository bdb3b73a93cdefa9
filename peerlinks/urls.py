from django.urls import path

from peerlinks.views import approvals, audit, changes, dashboard, gateways, lead, links, notices, topology

app_name = "peerlinks"
urlpatterns = [
    path("", dashboard.home, name="home"),
    path("refresh/", dashboard.refresh, name="refresh"),
    path("drift/<int:pk>/acknowledge/", dashboard.acknowledge_drift, name="drift_acknowledge"),
    path("gateways/", gateways.gateway_list, name="gateway_list"),
    path("gateways/<uuid:cloud_id>/", gateways.gateway_detail, name="gateway_detail"),
    path("links/", links.link_list, name="link_list"),
    path("links/export.csv", links.link_export, name="link_export"),
    path("links/new/", links.link_create, name="link_create"),
    path("links/new/peers/", links.peer_options, name="peer_options"),
    path("links/<uuid:cloud_id>/", links.link_detail, name="detail"),
    path("links/<uuid:cloud_id>/status/", links.link_status, name="link_status"),
    path("links/<uuid:cloud_id>/local/", links.link_local_fields, name="link_local"),
    path("links/<uuid:cloud_id>/edit/", links.link_edit, name="link_edit"),
    path("links/<uuid:cloud_id>/delete/", links.link_delete, name="link_delete"),
    path("changes/", changes.change_list, name="change_list"),
    path("changes/<int:pk>/", changes.change_detail, name="change_detail"),
    path("changes/<int:pk>/cancel/", changes.change_cancel, name="change_cancel"),
    path("changes/<int:pk>/edit/", changes.change_edit, name="change_edit"),
    path("changes/<int:pk>/approve/", changes.change_approve, name="change_approve"),
    path("changes/<int:pk>/reject/", changes.change_reject, name="change_reject"),
    path("changes/<int:pk>/run-now/", changes.change_run_now, name="change_run_now"),
    path("changes/<int:pk>/retry/", changes.change_retry, name="change_retry"),
    path("changes/<int:pk>/comments/", changes.change_comment, name="change_comment"),
    path("approvals/", approvals.approval_queue, name="approval_queue"),
    path("lead/", lead.lead_view, name="lead"),
    path("notices/", notices.notice_list, name="notice_list"),
    path("notices/read/", notices.notice_mark_read, name="notice_mark_read"),
    path("topology/", topology.topology, name="topology"),
    path("audit/", audit.audit_list, name="audit_list"),
]
