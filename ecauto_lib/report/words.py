"""The report's words: reasons and results in Japanese, each with its English key term.

The run's changes carry their reasons as plain English key terms (``amazon out_of_stock``), which
the master DB's change history keeps; the report and its artifacts show them as a seller reads
them: ``在庫切れ (out_of_stock)``. A reason this module does not know is shown as it is.
"""

from __future__ import annotations

import re

from ecauto_lib.guards import BREAKER_PREFIX, RELEASED_PREFIX

CLI_RELEASE_HINT = "python flows/sync.py --confirm"
DEPLOYMENT_RELEASE_HINT = "confirm=true"  # the deployment parameter (prefect.yaml, the UI's Run form)

_PRICE = re.compile(r"^amazon ¥([\d,]+) × ([\d.]+)")
_ROUNDED_UP = re.compile(r" \(rounded up to clear the floor ¥([\d,]+)\)")
_BASE_BELOW = re.compile(r" \(BASE ¥([\d,]+) is below the floor ¥([\d,]+)\)")
_MOVE = re.compile(r"^price move (\d+)% exceeds ±([\d.]+)%")
_BREAKER = re.compile(
    r"^this run would (hide|cut the price of) (\d+) of (\d+) listings \((\d+)% > ([\d.]+)%\); .*?"
    r"planned because: (.*)$"
)
_UNKNOWN = re.compile(r"^Amazon stock unknown for ([\d.]+) h \((.*); limit ([\d.]+) h\)$")
_RESTOCKED = re.compile(r"^(.*)stock 0 \(sold on BASE\), amazon (?:(\S+) )?in stock: restocked to (\d+)$")
_RELEASE_NOTE = " (run with --confirm to release)"

RESULT_TEXT = {
    "pushed": "反映済 (pushed)",
    "planned (dry run)": "予定 (planned, dry run)",
    "not sent": "未送信 (not sent)",
    "deferred": "延期 (deferred)",
    "delisted": "削除済 (delisted)",
    "not sent: re-authorise the shop": "未送信: ショップの再認可が必要 (not sent: re-authorise the shop)",
}
GUARD_TEXT = {
    "circuit breaker": "確認待ち (held: circuit breaker)",
    "price move": "確認待ち (held: price move)",
}


def reason_text(reason: str, *, max_delivery_hours: int) -> str:
    """``reason`` in Japanese with its English key term (unknown reasons as they are)."""
    if reason.startswith(RELEASED_PREFIX):
        rest = reason_text(reason.removeprefix(RELEASED_PREFIX), max_delivery_hours=max_delivery_hours)
        return f"確認により解除 (released with --confirm): {rest}"
    if reason.startswith(BREAKER_PREFIX):
        return _breaker_text(reason.removeprefix(BREAKER_PREFIX), max_delivery_hours)
    if reason == "amazon out_of_stock":
        return "在庫切れ (out_of_stock)"
    if reason == "amazon filtered_out":
        return f"{max_delivery_hours}時間以内に発送できる新品の出品なし (filtered_out)"
    if reason == "amazon back in stock":
        return "在庫復活 (back in stock)"
    if match := _PRICE.match(reason):
        text = f"Amazon価格 ¥{match[1]} × 掛け率 {match[2]} (amazon price × markup)"
        rest = reason[match.end() :]
        if up := _ROUNDED_UP.search(rest):
            text += f"、下限 ¥{up[1]} まで切り上げ (rounded up to the floor)"
        if below := _BASE_BELOW.search(rest):
            text += f"、BASE ¥{below[1]} は下限 ¥{below[2]} 未満 (below the floor)"
        return text
    if match := _MOVE.match(reason):
        return f"価格変動 {match[1]}% が ±{match[2]}% を超えるため確認待ち (price move)"
    if _UNKNOWN.match(reason):
        return f"Amazonの在庫が不明のまま上限を超えたため非公開 ({reason})"
    if _RESTOCKED.match(reason):
        return f"BASEで売れて在庫0、Amazonに在庫ありのため補充 ({reason})"
    if reason.startswith("below floor: "):
        return f"下限割れ ({reason.replace(_RELEASE_NOTE, '')})"
    return reason.replace(_RELEASE_NOTE, "")


def _breaker_text(rest: str, max_delivery_hours: int) -> str:
    """``サーキットブレーカーで確認待ち (circuit breaker: this run would hide 3 of 5 listings (60% > 30%);
    planned because: 在庫切れ (out_of_stock))``: the counts stay in the key term's words."""
    match = _BREAKER.match(rest)
    head = "サーキットブレーカーで確認待ち (circuit breaker: "
    if match is None:
        return head + rest.replace(_RELEASE_NOTE, "") + ")"
    why = reason_text(match[6], max_delivery_hours=max_delivery_hours)
    counts = f"this run would {match[1]} {match[2]} of {match[3]} listings ({match[4]}% > {match[5]}%)"
    return f"{head}{counts}; planned because: {why})"


def result_text(result: str) -> str:
    """What became of a change, in Japanese with its English key term."""
    if result.startswith("failed: "):
        return f"失敗 ({result})"
    return RESULT_TEXT.get(result, result)
