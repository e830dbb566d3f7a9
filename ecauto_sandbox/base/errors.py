"""BASE's documented error texts, the exception a handler raises for one, and the error answer."""

from __future__ import annotations

from ecauto_sandbox.protocol import Reply

CONTENT_TYPE = "application/json; charset=UTF-8"

# Documented error texts [base-api.md §2, §3, §5, §6].
E_INVALID_TOKEN = ("invalid_request", "アクセストークンが無効です。")
E_POST_ONLY = ("access_denied", "POSTで送信してください。")
E_BAD_GRANT_TYPE = ("invalid_request", "不正なgrant_typeです。")
E_NO_CLIENT = ("invalid_request", "client_idもしくはclient_secretがありません。")
E_UNKNOWN_CLIENT = ("unauthorized_client", "クライアントが見つかりませんでした。")
E_BAD_CODE = ("invalid_request", "不正な認可コードです。")
E_EXPIRED_CODE = ("invalid_request", "認可コードの有効期限が切れています。")
E_INVALID_SCOPE = ("invalid_scope", "スコープが無効です。")
E_BAD_REFRESH = ("invalid_request", "不正なリフレッシュトークンです。")
E_EXPIRED_REFRESH = ("invalid_request", "リフレッシュトークンの有効期限が切れています。")
E_BAD_PARAMS = ("invalid_request", "不正なパラメーターです。")
E_SERVER = ("server_error", "DB error")
E_HOUR_LIMIT = ("hour_api_limit", "1時間のAPIの利用上限を超えました。")
E_DAY_LIMIT = ("day_api_limit", "1日のAPIの利用上限を超えました。")  # wording UNCONFIRMED
E_NO_ITEM_ID = ("no_item_id", "item_idは必須です。")
E_NO_ITEM = ("no_item", "商品が見つかりませんでした。")
E_BAD_ITEM_ID = ("bad_item_id", "不正なitem_idです。")
E_VALIDATION = ("validation_error", "バリデーションエラーです。")
E_NOT_POST = ("not_post_method", "POSTで送信してください。")  # text UNCONFIRMED (code documented)
E_BAD_VARIATION = ("bad_variation_id", "不正なvariation_idです。")  # text UNCONFIRMED
E_MISSING_STOCK = ("bad_params", "パラメーターが不正です。")  # text UNCONFIRMED

NGINX_503 = (
    b"<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    b"<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


class BaseApiFailure(Exception):
    """An HTTP 400 BASE error decided while handling a call."""

    def __init__(self, error: tuple[str, str]) -> None:
        super().__init__(error[0])
        self.error = error


def failure(reply: Reply, error: tuple[str, str], status: int = 400) -> Reply:
    reply.status, reply.error_code = status, error[0]
    reply.payload = {"error": error[0], "error_description": error[1]}
    return reply


def new_reply(operation: str) -> Reply:
    return Reply(200, service="base", operation=operation, content_type=CONTENT_TYPE, ensure_ascii=True)
