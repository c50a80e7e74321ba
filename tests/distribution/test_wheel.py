"""The package as a user gets it: `python -m build` makes the sdist and the wheel from a tree
without built assets (the build hook runs npm), `twine check` passes, and the wheel installed
into a fresh venv with no npm on the PATH serves an emulated week whose charts Chromium draws.

The fresh venv gets the base install only, as on a Raspberry Pi: the reader works, and the port
service says which extra it needs. Packages come from pip's cache or the registry, at the
versions of requirements/constraints.txt.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.parser import Parser
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import httpx
import pytest

import hanport
from services.browser import screenshot
from services.paths import REPO_ROOT
from services.processes import die_with_parent, missing, read_log, stop_process

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.slow, pytest.mark.browser]

OSLO = ZoneInfo("Europe/Oslo")
VENDOR = "hanport/reader/dashboard/static/vendor"
CHARTS = ("history-chart", "voltage-chart")


@dataclass(frozen=True)
class Built:
    wheel: Path
    sdist: Path
    log: str


@dataclass(frozen=True)
class Installed:
    venv: Path
    env: dict[str, str]  # PATH has the venv's bin and nothing else: no npm, no node

    def hanport(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return _run([str(self.venv / "bin" / "hanport"), *args], cwd=cwd, env=self.env)


def _run(
    command: list[str], cwd: Path, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def _source_tree(target: Path) -> None:
    """The working tree as a fresh clone would have it: no node_modules, built assets or
    compiled catalogs (git's ignore rules), so the build must make them."""
    listed = _run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO_ROOT
    ).stdout
    for name in filter(None, listed.split("\0")):
        source = REPO_ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is not copied
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    assert not (target / VENDOR.replace("hanport/", "src/hanport/", 1)).exists()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    if shutil.which("npm") is None:
        missing("building the wheel needs npm (Debian: apt install npm)")
    work = tmp_path_factory.mktemp("build")
    _source_tree(work / "source")
    # The build's own requirements (hatchling, Babel) at the locked versions too.
    env = {**os.environ, "PIP_CONSTRAINT": str(REPO_ROOT / "requirements" / "constraints.txt")}
    command = [sys.executable, "-m", "build", "--outdir", str(work / "dist"), "source"]
    done = _run(command, work, env)
    (wheel,) = (work / "dist").glob("*.whl")
    (sdist,) = (work / "dist").glob("*.tar.gz")
    return Built(wheel, sdist, done.stdout + done.stderr)


@pytest.fixture(scope="module")
def installed(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    # This environment's pip installs into the new venv (`pip --python`), and skips compiling
    # bytecode: a minute less than ensurepip and compileall, the same packages installed.
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=venv.parent)
    env = {**os.environ, "PATH": str(venv / "bin")}
    env.pop("PYTHONPATH", None)
    assert shutil.which("npm", path=env["PATH"]) is None
    constraints = str(REPO_ROOT / "requirements" / "constraints.txt")
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install"]
    pip += ["--quiet", "--no-compile", "-c", constraints]
    _run([*pip, str(built.wheel)], cwd=venv.parent, env=env)
    return Installed(venv, env)


def test_the_build_ran_npm_and_compiled_the_catalogs(built: Built) -> None:
    # npm for the sdist; the wheel, built from the sdist, takes the assets the sdist carries.
    assert built.log.count("dashboard assets: built with npm") == 1, built.log
    assert built.log.count("dashboard assets: current") == 1, built.log
    assert "gettext catalogs:" in built.log, built.log
    assert built.log.count("modules compiled with mypyc") == 1, built.log  # the wheel only


