"""A flow run's final Prefect state follows its exit code, so the run list tells the truth.

===========  =====================  ==================================================
exit code    Prefect state          meaning
===========  =====================  ==================================================
0            Completed              every item succeeded
1            Failed "NeedsAttention"  finished; items failed, held, deferred, a shop refused
2            Failed "ConfigError"   usage/configuration error, credentials refused: stopped
3            Cancelled "Skipped"    another run holds one of the shops: nothing done
===========  =====================  ==================================================

The state's message says why (``ecauto_lib.alerts.attention_text``); its data is the run's result
dict, as before. Prefect emits ``prefect.flow-run.<state name>`` for each, so an automation on
``prefect.flow-run.Failed`` (an exception) is not fired by a run that only needs attention.

Calling such a flow from Python (``sync()``, the CLI, the tests) still returns the result dict
(exit codes are data), or raises what the flow raised (``ConfigError``, ``AlreadyRunningError``,
any crash), as a plain ``@flow`` does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, cast

from prefect import Flow, State
from prefect.states import Cancelled, Completed, Failed

from ecauto_lib.alerts import attention_text
from ecauto_lib.db.locks import AlreadyRunningError
from ecauto_lib.errors import ConfigError
from ecauto_lib.outcome import EXIT_NEEDS_ATTENTION, EXIT_STOPPED, EXIT_SUCCEEDED

EXIT_SKIPPED = 3
NEEDS_ATTENTION, CONFIG_ERROR, SKIPPED = "NeedsAttention", "ConfigError", "Skipped"


def run_state(result: dict[str, Any]) -> State:
    """The final state of a run that returned ``result`` (its ``exit_code`` decides)."""
    code = int(result.get("exit_code", EXIT_SUCCEEDED))
    if code == EXIT_SUCCEEDED:
        return Completed(data=result)
    if code == EXIT_NEEDS_ATTENTION:
        return Failed(name=NEEDS_ATTENTION, message=attention_text(result), data=result)
    if code == EXIT_STOPPED:
        message = f"設定エラー (configuration error): {result.get('error') or 'see the report'}"
        return Failed(name=CONFIG_ERROR, message=message, data=result)
    if code == EXIT_SKIPPED:
        return Cancelled(name=SKIPPED, message=str(result.get("error", "")), data=result)
    return Failed(message=f"exit code {code}", data=result)


class ExitCodeFlow(Flow):
    """A flow whose final state follows its exit code; called from Python it returns its result."""

    def __call__(self, *args: Any, return_state: bool = False, **kwargs: Any) -> Any:
        # Flow.__call__'s overloads do not see return_state=True through **kwargs: it is a State
        state = cast(State, super().__call__(*args, return_state=True, **kwargs))
        if return_state:
            return state
        result = state.result(raise_on_failure=False)
        if isinstance(result, BaseException):
            raise result
        return result


def exit_code_flow(**options: Any) -> Callable[[Callable[..., dict[str, Any]]], ExitCodeFlow]:
    """``@flow(**options)`` for a function returning a result dict with an ``exit_code``: a
    configuration error ends Failed "ConfigError", a busy shop Cancelled "Skipped" (both still
    raised to a Python caller), the rest per :func:`run_state`."""

    def decorate(fn: Callable[..., dict[str, Any]]) -> ExitCodeFlow:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> State:
            try:
                result = fn(*args, **kwargs)
            except ConfigError as exc:
                return Failed(name=CONFIG_ERROR, message=f"設定エラー (configuration error): {exc}", data=exc)
            except AlreadyRunningError as exc:
                return Cancelled(name=SKIPPED, message=f"実行中 (already running): {exc}", data=exc)
            return run_state(result)

        return ExitCodeFlow(run, **options)

    return decorate
