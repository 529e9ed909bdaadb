"""Command line of schoolcam-sim."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from protocol import __version__
from simulator.cameras import CameraSimulator, CameraSimulatorError, Fault, send_control
from simulator.fleet import FdLimitError, FleetSettings, load_passwords
from simulator.fleet.runner import run_fleet

app = typer.Typer(help="schoolcam simulator.", no_args_is_help=True, add_completion=False)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


@app.command()
def cameras(
    count: Annotated[int, typer.Option(min=1, max=256, help="Number of cameras.")] = 16,
    port: Annotated[int, typer.Option(help="RTSP port (0 picks a free one).")] = 8554,
    control_port: Annotated[
        int, typer.Option(help="Control port on 127.0.0.1 (0 picks a free one).")
    ] = 8555,
    host: Annotated[str, typer.Option(help="Address the RTSP server listens on.")] = "127.0.0.1",
    cache_dir: Annotated[
        Path | None,
        typer.Option(help="Clip cache (default $SCHOOLCAM_CACHE_DIR or ~/.cache/schoolcam/clips)."),
    ] = None,
    verbose: Annotated[bool, typer.Option(help="Log clients and faults.")] = False,
    hevc: Annotated[
        str, typer.Option(help="Cameras that send H.265 instead of H.264, e.g. '2,5'.")
    ] = "",
    login: Annotated[
        list[str] | None,
        typer.Option(help="A camera that requires a login, as CAM=USER:PASSWORD; repeatable."),
    ] = None,
) -> None:
    """Serve simulated RTSP cameras in the foreground until Ctrl-C."""
    try:
        hevc_cameras = parse_camera_list(hevc)
        logins = dict(parse_login(text) for text in login or [])
        simulator = CameraSimulator(
            count,
            host=host,
            port=port,
            control_port=control_port,
            cache_dir=cache_dir,
            log_level="INFO" if verbose else "WARNING",
            inherit_stderr=True,
            hevc=hevc_cameras,
            logins=logins,
        )
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    typer.echo(f"Starting {count} cameras (the first run also makes the clips)...", err=True)
    signal.signal(signal.SIGTERM, _interrupt)  # stop as cleanly on SIGTERM as on Ctrl-C
    try:
        simulator.start()
    except CameraSimulatorError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from error
    try:
        _print_usage(simulator)
        while simulator.running:
            time.sleep(0.5)
        typer.echo("error: the camera server stopped unexpectedly", err=True)
        raise typer.Exit(1)
    except KeyboardInterrupt:
        typer.echo("Stopping cameras.", err=True)
    finally:
        simulator.stop()


@app.command("camera-fault")
def camera_fault(
    cam: Annotated[int, typer.Argument(help="Camera number, from 1.")],
    fault: Annotated[Fault, typer.Argument(help="The fault; 'none' clears it.")],
    control_port: Annotated[int, typer.Option(help="The simulator's control port.")] = 8555,
) -> None:
    """Switch one simulated camera's fault while the simulator runs."""
    try:
        answer = send_control(control_port, f"fault {cam} {fault.value}")
    except OSError as error:
        typer.echo(f"error: no camera simulator on control port {control_port}: {error}", err=True)
        raise typer.Exit(1) from error
    if answer != "ok":
        typer.echo(answer, err=True)
        raise typer.Exit(1)
    typer.echo(f"camera {cam}: {fault.value}")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def parse_camera_list(text: str) -> set[int]:
    """'2,5' -> {2, 5}; '' -> nothing. ValueError names what is wrong."""
    cameras = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        if not part.isdigit():
            raise ValueError(f"{part!r} is not a camera number")
        cameras.add(int(part))
    return cameras


def parse_login(text: str) -> tuple[int, tuple[str, str]]:
    """'3=viewer:secret' -> (3, ('viewer', 'secret'))."""
    cam, _, credentials = text.partition("=")
    user, _, password = credentials.partition(":")
    if not cam.strip().isdigit() or not user or not password:
        raise ValueError(f"login {text.split(':')[0]!r}...: expected CAM=USER:PASSWORD")
    return int(cam), (user, password)


