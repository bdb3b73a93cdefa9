"""A region's last sync problem is stored by kind (peerlinks.presentation.text.cloud_problem), no longer as an
English sentence, so each reader gets it in their language. Sentences stored before are turned into their
kind; one that is not recognised is dropped (the page then says the last sync failed, the technical text
stays), and the next sync stores it afresh."""

import json
import re

from django.db import migrations

SENTENCES = {
    "Huawei Cloud did not answer in time.": "timeout",
    "dcportal cannot reach Huawei Cloud (no connection to its API).": "unreachable",
    "Huawei Cloud does not accept dcportal's credentials: an administrator needs to check its access keys.": (
        "credentials"
    ),
    "Huawei Cloud refuses this to dcportal's account: an administrator needs to check its IAM permissions.": (
        "forbidden"
    ),
    "Huawei Cloud is limiting how often dcportal may ask; it tries again shortly.": "throttled",
    "Huawei Cloud answered with a server error; dcportal tries again shortly.": "server",
    "Huawei Cloud answered something dcportal does not understand.": "invalid",
    "Huawei Cloud does not know this resource (it may have been deleted).": "not_found",
    "Huawei Cloud says the resource is busy (a change to it is still under way).": "busy",
    "A call to Huawei Cloud failed.": "failed",
}
REFUSED = "Huawei Cloud refused the request: "
GATEWAYS = re.compile(r"^The peer links of (\d+) gateways? could not be listed: (.*)$", re.S)


def _kind(sentence: str) -> dict | None:
    if sentence in SENTENCES:
        return {"kind": SENTENCES[sentence]}
    if sentence.startswith(REFUSED):
        return {"kind": "refused", "message": sentence.removeprefix(REFUSED)}
    return None


def _stored(sentence: str) -> str:
    if not sentence or sentence.startswith("{"):
        return sentence
    if match := GATEWAYS.match(sentence):
        cause = _kind(match.group(2)) or {"kind": "failed"}
        return json.dumps({"kind": "gateways", "count": int(match.group(1)), "cause": cause})
    problem = _kind(sentence)
    return json.dumps(problem) if problem else ""


def by_kind(apps, schema_editor):
    CloudProject = apps.get_model("peerlinks", "CloudProject")
    for project in CloudProject.objects.exclude(sync_problem=""):
        stored = _stored(project.sync_problem)
        if stored != project.sync_problem:
            CloudProject.objects.filter(pk=project.pk).update(sync_problem=stored)


class Migration(migrations.Migration):
    dependencies = [
        ("peerlinks", "0012_cloud_problem"),
    ]

    operations = [
        migrations.RunPython(by_kind, migrations.RunPython.noop),
    ]
