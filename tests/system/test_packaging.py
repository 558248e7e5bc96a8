"""The product wheel carries the product only: every module and SQL file of src/cronctl, nothing of the sandbox.

The wheel is built from a clean copy of the sources (pyproject.toml, README.md, src/), the way a release is
built, so leftovers of an earlier in-tree build (`build/lib`) cannot hide or add files.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ROOT / "src" / "cronctl"


@pytest.fixture(scope="module")
def wheel_files(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    tree = tmp_path_factory.mktemp("tree")
    shutil.copy(ROOT / "pyproject.toml", tree)
    shutil.copy(ROOT / "README.md", tree)
    shutil.copytree(PRODUCT, tree / "src" / "cronctl", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("dist")
    uv = Path(sys.executable).with_name("uv")  # the venv's own uv builds in half pip's time; pip is the fallback
    build = (
        [str(uv), "build", "--wheel", "-q", "-o", str(out), str(tree)]
        if uv.is_file()
        else [sys.executable, "-m", "pip", "wheel", str(tree), "--no-deps", "-q", "-w", str(out)]
    )
    subprocess.run(
        build,
        check=True,
        timeout=120,
        capture_output=True,
    )
    (wheel,) = out.glob("cronctl-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_the_wheel_holds_no_sandbox(wheel_files: set[str]) -> None:
    sandbox = sorted(n for n in wheel_files if "cronctl_sandbox" in n or "sandbox" in Path(n).parts)
    assert not sandbox, sandbox


def test_the_wheel_holds_every_query(wheel_files: set[str]) -> None:
    queries = {f"cronctl/queries/{p.name}" for p in (PRODUCT / "queries").glob("*.sql")}
    assert queries, "no SQL files found under src/cronctl/queries"
    assert queries <= wheel_files, sorted(queries - wheel_files)


def test_the_wheel_holds_exactly_the_product_modules(wheel_files: set[str]) -> None:
    modules = {f"cronctl/{p.relative_to(PRODUCT).as_posix()}" for p in PRODUCT.rglob("*.py")}
    packaged = {n for n in wheel_files if n.endswith(".py")}
    assert packaged == modules, {"missing": sorted(modules - packaged), "extra": sorted(packaged - modules)}


def test_demo_without_the_sandbox_says_how_to_install_it() -> None:
    """The product alone (no cronctl_sandbox importable): `cronctl demo` is one line and exit 3, no traceback."""
    import subprocess
    import sys

    blocker = (
        "import sys\n"
        "class NoSandbox:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'cronctl_sandbox':\n"
        "            raise ModuleNotFoundError(name)\n"
        "        return None\n"
        "sys.meta_path.insert(0, NoSandbox())\n"
        "from cronctl.cli.main import main\n"
        "sys.argv = ['cronctl', 'demo']\n"
        "main()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", blocker], capture_output=True, text=True, timeout=60, env={"NO_COLOR": "1", "PATH": ""}
    )
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "sandbox is not installed" in lines[0] and "make demo" in lines[0], proc.stderr
