"""Serve the deployments of ``prefect.yaml`` from this process: schedules without a work pool or worker.

    prefect server start                                  # in another terminal
    export PREFECT_API_URL=http://127.0.0.1:4200/api
    python flows/serve.py [prefect.yaml] [--limit N]      # or: python flows/sync.py --serve

``prefect.yaml`` stays the one source of truth for names, entrypoints, parameters, cron
schedules, time zones and per-deployment concurrency limits; this module reads it and hands every
deployment to :func:`prefect.serve`. It refuses (exit 2) when ``prefect deploy`` has put deployments
of the same names in a work pool: one path owns the names, never both. The process runs until interrupted; on SIGTERM/Ctrl-C
Prefect pauses the served schedules. A real Prefect server is required: on the temporary server
Prefect starts when ``PREFECT_API_URL`` is unset it refuses to schedule anything.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if __package__ in (None, ""):  # `python flows/serve.py` from a checkout: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.schedules import Cron, Schedule

from ecauto_lib.errors import ConfigError
from tasks._common import quiet_prefect

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

DEFAULT_PATH = "prefect.yaml"
# Schedule keys this module understands (a subset of what `prefect deploy` accepts).
_CRON_KEYS = {"cron", "timezone", "day_or", "active", "parameters", "slug"}
_NO_SERVER = (
    "not set. Serving schedules needs a running Prefect server: start one with "
    "`prefect server start`, then `export PREFECT_API_URL=http://127.0.0.1:4200/api`. "
    "(Without it Prefect would start a temporary server, which cannot schedule flow runs.)"
)


@dataclass(frozen=True)
class DeploymentSpec:
    """One deployment of ``prefect.yaml``, as far as serving it is concerned."""

    name: str
    entrypoint: str  # "flows/sync.py:sync", relative to the directory of prefect.yaml
    parameters: dict[str, Any] = field(default_factory=dict)
    schedules: tuple[Schedule, ...] = ()
    concurrency: ConcurrencyLimitConfig | None = None
    description: str | None = None
    tags: tuple[str, ...] = ()


def read_deployment_specs(path: str | Path = DEFAULT_PATH) -> list[DeploymentSpec]:
    """Every deployment of the prefect.yaml at ``path``; ConfigError names what is wrong."""
    source = Path(path)
    if not source.is_file():
        raise ConfigError(str(source), "file not found")
    try:
        document = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(str(source), f"not valid YAML: {exc}") from None
    deployments = document.get("deployments") if isinstance(document, Mapping) else None
    if not isinstance(deployments, list) or not deployments:
        raise ConfigError(str(source), "no `deployments:` list")
    return [deployment_spec(raw, f"{source}: deployments[{i}]") for i, raw in enumerate(deployments)]


def deployment_spec(raw: Any, where: str) -> DeploymentSpec:
    """One ``deployments:`` entry as a :class:`DeploymentSpec`."""
    if not isinstance(raw, Mapping):
        raise ConfigError(where, "a deployment must be a mapping")
    name, entrypoint = raw.get("name"), raw.get("entrypoint")
    if not name or not isinstance(name, str):
        raise ConfigError(where, "`name` is required")
    where = f"{where} ({name})"
    if not isinstance(entrypoint, str) or ":" not in entrypoint:
        raise ConfigError(where, "`entrypoint` must look like path/to/file.py:flow_function")
    parameters = raw.get("parameters") or {}
    if not isinstance(parameters, Mapping):
        raise ConfigError(where, "`parameters` must be a mapping")
    tags = raw.get("tags") or []
    return DeploymentSpec(
        name=name,
        entrypoint=entrypoint,
        parameters=dict(parameters),
        schedules=tuple(cron_schedule(s, where) for s in _schedule_entries(raw, where)),
        concurrency=concurrency_config(raw.get("concurrency_limit"), where),
        description=raw.get("description"),
        tags=tuple(str(t) for t in tags) if isinstance(tags, list) else (str(tags),),
    )


def _schedule_entries(raw: Mapping[str, Any], where: str) -> list[Any]:
    entries = raw.get("schedules")
    if entries is None:
        entries = [raw["schedule"]] if raw.get("schedule") else []
    if not isinstance(entries, list):
        raise ConfigError(where, "`schedules` must be a list")
    return entries


def cron_schedule(raw: Any, where: str) -> Schedule:
    """A ``{cron, timezone, ...}`` entry as a Prefect schedule (interval/rrule are not served here)."""
    if not isinstance(raw, Mapping) or "cron" not in raw:
        raise ConfigError(where, "only `cron:` schedules can be served by flows/serve.py")
    unknown = set(raw) - _CRON_KEYS
    if unknown:
        raise ConfigError(where, f"unsupported schedule keys: {', '.join(sorted(unknown))}")
    try:
        return Cron(
            str(raw["cron"]),
            timezone=raw.get("timezone"),
            day_or=bool(raw.get("day_or", True)),
            active=bool(raw.get("active", True)),
            parameters=dict(raw.get("parameters") or {}),
            slug=raw.get("slug"),
        )
    except ValueError as exc:
        raise ConfigError(where, f"bad cron schedule {raw['cron']!r}: {exc}") from None


def concurrency_config(raw: Any, where: str) -> ConcurrencyLimitConfig | None:
    """``concurrency_limit: 1`` or ``{limit: 1, collision_strategy: CANCEL_NEW}`` as Prefect's model."""
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise ConfigError(where, "`concurrency_limit` must be a number or a mapping")
    if isinstance(raw, int):
        return ConcurrencyLimitConfig(limit=raw)
    if not isinstance(raw, Mapping) or not isinstance(raw.get("limit"), int):
        raise ConfigError(where, "`concurrency_limit` must be a number or a mapping with `limit`")
    strategy = raw.get("collision_strategy") or ConcurrencyLimitStrategy.ENQUEUE.value
    try:
        return ConcurrencyLimitConfig(
            limit=raw["limit"],
            collision_strategy=ConcurrencyLimitStrategy(strategy),
            grace_period_seconds=raw.get("grace_period_seconds"),
        )
    except ValueError as exc:
        raise ConfigError(where, f"bad `concurrency_limit`: {exc}") from None


