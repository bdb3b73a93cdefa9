"""dcsim: a local, wire-compatible stand-in for Huawei Cloud's DC, ER and IAM APIs.

Standard library only. Start it with ``python -m dcsim`` or ``dcsim.server.start_background``.
"""

import hashlib

DEMO_AK = "DCSIMDEMOAK000000000"
DEMO_SK = "DcsimDemoSecretKeyNotForProduction000000"
DEMO_DOMAIN = "dcsim-demo"
DEMO_IAM_USER = "dcsim-user"
DEMO_IAM_PASSWORD = "dcsim-password"

# A second account (every seed has it; ``demo`` gives it a gateway and a router shared with the first).
TEAM_B_AK = "DCSIMTEAMBAK00000000"
TEAM_B_SK = "DcsimTeamBSecretKeyNotForProduction0000"
TEAM_B_DOMAIN = "team-b"
TEAM_B_IAM_USER = "team-b-user"
TEAM_B_IAM_PASSWORD = "team-b-password"

# The official SDK's DC and ER region tables (33 regions), plus the internal regions of doc examples.
REGIONS: tuple[str, ...] = (
    "af-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "cn-east-3",
    "cn-east-4",
    "cn-east-5",
    "cn-north-11",
    "cn-north-12",
    "cn-north-2",
    "cn-north-4",
    "cn-north-9",
    "cn-south-1",
    "cn-southwest-2",
    "cn-southwest-3",
    "la-north-2",
    "la-south-2",
    "me-east-1",
    "my-kualalumpur-1",
    "sa-brazil-1",
    "tr-west-1",
    "cn-east-2",
    "cn-north-1",
    "cn-south-2",
    "cn-south-4",
    "eu-west-0",
    "eu-west-101",
    "na-mexico-1",
    "ae-ad-1",
    "af-north-1",
    "ap-southeast-5",
    "ru-moscow-1",
    "cn-southwest-242",
    "cn-southwest-246",
)


def project_id_for(region: str, account: str = DEMO_DOMAIN) -> str:
    """An account's project ID in a region: 32 lowercase hex, the same on every run (the demo account's
    IDs are the ones it has always had)."""
    key = f"dcsim:{region}" if account == DEMO_DOMAIN else f"dcsim:{account}:{region}"
    return hashlib.md5(key.encode()).hexdigest()
