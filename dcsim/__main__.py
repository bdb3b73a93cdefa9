"""``python -m dcsim``: run the simulator in the foreground until Ctrl-C."""

import argparse
import os
import signal

from dcsim import DEMO_AK, DEMO_SK, TEAM_B_AK, TEAM_B_SK
from dcsim.app import Simulator
from dcsim.server import make_server


def main(argv: list[str] | None = None) -> None:
    """Parse flags, serve, and stop cleanly on Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m dcsim", description="Local Huawei Cloud DC/ER/IAM simulator"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8790)
    parser.add_argument("--seed", choices=("demo", "empty"), default="demo")
    parser.add_argument("--transition-delay", type=float, default=3.0, metavar="SECONDS")
    parser.add_argument("--delete-delay", type=float, default=None, metavar="SECONDS")
    parser.add_argument("--peer-link-quota", type=int, default=3, metavar="N")
    parser.add_argument("--error-rate", type=float, default=0.0, metavar="F")
    parser.add_argument("--throttle-rate", type=float, default=0.0, metavar="F")
    parser.add_argument("--retry-after", type=int, default=1, metavar="S")
    parser.add_argument("--latency-ms", type=int, default=0, metavar="MS")
    parser.add_argument("--drop-rate", type=float, default=0.0, metavar="F")
    parser.add_argument("--drop-create-response-rate", type=float, default=0.0, metavar="F")
    parser.add_argument("--error-on-activate-rate", type=float, default=0.0, metavar="F")
    parser.add_argument("--fault-seed", type=int, default=None, metavar="N")
    parser.add_argument("--quiet", action="store_true", help="do not log one line per request")
    args = parser.parse_args(argv)

    sim = Simulator(
        seed=args.seed,
        transition_delay=args.transition_delay,
        delete_delay=args.delete_delay,
        peer_link_quota=args.peer_link_quota,
        log=not args.quiet,
        error_rate=args.error_rate,
        throttle_rate=args.throttle_rate,
        retry_after=args.retry_after,
        latency_ms=args.latency_ms,
        drop_rate=args.drop_rate,
        drop_create_response_rate=args.drop_create_response_rate,
        error_on_activate_rate=args.error_on_activate_rate,
        fault_seed=args.fault_seed,
    )
    server = make_server(sim, args.host, args.port)
    host, port = server.server_address[:2]
    extra = " (CLOUD_SDK_AK from the environment accepted too)" if os.environ.get("CLOUD_SDK_AK") else ""
    print(f"dcsim serving http://{host}:{port} seed={args.seed} AK={DEMO_AK} SK={DEMO_SK}{extra}", flush=True)
    print(f"dcsim second account team-b: AK={TEAM_B_AK} SK={TEAM_B_SK}", flush=True)
    # Ctrl-C stops it even when started with SIGINT ignored (a background job of a script inherits that).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
