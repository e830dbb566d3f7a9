import os
import time

from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, temporary_settings

from tasks.amazon import CATALOG_CACHE, OFFERS_CACHE, prune_fetch_cache


def test_expired_batch_records_are_pruned_and_nothing_else(tmp_path):
    old = time.time() - 7200
    files = {
        "ecauto-offers-aaa": old,  # 2 h old, offers TTL 1 h → removed
        "ecauto-offers-bbb": time.time(),  # fresh → kept
        "ecauto-catalog-ccc": old,  # within the catalog TTL → kept
        "someone-elses-key": old,  # not ours → kept
    }
    for name, mtime in files.items():
        (tmp_path / name).write_text("x")
        os.utime(tmp_path / name, (mtime, mtime))
    with temporary_settings(updates={PREFECT_LOCAL_STORAGE_PATH: str(tmp_path)}):
        removed = prune_fetch_cache.fn({OFFERS_CACHE: 3600, CATALOG_CACHE: 7 * 86400})
    assert removed == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ecauto-catalog-ccc",
        "ecauto-offers-bbb",
        "someone-elses-key",
    ]
