"""The Lambda zip holds what the functions can import, and it all imports from the zip
alone (infra/lambda_zip.py, applied by infra/chalice_cli.py to every zip Chalice builds)."""

from __future__ import annotations

import ast
import importlib.metadata
import os
import shutil
import stat
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import chalice
import pytest
import rcssmin

from bench.lambda_package import ZIP_BUDGET_BYTES
from infra import lambda_zip, shrink
from infra.lambda_zip import module_name, package_of, slim
from infra.package import Packages
from infra.shrink import lean, relative, shed, shed_script, tight, unannotated, untyped
from infra.stage import PROJECT_DIR, Stage

APP = """\
from chalicelib import a

def handler(event, context):
    return a.run()
"""
A = """\
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalicelib.c import Typed


def run():
    from chalicelib.b import helper  # imported when first used
    import chalicelib.c  # runs c (its import above, for annotations, never runs)

    return helper()
"""
B = """\
from collections.abc import Mapping


def helper(table: Mapping[str, int] | None = None) -> int:
    return 1
"""
C = "from chalicelib.pkg import d\nimport chalicelib.kept\n"


@pytest.fixture(autouse=True)
def _a_cache_of_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The zips these tests slim stay out of the checkout's cache: there they would push
    out the project's own zip, which the packaging tests build again and again."""
    monkeypatch.setattr(lambda_zip, "CACHE_DIR", tmp_path / "cache")


def _zip(path: Path, files: dict[str, str]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, text)


def test_a_module_nothing_imports_stays_out_and_everything_else_stays_in(tmp_path: Path) -> None:
    files = {
        "chalice/app.py": "def route(path: str) -> None:\n    pass\n",
        "chalice/__init__.py": "",
        "app.py": APP,
        "chalicelib/__init__.py": "",
        "chalicelib/a.py": A,
        "chalicelib/b.py": B,
        "chalicelib/c.py": C,
        "chalicelib/pkg/__init__.py": '"""A package: only its docstring."""\n',
        "chalicelib/pkg/d.py": "",
        "chalicelib/kept/__init__.py": "from chalicelib.pkg import d\n",  # runs d: it stays
        "chalicelib/unused.py": "import chalicelib.also_unused\n",
        "chalicelib/also_unused.py": "",
        "chalicelib/console/index.html": "<!doctype html>",  # not a module: kept
    }
    path = tmp_path / "deployment.zip"
    _zip(path, files)

    dropped = slim(path)

    assert sorted(dropped) == ["chalicelib/also_unused.py", "chalicelib/unused.py"]
    with zipfile.ZipFile(path) as archive:
        # The sub-package's empty __init__.py is left out too (a namespace package).
        empty = "chalicelib/pkg/__init__.py"
        assert archive.namelist() == [n for n in files if n not in dropped and n != empty]
        for info in archive.infolist():
            ours = info.filename.endswith(".py") and not info.filename.startswith("chalice/")
            expected = shed(files[info.filename]) if ours else files[info.filename]
            if info.filename.endswith(".py") and info.filename.startswith("chalice/"):
                expected = lambda_zip.minified_runtime(files[info.filename])
            if ours:
                expected = untyped(unannotated(lean(shed(files[info.filename]))))
            if info.filename == "chalicelib/b.py":  # its import only an annotation used
                expected = expected.replace("from collections.abc import Mapping", "")
            if info.filename == "chalicelib/a.py":  # its import only `if TYPE_CHECKING` used
                expected = expected.replace("from typing import TYPE_CHECKING", "")
            if ours:
                package = package_of(info.filename)
                expected = tight(relative(expected, package, "chalicelib"))
            assert archive.read(info).decode() == expected
            assert info.external_attr == 0o644 << 16
        assert "imported when first used" not in archive.read("chalicelib/a.py").decode()
        # Nothing in a.py evaluates an annotation: no __future__ line (left empty).
        assert "__future__" not in archive.read("chalicelib/a.py").decode()
        assert archive.read("chalicelib/kept/__init__.py") == b"from..pkg import d\n"
    once = path.read_bytes()
    assert slim(path) == []
    assert path.read_bytes() == once  # the same input, the same bytes


