"""One retry policy for every API task: ECAUTO_RETRY_BASE_DELAY_SECONDS sets the back-off of them all."""

from __future__ import annotations

import pytest

from ecauto_sandbox import Faults
from flows.import_listings import import_listings
from tests.marketplace import calls, marketplace

# the shop listing answers 503 on two calls out of three: a retry is certain, success too
SHOP_LIST_DOWN = Faults(seed=4, base_5xx_rate=0.6, base_operations=("items",))


def retry_waits(flow_run_id, task_name_prefix: str) -> list[float]:
    """How long Prefect scheduled each retry of the flow run's tasks whose name starts with the prefix."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        TaskRunFilter,
        TaskRunFilterName,
    )

    waits = []
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
            task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_=task_name_prefix)),
        )
        for run in runs:
            for state in client.read_task_run_states(run.id):
                if state.name == "AwaitingRetry" and state.state_details.scheduled_time:
                    waits.append((state.state_details.scheduled_time - state.timestamp).total_seconds())
    return waits


@pytest.mark.flow
@pytest.mark.usefixtures("prefect_harness")
def test_the_shop_listing_backs_off_by_the_configured_delay(tmp_path, sqlite_url):
    """tasks/listings.py backed off 2, 4, 8 s whatever ECAUTO_RETRY_BASE_DELAY_SECONDS said."""
    with marketplace(tmp_path, sqlite_url, faults=SHOP_LIST_DOWN) as sb:  # the setting: 0.05 s
        state = import_listings(source="base", return_state=True)
        assert state.result()["inserted"] == 11
        refused = [r for r in calls(sb, "items") if r.status == 503]
        assert refused, "the fault injection should have refused a page"
        waits = retry_waits(state.state_details.flow_run_id, "fetch-items-")
        assert len(waits) == len(refused)
        # 0.05 s doubled per retry, ±50 % jitter: well under the hard-coded 2 s (at least 1 s)
        assert all(0 < w < 0.5 for w in waits), waits


def test_every_api_task_retries_transient_failures_only_on_the_one_back_off():
    from dataclasses import replace

    from ecauto_lib.config import Settings, SyncPolicy
    from tasks._common import RETRY_JITTER, retry_transient, with_retry_policy
    from tasks.amazon import fetch_catalog_batch, fetch_offers_batch
    from tasks.listings import read_shop_items

    settings = Settings(
        sp_api=None,
        base_api_url="http://127.0.0.1",
        accounts=(),
        database_url="sqlite://",
        policy=SyncPolicy(),
    )
    for task in (fetch_offers_batch, fetch_catalog_batch, read_shop_items):
        assert (task.retry_condition_fn, task.retry_jitter_factor) == (retry_transient, RETRY_JITTER), (
            task.name
        )
        assert task.retry_delay_seconds == [2 * 2**n for n in range(task.retries)], task.name  # the default
        tuned = with_retry_policy(task, replace(settings, retry_base_delay_seconds=0.05))
        assert tuned.retry_delay_seconds == [0.05 * 2**n for n in range(task.retries)], task.name
        assert (tuned.retries, tuned.retry_condition_fn) == (task.retries, retry_transient)
