"""The documented extras are enough on their own: a fresh venv with only ``standard`` and ``celery``.

The project's own venv has every extra, so the rest of the suite cannot see a dependency that an
extra forgot (SQLAlchemy 2.1 reads ``postgresql://`` as psycopg 3; ``create_app()``'s default
broker is Redis).
"""

from __future__ import annotations

import subprocess
import textwrap
import venv
from pathlib import Path

import pytest

from tests.conftest import PG_ADMIN_URL, REDIS_URL
from tests.helpers import ROOT

pytestmark = pytest.mark.slow
EXTRAS = "standard,celery"

CHECK = textwrap.dedent(
    """
    import sys
    import sqlalchemy
    from c2cwsgiutils.celery import create_app

    engine = sqlalchemy.create_engine(sys.argv[1])
    with engine.connect() as connection:
        assert connection.execute(sqlalchemy.text("SELECT 41 + 1")).scalar() == 42
    print("driver", engine.dialect.driver)

    app = create_app("extras_check")  # the default broker: C2C_CELERY_BROKER_URL or local Redis
    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1)
    print("broker", app.conf.broker_url.split(":")[0])
    """
)


def test_the_standard_and_celery_extras_run_the_readme_setup(tmp_path: Path) -> None:
    folder = tmp_path / "venv"
    venv.create(folder, with_pip=True)
    python = folder / "bin" / "python"
    install = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            f"{ROOT}[standard,celery]",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={"C2C_PURE_PYTHON": "1", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())},
        check=False,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    url = PG_ADMIN_URL.replace("postgresql+psycopg2://", "postgresql://")
    run = subprocess.run(
        [str(python), "-c", CHECK, url],
        capture_output=True,
        text=True,
        timeout=120,
        env={"C2C_CELERY_BROKER_URL": REDIS_URL, "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.split() == ["driver", "psycopg", "broker", "redis"]
