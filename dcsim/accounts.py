"""The simulated accounts: each an IAM domain with one user, AK/SK pairs and a project per region."""

import os
from dataclasses import dataclass, field

from dcsim import (
    DEMO_AK,
    DEMO_DOMAIN,
    DEMO_IAM_PASSWORD,
    DEMO_IAM_USER,
    DEMO_SK,
    REGIONS,
    TEAM_B_AK,
    TEAM_B_DOMAIN,
    TEAM_B_IAM_PASSWORD,
    TEAM_B_IAM_USER,
    TEAM_B_SK,
    project_id_for,
)


@dataclass
class SimAccount:
    """One account: its domain (name and ID), IAM user, AK -> SK pairs and project ID -> region."""

    name: str
    user_name: str
    password: str
    credentials: dict[str, str]
    projects: dict[str, str] = field(default_factory=dict)
    domain_id: str = ""
    user_id: str = ""

    def __post_init__(self) -> None:
        self.projects = self.projects or {project_id_for(region, self.name): region for region in REGIONS}
        if self.name == DEMO_DOMAIN:
            self.domain_id = self.domain_id or project_id_for("domain")
        else:
            self.domain_id = self.domain_id or project_id_for("domain", self.name)
        self.user_id = self.user_id or project_id_for(f"user:{self.user_name}", self.name)


def default_accounts() -> list[SimAccount]:
    """The demo account (plus CLOUD_SDK_AK/SK from the environment, if set) and team-b."""
    demo = SimAccount(DEMO_DOMAIN, DEMO_IAM_USER, DEMO_IAM_PASSWORD, {DEMO_AK: DEMO_SK})
    env_ak, env_sk = os.environ.get("CLOUD_SDK_AK"), os.environ.get("CLOUD_SDK_SK")
    if env_ak and env_sk:
        demo.credentials[env_ak] = env_sk
    team_b = SimAccount(TEAM_B_DOMAIN, TEAM_B_IAM_USER, TEAM_B_IAM_PASSWORD, {TEAM_B_AK: TEAM_B_SK})
    return [demo, team_b]
