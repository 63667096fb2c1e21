"""``consortium service``: the service catalogue: centers, units, APIs."""

from __future__ import annotations

from typing import Any

import click

from cli._common import Context, emit, json_option, name_arg, pass_ctx


@click.group()
def service() -> None:
    """The service catalogue: service centers, units and APIs."""


@service.command("list")
@click.option("--center", callback=name_arg("center id"), help="Only this service center.")
@click.option("--provider", callback=name_arg("org id"), help="Only APIs of this provider.")
@json_option
@pass_ctx
def service_list(obj: Context, center: str | None, provider: str | None, as_json: bool) -> None:
    """List the catalogue, center by center."""
    registry = obj.consortium().assets
    centers = [x for x in registry.centers() if center is None or x.center == center]
    units = registry.units()
    apis = [a for a in registry.apis() if provider is None or a.provider == provider]
    tree: list[dict[str, Any]] = [
        {
            "center": x.center,
            "name": x.name,
            "units": [
                {"unit": u.unit, "name": u.name, "apis": [a for a in apis if a.unit == u.unit]}
                for u in units
                if u.center == x.center
            ],
        }
        for x in centers
    ]

    def lines() -> list[str]:
        out = []
        for x in tree:
            out.append(f"{x['center']}  {x['name']}")
            for u in x["units"]:
                out.append(f"  {u['unit']}  {u['name']}")
                for a in u["apis"]:
                    out.append(
                        f"    {a.method:<6} {a.route:<44} {a.api:<24} {a.provider:<14} asset {a.asset}"
                        + ("" if a.active else " (retired)")
                    )
        return out or ["no services"]

    emit(as_json, tree, lines)
