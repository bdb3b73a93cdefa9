"""A live look at the cloud, region by region, that survives one region being unreachable."""

from dataclasses import dataclass, field

from peerlinks import cloud


@dataclass
class RegionOverview:
    region: str
    gateways: list[cloud.GlobalDcGateway] = field(default_factory=list)
    error: str = ""


def fetch_gateway_overview(*, regions: list[str]) -> list[RegionOverview]:
    """List the global DC gateways of every region; a failing region carries its error instead."""
    overview = []
    for region in regions:
        item = RegionOverview(region=region)
        try:
            item.gateways = list(cloud.list_global_dc_gateways(region=region))
        except cloud.CloudError as exc:
            item.error = str(exc)
        overview.append(item)
    return overview