def _print_usage(simulator: CameraSimulator) -> None:
    typer.echo(f"{simulator.count} cameras, main 1920x1080 and sub 640x360, 25 fps:")
    for cam in range(1, simulator.count + 1):
        notes = ["H.265" if cam in simulator.hevc else "H.264"]
        if cam in simulator.logins:
            notes.append(f"login {simulator.logins[cam][0]}")
        urls = f"{simulator.url(cam)}   {simulator.url(cam, sub=True)}"
        typer.echo(f"  cam{cam:<3} {urls}   ({', '.join(notes)})")
    faults = ", ".join(fault.value for fault in Fault)
    port = simulator.control_port
    typer.echo(
        f"\nFaults: {faults}. Switch one while clients stay connected:\n"
        f"  schoolcam-sim camera-fault --control-port {port} 3 black\n"
        f"  schoolcam-sim camera-fault --control-port {port} 3 none\n"
        f"or talk to the control port (one command per line: fault, status, quit):\n"
        f"  exec 3<>/dev/tcp/127.0.0.1/{port}; echo 'fault 3 stall' >&3; read -r reply <&3;"
        f' echo "$reply"\n'
        f"  echo status | nc -q1 127.0.0.1 {port}\n"
        f"Ctrl-C stops the cameras."
    )


# --- fleet simulator ------------------------------------------------------------------------


@app.command()
def fleet(
    schools: int = typer.Option(50, help="Simulated schools, one box with 16 cameras each."),
    broker: str = typer.Option("mqtt://127.0.0.1:1883", help="Broker URL (mqtt:// or mqtts://)."),
    password_file: Path | None = typer.Option(
        None,
        help="Per-box passwords ('box_id:password' lines), or one line for every box. "
        "Without it boxes connect with their box id as user name and no password.",
    ),
    ca_file: Path | None = typer.Option(None, help="CA bundle for mqtts://."),
    fault_rate: float = typer.Option(0.5, help="Faults per box per hour."),
    fault_duration: float = typer.Option(120.0, help="Mean seconds a fault lasts."),
    telemetry_interval: float = typer.Option(30.0, help="Seconds between telemetry messages."),
    heartbeat: float = typer.Option(60.0, help="Seconds between camera-status heartbeats."),
    rate: float = typer.Option(0.0, help="Extra status/telemetry messages per second overall."),
    ramp: float = typer.Option(500.0, help="New connections per second."),
    duration: float | None = typer.Option(None, help="Stop after this many seconds."),
    seed: int = typer.Option(1, help="Same seed, same fleet."),
    prefix: str = typer.Option("sim", help="Box ids are {prefix}-0001-a."),
) -> None:
    """Run a simulated fleet of school boxes speaking the real protocol (no video)."""
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    try:
        settings = FleetSettings(
            schools=schools,
            broker_url=broker,
            prefix=prefix,
            fault_rate=fault_rate,
            fault_duration_s=fault_duration,
            telemetry_interval_s=telemetry_interval,
            heartbeat_s=heartbeat,
            rate=rate,
            ramp_per_s=ramp,
            seed=seed,
            passwords=load_passwords(password_file) if password_file else {},
            ca_file=ca_file,
        )
        run_fleet(settings, duration_s=duration, echo=typer.echo)
    except (ValueError, OSError, FdLimitError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


# --- demo -----------------------------------------------------------------------------------


@app.command()
def demo(
    data_dir: Path = typer.Option(Path("demo-data"), help="Where the demo keeps its data."),
    fresh: bool = typer.Option(False, "--fresh", help="Wipe the data dir first."),
    broker: str | None = typer.Option(
        None, help="Use this broker (mqtt://host:port) instead of the embedded one."
    ),
    host: str = typer.Option("127.0.0.1", help="Address the API listens on."),
    port: int = typer.Option(8080, help="Port the API listens on."),
    agents: int = typer.Option(2, min=0, max=8, help="Real agents (boxes recording cameras)."),
    cameras_per_agent: int = typer.Option(4, min=1, max=16, help="Simulated cameras per agent."),
    schools: int = typer.Option(50, min=0, max=10_000, help="Simulated school boxes (no video)."),
    fleet_fault_rate: float = typer.Option(
        1.0, min=0, help="Random faults per simulated box per hour."
    ),
    fault_scale: float = typer.Option(
        1.0, min=0.01, max=100, help="Stretch the fault timeline (0.1 = ten times faster)."
    ),
    no_faults: bool = typer.Option(False, "--no-faults", help="Inject no timed faults."),
    verbose: bool = typer.Option(False, help="Log at INFO (default: warnings and faults)."),
) -> None:
    """Run the whole system on this machine: broker, controller, district, agents, fleet."""
    import logging

    from simulator.demo import DemoError, DemoOptions, run_demo

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("simulator.demo").setLevel(logging.INFO)
    options = DemoOptions(
        data_dir=data_dir,
        fresh=fresh,
        broker_url=broker,
        host=host,
        port=port,
        agents=agents,
        cameras_per_agent=cameras_per_agent,
        schools=schools,
        fleet_fault_rate=fleet_fault_rate,
        fault_scale=fault_scale,
        faults=not no_faults,
    )
    try:
        run_demo(options, typer.echo)
    except DemoError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def main() -> None:
    """Console-script entry point."""
    app()