def test_a_module_imported_only_for_type_checking_stays_out(tmp_path: Path) -> None:
    """Python never runs an import under `if TYPE_CHECKING:` (and the zip's code has none
    left): a module nothing else imports is never read in Lambda."""
    files = {
        "chalice/app.py": "",
        "chalice/__init__.py": "",
        "app.py": "from chalicelib import a\n",
        "chalicelib/__init__.py": "",
        "chalicelib/a.py": A.replace("import chalicelib.c  # runs c", "pass  #"),
        "chalicelib/b.py": B,
        "chalicelib/c.py": "",
    }
    path = tmp_path / "deployment.zip"
    _zip(path, files)

    assert slim(path) == ["chalicelib/c.py"]
    with zipfile.ZipFile(path) as archive:
        assert "TYPE_CHECKING" not in archive.read("chalicelib/a.py").decode()


def test_what_python_compiled_in_the_checkout_stays_out(tmp_path: Path) -> None:
    """Chalice zips chalicelib as the checkout holds it: where Python writes bytecode
    (`make run`, the tests), a `chalice deploy` shipped every __pycache__ folder (19 files
    more than `make package`), none of them used (the zip's sources are rewritten: no .pyc
    matches its source), all of them counted against the zip's budget."""
    files = {
        "chalice/app.py": "",
        "app.py": "from chalicelib import a\n",
        "chalicelib/__init__.py": "",
        "chalicelib/a.py": "",
        "chalicelib/__pycache__/a.cpython-312.pyc": "compiled",
        "chalicelib/api/__pycache__/b.cpython-311.pyc": "compiled",
        "__pycache__/app.cpython-312.pyc": "compiled",
        "stray.pyc": "compiled",
    }
    path = tmp_path / "deployment.zip"
    _zip(path, files)

    slim(path)

    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == [
            "chalice/app.py",
            "app.py",
            "chalicelib/__init__.py",
            "chalicelib/a.py",
        ]