def test_the_wheel_is_compiled_and_carries_the_python_sources(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as wheel:
        names = set(wheel.namelist())
    core = "hanport/protocol"
    extensions = [n for n in names if n.startswith(f"{core}/_stream.") and n.endswith(".so")]
    assert extensions, "the protocol core is not compiled"
    assert {f"{core}/_stream.py", f"{core}/_encoder.py", f"{core}/__init__.py"} <= names
    assert "-none-any" not in built.wheel.name  # tagged for this Python and platform


def test_the_protocol_tests_pass_against_the_compiled_wheel(built: Built, tmp_path: Path) -> None:
    # The editable dev install runs them pure; here the same tests run on the compiled core,
    # and tests/protocol/test_compiled.py checks that it is the one loaded.
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile"]
    _run([*pip, "--target", str(site), str(built.wheel)], cwd=tmp_path)
    env = {**os.environ, "PYTHONPATH": str(site), "HANPORT_EXPECT_BUILD": "compiled"}
    tests = [sys.executable, "-m", "pytest", "tests/protocol", "-q", "-p", "no:cacheprovider"]
    done = _run(tests, cwd=REPO_ROOT, env=env, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_twine_check_passes(built: Built) -> None:
    done = _run(
        [sys.executable, "-m", "twine", "check", "--strict", str(built.wheel), str(built.sdist)],
        cwd=built.wheel.parent,
    )
    assert done.stdout.count("PASSED") == 2, done.stdout


def test_the_wheel_carries_assets_catalogs_and_metadata(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as wheel:
        names = set(wheel.namelist())
        info = f"hanport-{hanport.__version__}.dist-info"
        metadata = Parser().parsestr(wheel.read(f"{info}/METADATA").decode())
        shipped = wheel.read(f"{VENDOR}/uPlot.iife.min.js")
    assert {f"{VENDOR}/uPlot.iife.min.js", f"{VENDOR}/uPlot.min.css"} <= names
    assert len(shipped) > 10_000
    for part in ("portal", "reader"):
        for lang in ("nb", "nn", "en"):
            assert f"hanport/{part}/locale/{lang}/LC_MESSAGES/{part}.mo" in names
    assert not [name for name in names if name.endswith(".po")]
    assert f"{info}/licenses/LICENSE" in names
    data = f"hanport-{hanport.__version__}.data/data/share/hanport"
    assert {f"{data}/systemd/hanport-reader.service", f"{data}/udev/99-hanport.rules"} <= names
    assert metadata["License-Expression"] == "MIT"
    assert set(metadata.get_all("Provides-Extra") or []) >= {"portal", "postgres", "demo"}
    classifiers = metadata.get_all("Classifier") or []
    assert "Programming Language :: Python :: 3.13" in classifiers
    assert "Framework :: FastAPI" in classifiers
    assert not [r for r in metadata.get_all("Requires-Dist") or [] if "greenlet" in r]


def test_the_sdist_builds_a_wheel_without_npm(built: Built) -> None:
    # It carries the built assets with their stamp next to the npm lock they came from.
    with tarfile.open(built.sdist) as sdist:
        names = {name.partition("/")[2] for name in sdist.getnames()}
    assert {"frontend/package-lock.json", "hatch_build.py", "LICENSE", "CHANGELOG.md"} <= names
    assert {f"src/{VENDOR}/uPlot.iife.min.js", f"src/{VENDOR}/SOURCE.json"} <= names
    assert not [name for name in names if "node_modules" in name]


def test_the_base_install_is_a_reader(installed: Installed, tmp_path: Path) -> None:
    done = installed.hanport("--version", cwd=tmp_path)
    assert done.stdout.strip() == hanport.__version__
    python = str(installed.venv / "bin" / "python")
    where = _run([python, "-c", "import hanport; print(hanport.__file__)"], tmp_path, installed.env)
    assert where.stdout.startswith(str(installed.venv))  # the wheel, not the working tree
    assert (installed.venv / "share/hanport/systemd/hanport-reader.service").is_file()
    for absent in ("greenlet", "psycopg", "aiosmtpd", "httpx"):
        probe = _run([python, "-c", f"import {absent}"], tmp_path, installed.env, check=False)
        assert probe.returncode != 0, f"{absent} is in the base install"
    for command, extra in (("portal", "portal"), ("demo", "demo")):
        refused = _run(
            [str(installed.venv / "bin" / "hanport"), command],
            tmp_path, installed.env, check=False,
        )  # fmt: skip
        assert refused.returncode == 1
        assert f"pip install 'hanport[{extra}]'" in refused.stderr
        assert "Traceback" not in refused.stderr


@pytest.fixture(scope="module")
def served_week(installed: Installed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`hanport serve` of the installed wheel over a week emulated and imported with it."""
    work = tmp_path_factory.mktemp("week")
    start = datetime.now(OSLO).replace(second=0, microsecond=0, tzinfo=None) - timedelta(days=7)
    capture, db = work / "week.bin", f"sqlite:///{work / 'reader.sqlite3'}"
    installed.hanport(
        "emulate", "--meter", "kamstrup", "--seed", "2", "--port", "open",
        "--start", start.isoformat(timespec="minutes"), "--duration", f"{7 * 24 * 60 - 1}m",
        "--speed", "max", "--to", f"file:{capture}", cwd=work,
    )  # fmt: skip
    installed.hanport("import", str(capture), "--db", db, cwd=work)
    out, err = work / "serve.out", work / "serve.err"
    command = [str(installed.venv / "bin" / "hanport"), "serve", "--db", db, "--port", "0"]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [*die_with_parent(), *command], stdout=stdout, stderr=stderr, cwd=work,
            env=installed.env,
        )  # fmt: skip
    try:
        yield _announced_url(process, out, err)
    finally:
        stop_process(process)


def _announced_url(process: subprocess.Popen[bytes], out: Path, err: Path) -> str:
    while process.poll() is None:
        words = out.read_text().split()
        if url := next((w for w in words if w.startswith("http://")), None):
            return url.rstrip("/")
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=0.05)
    raise AssertionError(f"hanport serve exited:\n{read_log(out)}\n{read_log(err)}")


def test_the_installed_dashboard_draws_the_week(page: Page, served_week: str, built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as wheel:
        shipped = wheel.read(f"{VENDOR}/uPlot.iife.min.js")
    served = httpx.get(f"{served_week}/static/vendor/uPlot.iife.min.js", timeout=10)
    assert served.status_code == 200 and served.content == shipped
    (meter,) = httpx.get(f"{served_week}/api/meters", timeout=10).json()
    yesterday = (datetime.now(OSLO) - timedelta(days=1)).date()
    page.goto(f"{served_week}/history?view=day&date={yesterday}&meter={meter['meter_id']}")
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#history-rows tr").count() == 24
    for chart in CHARTS:
        drawn = page.evaluate(
            """(id) => {
                const element = document.getElementById(id);
                const canvas = element.querySelector('canvas');
                const pixels = canvas.getContext('2d')
                    .getImageData(0, 0, canvas.width, canvas.height).data;
                let painted = 0;
                for (let i = 3; i < pixels.length; i += 4) painted += pixels[i] > 0 ? 1 : 0;
                return {
                    points: element.uplot.data[1].filter((v) => v !== null).length,
                    painted,
                    width: canvas.width,
                };
            }""",
            chart,
        )
        assert drawn["points"] > 0 and drawn["width"] > 100, (chart, drawn)
        assert drawn["painted"] > 1000, (chart, drawn)  # lines and axes, not a blank canvas
    screenshot(page, "installed-wheel-history-day")
