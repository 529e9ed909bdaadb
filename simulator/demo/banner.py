"""What the demo prints once it runs: where to look, who to log in as, what will break when."""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulator.demo.district import DISTRICT_NAME

if TYPE_CHECKING:
    from simulator.demo.runner import Demo

__all__ = ["banner"]


def banner(demo: Demo) -> str:
    options = demo.options
    url = demo.url
    ops = next(login for login in demo.logins if login.role == "ops")
    cameras = options.agents * options.cameras_per_agent
    width = max(len(login.username) for login in demo.logins) + 2
    logins = "\n".join(
        f"  {login.username:<{width}}{login.password:<16}{login.what}" for login in demo.logins
    )
    types: dict[str, int] = {}
    for school in demo.schools:
        kind = "migrant workers' children" if school.migrant else school.type
        types[kind] = types.get(kind, 0) + 1
    mix = ", ".join(f"{n} {kind}" for kind, n in sorted(types.items(), key=lambda kv: -kv[1]))
    api = f"{url}/api/v1"
    auth = 'H="Authorization: Bearer $TOKEN"'
    faults = (
        f"on a {300 * options.fault_scale:.0f} s timeline (real camera dark, simulated box "
        f"uplink lost, real camera blurred ...), logged as 'fault injected: ...'"
        if options.faults
        else "off (--no-faults)"
    )
    agents = f"{options.agents} agent" + ("" if options.agents == 1 else "s")
    return f"""
schoolcam demo is running (data in {demo.data_dir})

  API         {url}
  API docs    {url}/docs
  broker      {demo.broker_url} ({demo.broker_kind})
  district    {DISTRICT_NAME}: {len(demo.schools)} schools ({mix})
  real boxes  {agents} recording {cameras} simulated RTSP cameras
  simulated   {options.schools} school boxes (real protocol, no video)
  faults      {faults}

Logins (also in {demo.data_dir / "logins.json"}):
{logins}

Look around:
  TOKEN=$(curl -s -d 'username={ops.username}&password={ops.password}' {api}/auth/token \\
          | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  {auth}
  curl -s -H "$H" {api}/fleet/summary
  curl -s -H "$H" '{api}/alarms?active=true'
  curl -s -H "$H" '{api}/cameras?online=false&limit=20'
  curl -s -H "$H" '{api}/schools?type=kindergarten'
  curl -s -H "$H" {api}/boxes/{demo.schools[0].box_id}

Ctrl-C stops everything.
"""