def runner_deployments(specs: list[DeploymentSpec], project_dir: str | Path) -> list[RunnerDeployment]:
    """Load each entrypoint (relative to ``project_dir``) and make it a servable deployment.

    Call with ``project_dir`` as the current directory: Prefect records each entrypoint relative
    to it and starts served runs there.
    """
    from prefect.flows import load_flow_from_entrypoint

    flows: dict[str, Any] = {}
    deployments = []
    for spec in specs:
        path, function = spec.entrypoint.rsplit(":", 1)
        if spec.entrypoint not in flows:
            flows[spec.entrypoint] = load_flow_from_entrypoint(f"{Path(project_dir) / path}:{function}")
        flow = flows[spec.entrypoint]
        flow.validate_parameters(spec.parameters)  # a typo fails here, not at 3 a.m.
        deployments.append(
            flow.to_deployment(
                spec.name,
                schedules=list(spec.schedules),
                parameters=spec.parameters,
                concurrency_limit=spec.concurrency,
                description=spec.description,
                tags=list(spec.tags),
            )
        )
    return deployments


def require_prefect_server() -> str:
    """The configured PREFECT_API_URL; ConfigError with what to do when there is none."""
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    if not url:
        raise ConfigError("PREFECT_API_URL", _NO_SERVER)
    return url


def work_pool_twins(deployments: list[RunnerDeployment]) -> list[str]:
    """The deployments of the same names ``prefect deploy`` put in a work pool, as
    ``flow/name (work pool 'pool')``: serving would take them over (see :func:`refuse_twins`)."""
    from prefect import get_client
    from prefect.exceptions import ObjectNotFound

    twins = []
    with get_client(sync_client=True) as client:
        for deployment in deployments:
            name = f"{deployment.flow_name}/{deployment.name}"
            try:
                existing = client.read_deployment_by_name(name)
            except ObjectNotFound:
                continue
            if existing.work_pool_name:
                twins.append(f"{name} (work pool '{existing.work_pool_name}')")
    return twins


def refuse_twins(twins: list[str]) -> None:
    """Serving a deployment a worker owns re-registers it without its code storage (its runs then
    crash: "Downloading flow code from storage at None") and pauses it when serving stops, which
    the worker inherits. The two paths do not share names: ConfigError naming them and the ways out."""
    if twins:
        raise ConfigError(
            "--serve",
            "these deployments already belong to a work pool (prefect deploy): "
            + ", ".join(twins)
            + ". Serving them here would take them over from the worker (their runs would crash) and "
            "pause them when serving stops. Run them with the worker (`PROJECT_DIR=$PWD prefect worker "
            "start --pool ecauto-process`), or delete them first to serve instead "
            "(`prefect deployment delete FLOW/NAME`, each).",
        )


def serve_deployments(path: str | Path = DEFAULT_PATH, *, limit: int | None = 1) -> None:
    """Serve every deployment of ``path`` until interrupted (blocks).

    ``limit`` caps runs at once across all served deployments: 1 (the default) keeps the stock,
    price, full and reconcile runs from overlapping, so one run at a time owns the SP-API and
    BASE quotas. Changes the current directory to the one holding ``path`` (as the worker's pull
    step does), because the flows read ``.env`` and relative paths from there.
    """
    from prefect import serve

    api_url = require_prefect_server()
    source = Path(path).resolve()
    specs = read_deployment_specs(source)
    os.chdir(source.parent)
    deployments = runner_deployments(specs, source.parent)
    refuse_twins(work_pool_twins(deployments))
    print(f"serving {len(deployments)} deployments from {source} on {api_url}")
    serve(*deployments, limit=limit)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python flows/serve.py", description="Serve the deployments of prefect.yaml (needs a server)."
    )
    parser.add_argument("path", nargs="?", default=DEFAULT_PATH, help="the prefect.yaml to serve")
    parser.add_argument(
        "--limit",
        type=int,
        default=1,
        metavar="N",
        help="runs at once across all deployments (default 1; 0: no limit)",
    )
    args = parser.parse_args(argv)
    quiet_prefect(one_shot=False)
    try:
        serve_deployments(args.path, limit=args.limit or None)
    except ConfigError as exc:
        print(f"設定エラー / configuration error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