def _zip_with_modes(path: Path, files: dict[str, tuple[str, int]]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, (text, mode) in files.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (stat.S_IFREG | mode) << 16
            archive.writestr(info, text)


def _modes_of(path: Path) -> dict[str, int]:
    with zipfile.ZipFile(path) as archive:
        return {i.filename: stat.S_IMODE(i.external_attr >> 16) for i in archive.infolist()}


@pytest.mark.parametrize("umask", [0o077, 0o027, 0o002], ids=lambda u: f"umask {u:03o}")
def test_the_lambda_zip_is_world_readable_and_the_same_whatever_the_umask(
    tmp_path: Path, umask: int
) -> None:
    """Chalice zips each file with its mode on disk: a checkout made under umask 077 or 027
    shipped 0600 or 0640 entries, and Lambda, running the code as a user of its own, failed
    every cold start (`Permission denied: '/var/task/app.py'`; aws/chalice#853); under 002
    (0664) the same code gave other bytes than a build under 022 (a review as a user other
    than root, 2026-12-06)."""
    mode = 0o666 & ~umask
    files = {
        "chalice/app.py": ("", mode),
        "app.py": ("from chalicelib import a\n", mode),
        "chalicelib/__init__.py": ("", mode),
        "chalicelib/a.py": ("X = 1\n", mode),
        "chalicelib/console/static/index.html": ("<!doctype html>", mode),
    }
    path = tmp_path / "deployment.zip"
    _zip_with_modes(path, files)
    reference = tmp_path / "reference.zip"  # what a root build (umask 022) gets
    _zip_with_modes(reference, {name: (text, 0o644) for name, (text, _) in files.items()})

    slim(path)
    slim(reference)

    unreadable = {n: f"{m:04o}" for n, m in _modes_of(path).items() if not m & stat.S_IROTH}
    assert unreadable == {}, "Lambda's user cannot read these files"
    assert path.read_bytes() == reference.read_bytes()


def test_every_module_of_the_lambda_zip_imports_from_the_zip_alone(
    built: dict[str, Packages], stage: Stage, tmp_path: Path
) -> None:
    """Nothing a function imports was left out: app.py and every module of the zip
    import with the zip first on the path (boto3 from the environment, as in Lambda)."""
    with zipfile.ZipFile(built[stage.name].cloudformation / "deployment.zip") as archive:
        archive.extractall(tmp_path)
        modules = [module_name(n) for n in archive.namelist() if n.endswith(".py")]
    check = (
        "import importlib, sys\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        f"for name in {sorted(modules)!r}:\n"
        "    module = importlib.import_module(name)\n"
        f"    assert module.__file__.startswith({str(tmp_path)!r}), module.__file__\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON"))}

    result = subprocess.run(
        [sys.executable, "-I", "-c", check],
        cwd=tmp_path,
        env={**env, "AWS_DEFAULT_REGION": "us-east-1"},
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "app" in modules
    assert "chalice.app" in modules


# Tests of chalicelib's logic that need no AWS: run against what the zip holds.
PURE_TESTS = (
    "test_addresses.py",
    "test_validation.py",
    "test_drift_differences.py",
    "test_lease.py",
    "test_batch_read.py",
    "test_pagination.py",
    "test_list_filter.py",
    "test_error_echo.py",
)


def test_what_the_zip_holds_passes_the_pure_unit_tests(
    built: dict[str, Packages], tmp_path: Path
) -> None:
    """What Lambda runs (shed, and chalicelib lean) behaves as the repository's code: the
    unit tests of its logic pass against the zip's chalicelib, imported first."""
    with zipfile.ZipFile(built["dev"].cloudformation / "deployment.zip") as archive:
        archive.extractall(tmp_path)
    tests = [str(PROJECT_DIR / "tests" / "unit" / name) for name in PURE_TESTS]

    _pass_first_on_path(tmp_path, "chalicelib.addresses", tests)


def _pass_first_on_path(first: Path, module: str, tests: list[str]) -> None:
    """`tests` pass in a fresh interpreter with `first` at the head of its path (`module`
    is imported from there)."""
    run = (
        "import importlib, sys\n"
        f"sys.path.insert(0, {str(first)!r})\n"
        f"module = importlib.import_module({module!r})\n"
        f"assert module.__file__.startswith({str(first)!r}), module.__file__\n"
        "import pytest\n"
        f"sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', '-n', '0', *{tests!r}]))\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", run],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout


def test_the_app_imports_its_modules_by_name_only() -> None:
    """What keeps the zip's import closure complete: no module is imported from a string."""
    for path in [PROJECT_DIR / "app.py", *sorted((PROJECT_DIR / "chalicelib").rglob("*.py"))]:
        tree = ast.parse(path.read_text())
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        imported = {
            alias.name for n in ast.walk(tree) if isinstance(n, ast.Import) for alias in n.names
        } | {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert "__import__" not in names, path
        assert "importlib" not in imported, path


def test_the_lambda_zip_is_within_its_budget(built: dict[str, Packages], stage: Stage) -> None:
    """The budget `make bench` reports against (bench/lambda_package.py) holds."""
    size = (built[stage.name].cloudformation / "deployment.zip").stat().st_size

    assert size <= ZIP_BUDGET_BYTES, f"{size / 1024:.1f} KiB"


def test_each_entry_is_deflate_by_zopfli_smaller_than_zlibs_best(tmp_path: Path) -> None:
    """Any unzip reads it."""
    body = (PROJECT_DIR / "chalicelib" / "models.py").read_bytes()
    built = tmp_path / "built.zip"

    lambda_zip.write(
        built, [(zipfile.ZipInfo("chalicelib/models.py", (2026, 1, 1, 0, 0, 0)), body)]
    )

    with zipfile.ZipFile(built) as archive:
        [info] = archive.infolist()
        assert info.compress_type == zipfile.ZIP_DEFLATED
        assert archive.read(info) == body
        assert info.compress_size < len(zlib.compress(body, 9)) - 6  # - zlib's header, sum


SMALL = {
    "chalice/app.py": "",
    "app.py": "from chalicelib import a\n",
    "chalicelib/__init__.py": "",
    "chalicelib/a.py": "X = 1  # one\n",
    "chalicelib/unused.py": "",
}


def test_a_zip_slimmed_before_comes_from_the_cache_as_it_came_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A zip of the same entries is the cached one, byte for byte, with the modules it
    left out, and nothing is rewritten for it; a changed entry is slimmed afresh (the cache
    never hands back another zip)."""
    first, again, changed = (tmp_path / name for name in ("first.zip", "again.zip", "x.zip"))
    _zip(first, SMALL)
    _zip(again, SMALL)
    _zip(changed, {**SMALL, "chalicelib/a.py": "X = 2  # two\n"})

    assert slim(first) == ["chalicelib/unused.py"]
    with monkeypatch.context() as patched:
        patched.setattr(lambda_zip, "_body", lambda *_args: pytest.fail("rewritten again"))
        assert slim(again) == ["chalicelib/unused.py"]
    assert slim(changed) == ["chalicelib/unused.py"]

    assert again.read_bytes() == first.read_bytes()
    with zipfile.ZipFile(changed) as archive:
        assert archive.read("chalicelib/a.py") == b"X=2\n"
    assert len(list((tmp_path / "cache").glob("*.zip"))) == 2


def test_a_changed_rewriter_or_tool_misses_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same entries rewritten by other code (shrink.py changed, python-minifier
    upgraded) are another zip: the digest covers how, not only what."""
    entries = [(zipfile.ZipInfo("app.py"), b"")]
    before = lambda_zip._input_digest(entries)
    changed = tmp_path / "shrink.py"
    changed.write_bytes(Path(shrink.__file__).read_bytes() + b"# changed\n")

    with monkeypatch.context() as patched:
        patched.setattr(shrink, "__file__", str(changed))
        assert lambda_zip._input_digest(entries) != before
    with monkeypatch.context() as patched:
        patched.setattr(importlib.metadata, "version", lambda name: f"{name} 9")
        assert lambda_zip._input_digest(entries) != before
    assert lambda_zip._input_digest(entries) == before


def test_the_cache_keeps_only_the_last_used_zips(tmp_path: Path) -> None:
    """The CACHED_ZIPS last written or taken, each beside its note of what it left out."""
    cache = tmp_path / "cache"

    def slimmed(n: int) -> str:
        _zip(tmp_path / "z.zip", {**SMALL, "chalicelib/a.py": f"X = {n}\n"})
        slim(tmp_path / "z.zip")
        return max(cache.glob("*.zip"), key=lambda p: p.stat().st_mtime_ns).stem

    first = slimmed(0)
    for n in range(1, lambda_zip.CACHED_ZIPS):
        slimmed(n)
        os.utime(cache / f"{first}.zip", ns=(0, n))  # older than the rest, whatever the clock
    os.utime(cache / f"{first}.zip", ns=(0, 0))
    assert slimmed(0) == first  # taken again: the last used now
    slimmed(lambda_zip.CACHED_ZIPS)  # one more: the oldest but the first one goes

    zips = {p.stem for p in cache.glob("*.zip")}
    assert len(zips) == lambda_zip.CACHED_ZIPS
    assert first in zips
    assert {p.stem for p in cache.glob("*.json")} == zips


def test_the_consoles_script_ships_shed_and_its_style_minified(
    built: dict[str, Packages],
) -> None:
    """The zip's script is the repository's line for line, without its comment lines and
    indentation (its text, template literals nested in others included, as written); its
    style minified (rcssmin)."""
    static = PROJECT_DIR / "chalicelib" / "console" / "static"
    with zipfile.ZipFile(built["dev"].cloudformation / "deployment.zip") as archive:
        script = archive.read("chalicelib/console/static/app.js").decode()
        style = archive.read("chalicelib/console/static/app.css").decode()

    assert script == shed_script((static / "app.js").read_text())
    assert style == rcssmin.cssmin((static / "app.css").read_text())
    assert len(style) < len((static / "app.css").read_text())


def _tools_see_the_whole_runtime(runtime: Path) -> None:
    """The test client's modules (chalice/local.py, chalice/test.py, __init__.py and the
    rest the zip does not hold) import what the zip's runtime has from it, and the classes it
    leaves out (a built-in authorizer's, infra/chalice_unused.py) from the installed one,
    kept beside it: the app itself imports `chalice.app`, the zip's alone."""
    (runtime / "_installed_app.py").write_text((runtime / "app.py").read_text())
    (runtime / "_either.py").write_text(
        "from chalice import _installed_app, app\n\n\n"
        "def __getattr__(name):\n"
        "    return getattr(app, name, None) or getattr(_installed_app, name)\n"
    )
    for module in runtime.rglob("*.py"):
        if module.parent != runtime or module.stem not in ("app", "_installed_app", "_either"):
            text = module.read_text()
            text = text.replace("from chalice.app import", "from chalice._either import")
            text = text.replace("from chalice import app\n", "from chalice import _either as app\n")
            module.write_text(text)


def test_the_app_behaves_the_same_on_the_zips_minified_chalice_runtime(
    built: dict[str, Packages], tmp_path: Path
) -> None:
    """Chalice's runtime ships minified (python-minifier), without what the app never uses
    (infra/chalice_unused.py): the API's and the other functions' integration tests pass
    with the zip's `chalice/app.py` in place of the installed one (the rest of the package,
    its test client among it, as installed). Its `chalice/__init__.py` ships empty: it only
    re-exports `chalice.app`'s names, and nothing in the zip imports them from `chalice`
    (the test client does: it keeps the installed one)."""
    runtime = tmp_path / "chalice"
    shutil.copytree(Path(chalice.__file__).parent, runtime, ignore=shutil.ignore_patterns("*.pyc"))
    with zipfile.ZipFile(built["dev"].cloudformation / "deployment.zip") as archive:
        shipped = archive.read("chalice/app.py").decode()
        assert shipped != (runtime / "app.py").read_text()
        _tools_see_the_whole_runtime(runtime)
        (runtime / "app.py").write_text(shipped)
        assert archive.read("chalice/__init__.py") == b""
        ours = [n for n in archive.namelist() if n.endswith(".py") and not n.startswith("chalice/")]
        for name in ours:
            tree = ast.parse(archive.read(name))
            imported = {
                a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
            }
            imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
            assert "chalice" not in imported, f"{name} imports from `chalice`, shipped empty"

    # The routes, and the worker, the reaper, the reconciler and the middleware (their log
    # lines and metrics): every kind of handler the app has.
    integration = PROJECT_DIR / "tests" / "integration"
    observed = integration / "test_observability.py"
    _pass_first_on_path(
        tmp_path,
        "chalice.app",
        [
            str(integration / "test_api.py"),
            f"{observed}::test_a_job_logs_one_job_line_and_its_emf_metrics",
            f"{observed}::test_an_idle_scheduled_run_is_logged_at_debug_and_one_that_acted_at_info",
            f"{observed}::test_an_idle_reconciler_run_is_logged_at_debug_and_one_that_removed_at_info",
        ],
    )
