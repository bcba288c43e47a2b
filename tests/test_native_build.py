"""The one build/cache/load helper of the package's C kernels (physics_metrics._native_build)."""

from __future__ import annotations

import ctypes
import shutil

import pytest

from physics_metrics import _native_build as nb

SOURCE = "double twice(double x) { return 2.0 * x; }\n"
FLAGS = ("-O2", "-shared", "-fPIC")
needs_cc = pytest.mark.skipif(
    shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler"
)


def _declare(lib):
    lib.twice.argtypes, lib.twice.restype = [ctypes.c_double], ctypes.c_double


@pytest.fixture
def private(monkeypatch, tmp_path):
    monkeypatch.setattr(nb.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    return tmp_path / "tmp" / nb.private_folder().name


def test_name_follows_source_flags_and_cpu():
    name = nb.library_name(SOURCE, "k", FLAGS)
    assert name.startswith("k_") and name.endswith(".so")
    assert name == nb.library_name(SOURCE, "k", list(FLAGS))
    assert name != nb.library_name(SOURCE + " ", "k", FLAGS)
    assert name != nb.library_name(SOURCE, "k", (*FLAGS, "-O3"))
    assert name != nb.library_name(SOURCE, "k", FLAGS, cpu_specific=True)


def test_cache_folder_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SOME_CACHE", str(tmp_path / "c"))
    assert nb.cache_folder("SOME_CACHE", "pkg", "native") == tmp_path / "c" / "native"
    monkeypatch.delenv("SOME_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert nb.cache_folder("SOME_CACHE", "pkg") == tmp_path / "xdg" / "pkg"


@needs_cc
def test_built_once_then_loaded_without_a_compiler(monkeypatch, tmp_path, private):
    cache = tmp_path / "cache"
    lib = nb.load_library(SOURCE, stem="k", flags=FLAGS, cache=cache, setup=_declare)
    assert lib.twice(1.5) == 3.0
    assert [p.name for p in cache.iterdir()] == [
        nb.library_name(SOURCE, "k", FLAGS)
    ]  # no sources, no temp folders
    monkeypatch.setattr(nb.shutil, "which", lambda name: None)
    assert nb.load_library(SOURCE, stem="k", flags=FLAGS, cache=cache, setup=_declare).twice(2.0) == 4.0
    assert not private.exists()


@needs_cc
def test_unwritable_or_damaged_cache_falls_back_to_the_private_folder(tmp_path, private):
    blocker = tmp_path / "file_not_folder"
    blocker.write_text("")
    assert nb.load_library(SOURCE, stem="k", flags=FLAGS, cache=blocker, setup=_declare).twice(1.0) == 2.0
    assert blocker.read_text() == "" and (private / nb.library_name(SOURCE, "k", FLAGS)).exists()
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / nb.library_name("int x;", "k", FLAGS)).write_bytes(b"not a shared library")
    nb.load_library("int x;", stem="k", flags=FLAGS, cache=damaged)
    assert (private / nb.library_name("int x;", "k", FLAGS)).exists()


@needs_cc
def test_a_library_without_the_declared_function_is_not_used(tmp_path, private):
    with pytest.raises(nb.NativeBuildError, match="twice"):
        nb.load_library(
            "int other(void) { return 1; }\n", stem="k", flags=FLAGS, cache=tmp_path, setup=_declare
        )


def test_no_compiler_is_named(monkeypatch, tmp_path, private):
    monkeypatch.setattr(nb.shutil, "which", lambda name: None)
    with pytest.raises(nb.NativeBuildError, match="no C compiler"):
        nb.load_library(SOURCE + "/* new */", stem="k", flags=FLAGS, cache=tmp_path / "cache")


@needs_cc
def test_compiler_errors_are_reported_and_leave_nothing(tmp_path, private):
    with pytest.raises(nb.NativeBuildError, match="k: no native kernel"):
        nb.load_library("this is not C", stem="k", flags=FLAGS, cache=tmp_path / "cache")
    assert not list((tmp_path / "cache").iterdir())
