"""A ``PREFECT_HOME`` whose Prefect database is already migrated, for tests that start a server.

A fresh ``PREFECT_HOME`` makes Prefect's server (the temporary one of a command line, or
``prefect server start``) run every migration of its database first: about 12 s of CPU, paid once
by a seller and, before this helper, once per such test. Each test process migrates one home, on
first use; a test copies its database into a home of its own, so the server still starts on a
database nobody else touches.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from benchmarks.prefect_server import PREFECT_DB_NAME as _DB

_template: Path | None = None
_lock = threading.Lock()


def _migrated_template() -> Path:
    global _template
    with _lock:
        if _template is None:
            home = Path(tempfile.mkdtemp(prefix="ecauto-prefect-template-"))
            env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
            env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false")
            subprocess.run(
                [sys.executable, "-m", "prefect", "server", "database", "upgrade", "-y"],
                env=env,
                capture_output=True,
                check=True,
                timeout=300,
            )
            if not (home / _DB).is_file():
                raise RuntimeError(f"prefect server database upgrade wrote no {_DB} in {home}")
            _template = home
        return _template


def migrated_prefect_db() -> Path:
    """The migrated database itself (read-only use: copy it), made on first use."""
    return _migrated_template() / _DB


def migrated_prefect_home(home: Path) -> Path:
    """``home`` (created) holding a copy of a migrated Prefect database; returned for convenience."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_migrated_template() / _DB, home / _DB)
    return home
