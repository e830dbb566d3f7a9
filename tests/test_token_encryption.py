"""BASE tokens at rest (#12 §4): encrypted with ECAUTO_SECRET_KEY (Fernet), bound to their shop,
a clear error for a missing or wrong key, and one command for rows stored in plain text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from ecauto_lib.config import environment
from ecauto_lib.db import DbTokenStore
from ecauto_lib.db.models import base_tokens
from ecauto_lib.db.tokens import TokenCipher, encrypt_stored_tokens
from ecauto_lib.domain import BaseTokens
from ecauto_lib.errors import ConfigError

T1 = datetime(2025, 4, 1, 8, 0, tzinfo=UTC)
ACCESS = "acc-5f0e2c9d8b7a6e5f4d3c2b1a"
REFRESH = "ref-0a1b2c3d4e5f60718293a4b5"
KEY = Fernet.generate_key().decode()


def raw(engine: sa.Engine, account_id: str) -> tuple[str, str]:
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(base_tokens.c.access_token, base_tokens.c.refresh_token).where(
                base_tokens.c.account_id == account_id
            )
        ).one()
    return row.access_token, row.refresh_token


def test_tokens_are_stored_encrypted_and_read_back(engine):
    store = DbTokenStore(engine, TokenCipher(KEY))
    pair = BaseTokens(ACCESS, REFRESH, T1 + timedelta(hours=1))
    store.save("shop1", pair)
    access, refresh = raw(engine, "shop1")
    assert ACCESS not in access and REFRESH not in refresh and access.startswith("fernet:")
    assert store.load("shop1") == pair


def test_the_key_comes_from_the_environment_when_none_is_given(engine):
    with environment({"ECAUTO_SECRET_KEY": KEY}):
        DbTokenStore(engine).save("shop1", BaseTokens(ACCESS, REFRESH, T1))
    assert DbTokenStore(engine, TokenCipher(KEY)).load("shop1").access_token == ACCESS


def test_a_missing_or_wrong_key_is_a_clear_configuration_error(engine):
    DbTokenStore(engine, TokenCipher(KEY)).save("shop1", BaseTokens(ACCESS, REFRESH, T1))
    with environment({"ECAUTO_SECRET_KEY": None}), pytest.raises(ConfigError) as missing:
        DbTokenStore(engine).load("shop1")
    assert missing.value.setting == "ECAUTO_SECRET_KEY" and "is not set" in str(missing.value)
    with pytest.raises(ConfigError) as wrong:
        DbTokenStore(engine, TokenCipher(Fernet.generate_key().decode())).load("shop1")
    assert wrong.value.setting == "ECAUTO_SECRET_KEY"
    assert "does not decrypt the BASE tokens of account shop1" in str(wrong.value)
    assert (
        ACCESS not in str(wrong.value) and wrong.value.__cause__ is None and wrong.value.__context__ is None
    )
    with pytest.raises(ConfigError, match="ECAUTO_SECRET_KEY: must be a Fernet key"):
        TokenCipher("not-a-key")


def test_a_pair_moved_to_another_shop_is_refused(engine):
    store = DbTokenStore(engine, TokenCipher(KEY))
    store.save("shop1", BaseTokens(ACCESS, REFRESH, T1))
    store.save("shop2", BaseTokens("acc-other", "ref-other", T1))
    access, refresh = raw(engine, "shop1")
    with engine.begin() as conn:  # someone with write access swaps the rows
        conn.execute(
            sa.update(base_tokens)
            .where(base_tokens.c.account_id == "shop2")
            .values(access_token=access, refresh_token=refresh)
        )
    with pytest.raises(ConfigError, match="account shop2"):
        store.load("shop2")


def test_plain_text_rows_are_refused_until_the_one_command_migration_encrypts_them(engine):
    with engine.begin() as conn:  # a row stored by an earlier version
        conn.execute(
            sa.insert(base_tokens).values(
                account_id="shop1", access_token=ACCESS, refresh_token=REFRESH, expires_at=T1, updated_at=T1
            )
        )
    store = DbTokenStore(engine, TokenCipher(KEY))
    with pytest.raises(ConfigError, match="stored unencrypted.*python flows/encrypt_tokens.py"):
        store.load("shop1")
    assert encrypt_stored_tokens(engine, TokenCipher(KEY)) == (1, 0)  # (encrypted now, already)
    assert ACCESS not in raw(engine, "shop1")[0]
    assert store.load("shop1") == BaseTokens(ACCESS, REFRESH, T1)
    assert encrypt_stored_tokens(engine, TokenCipher(KEY)) == (0, 1)  # idempotent
    with pytest.raises(ConfigError, match="does not decrypt"):  # and it checks the key on the rest
        encrypt_stored_tokens(engine, TokenCipher(Fernet.generate_key().decode()))
