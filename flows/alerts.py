"""Alerts: install the automations of ``automations.yaml`` and make the notification blocks.

    python flows/alerts.py create-block --kind slack|chatwork|email --name NAME
    python flows/alerts.py install --block NAME [--block NAME ...] [--file automations.yaml]

Both talk to the Prefect server of ``PREFECT_API_URL`` (exit 2 without one). ``create-block``
reads the channel's secret from the environment (never an argument, never printed):

* ``slack``: ``SLACK_WEBHOOK_URL`` → a ``SlackWebhook`` block;
* ``chatwork``: ``CHATWORK_API_TOKEN`` and ``CHATWORK_ROOM_ID`` (``CHATWORK_API_URL``,
  default ``https://api.chatwork.com/v2``) → a ``CustomWebhookNotificationBlock`` that POSTs
  ``body=...`` to ``/rooms/{room}/messages`` with the ``X-ChatWorkToken`` header (the token is
  one of the block's secrets);
* ``email``: ``SENDGRID_API_KEY``, ``ALERT_EMAIL_FROM``, ``ALERT_EMAIL_TO``
  (comma-separated) → a ``SendgridEmail`` block (Apprise). The automation is sent by the Prefect
  server, which can only load the notification blocks it ships with: ``prefect-email`` has no
  notification block, and Prefect ships no plain ``mailto://`` one.

``install`` creates each automation, or updates the one of the same name (a second install
changes nothing and duplicates nothing), with one ``SendNotification`` action per block.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python flows/alerts.py` from a checkout: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml

from ecauto_lib.errors import ConfigError

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "automations.yaml"
CHATWORK_DEFAULT_URL = "https://api.chatwork.com/v2"
BLOCK_TYPES = ("slack-webhook", "custom-webhook", "sendgrid-email")
CHANNEL_ENV = {
    "slack": ("SLACK_WEBHOOK_URL",),
    "chatwork": ("CHATWORK_API_TOKEN", "CHATWORK_ROOM_ID"),
    "email": ("SENDGRID_API_KEY", "ALERT_EMAIL_FROM", "ALERT_EMAIL_TO"),
}


@dataclass(frozen=True)
class AutomationSpec:
    """One automation of the file: its name, trigger (Prefect's own schema) and message templates."""

    name: str
    description: str
    enabled: bool
    trigger: dict[str, Any]
    subject: str
    body: str


def read_specs(path: Path = DEFAULT_FILE) -> list[AutomationSpec]:
    """The automations of ``path`` (each trigger validated by Prefect's model); ConfigError naming
    the entry when one is malformed."""
    from prefect.events.schemas.automations import EventTrigger

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(str(path), f"cannot read it: {exc}") from exc
    subject, body = document.get("subject", ""), document.get("body", "")
    specs = []
    for i, entry in enumerate(document.get("automations") or []):
        where = f"{path.name} automations[{i}] ({entry.get('name', '?')})"
        trigger = dict(entry.get("trigger") or {})
        try:
            EventTrigger.model_validate(trigger)
        except ValueError as exc:
            raise ConfigError(where, f"bad trigger: {exc}") from exc
        specs.append(
            AutomationSpec(
                name=entry["name"],
                description=entry.get("description", ""),
                enabled=bool(entry.get("enabled", True)),
                trigger=trigger,
                subject=entry.get("subject", subject),
                body=entry.get("body", body),
            )
        )
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ConfigError(path.name, f"automation names must be unique: {names}")
    return specs


def _client() -> Any:
    from prefect import get_client

    from flows.serve import require_prefect_server

    require_prefect_server()
    return get_client(sync_client=True)


def find_block(client: Any, name: str) -> Any:
    """The notification block document ``name`` (``TYPE/NAME`` or a name of one of BLOCK_TYPES)."""
    from prefect.exceptions import ObjectNotFound

    slug, _, plain = name.rpartition("/")
    for block_type in (slug,) if slug else BLOCK_TYPES:
        try:
            return client.read_block_document_by_name(plain, block_type)
        except ObjectNotFound:
            continue
    raise ConfigError("--block", f"no notification block {name!r} ({' / '.join(BLOCK_TYPES)}) on the server")


def install(specs: list[AutomationSpec], blocks: list[str]) -> list[tuple[str, str]]:
    """Create or update (by name) each automation; returns ``(name, "created" | "updated")``."""
    from prefect.events.actions import SendNotification
    from prefect.events.schemas.automations import AutomationCore, EventTrigger

    done = []
    with _client() as client:
        block_ids = [find_block(client, b).id for b in blocks]
        for spec in specs:
            automation = AutomationCore(
                name=spec.name,
                description=spec.description,
                enabled=spec.enabled,
                trigger=EventTrigger.model_validate(spec.trigger),
                actions=[
                    SendNotification(block_document_id=block_id, subject=spec.subject, body=spec.body)
                    for block_id in block_ids
                ],
            )
            existing = client.read_automations_by_name(spec.name)
            if existing:
                # (the client's update_automation sends only the fields set explicitly, which
                # drops the trigger's posture and the actions' type: the server refuses that)
                response = client.request(
                    "PUT",
                    "/automations/{id}",
                    path_params={"id": existing[0].id},
                    json=automation.model_dump(mode="json", exclude={"owner_resource"}),
                )
                response.raise_for_status()
                for extra in existing[1:]:  # an earlier duplicate (made by hand): keep one
                    client.delete_automation(extra.id)
                done.append((spec.name, "updated"))
            else:
                client.create_automation(automation)
                done.append((spec.name, "created"))
    return done


def _env(kind: str) -> dict[str, str]:
    values = {name: os.environ.get(name, "").strip() for name in CHANNEL_ENV[kind]}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise ConfigError(
            missing[0], f"not set (create-block --kind {kind} reads {', '.join(CHANNEL_ENV[kind])})"
        )
    return values


def channel_block(kind: str) -> Any:
    """The notification block for ``kind``, from the environment (not saved)."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock, SendgridEmail, SlackWebhook
    from prefect.types import SecretDict
    from pydantic import SecretStr

    values = _env(kind)
    if kind == "slack":
        return SlackWebhook(url=SecretStr(values["SLACK_WEBHOOK_URL"]))
    if kind == "chatwork":
        api = os.environ.get("CHATWORK_API_URL", "").strip() or CHATWORK_DEFAULT_URL
        return CustomWebhookNotificationBlock(
            name="chatwork",
            url=f"{api.rstrip('/')}/rooms/{values['CHATWORK_ROOM_ID']}/messages",
            method="POST",
            headers={"X-ChatWorkToken": "{{token}}"},
            form_data={"body": "[info][title]{{subject}}[/title]{{body}}[/info]"},
            cookies=None,
            secrets=SecretDict({"token": values["CHATWORK_API_TOKEN"]}),
        )
    to = [a.strip() for a in values["ALERT_EMAIL_TO"].split(",") if a.strip()]
    return SendgridEmail(
        api_key=SecretStr(values["SENDGRID_API_KEY"]),
        sender_email=values["ALERT_EMAIL_FROM"],
        to_emails=to,
    )


def create_block(kind: str, name: str) -> str:
    """Save the ``kind`` block as ``name`` on the server (overwriting one of that name)."""
    block = channel_block(kind)
    with _client():
        pass  # the server is there (a clear error otherwise) before anything is saved
    block.save(name, overwrite=True)
    return f"{block.get_block_type_slug()}/{name}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python flows/alerts.py", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("create-block", help="save a notification block from environment values")
    make.add_argument("--kind", choices=sorted(CHANNEL_ENV), required=True)
    make.add_argument("--name", required=True)
    put = commands.add_parser("install", help="create or update the automations of automations.yaml")
    put.add_argument(
        "--block", action="append", required=True, metavar="NAME", help="notification block (repeatable)"
    )
    put.add_argument("--file", type=Path, default=DEFAULT_FILE)
    args = parser.parse_args(argv)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    try:
        if args.command == "create-block":
            print(f"saved notification block {create_block(args.kind, args.name)} (secret not shown)")
        else:
            for name, what in install(read_specs(args.file), args.block):
                print(f"{what}: {name}")
    except ConfigError as exc:
        print(f"設定エラー / configuration error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
