"""Bad input to ``chaosbench train`` (and the files it reads): one-line errors naming the thing, exit 2.

Checkpoints that are not checkpoints (YAML, random bytes, text, empty, truncated, a model file without
training state) given to ``--resume`` or to ``evaluate``; a model whose shape changed since the
checkpoint; bad ``--set`` values; unknown task kinds; typos in every section of a run file (reported
before any data is read); run folders that exist (refused unless ``--resume`` / ``--overwrite``, and
``--overwrite`` never leaves a mix); and a real bug, which still shows its traceback.
"""

from __future__ import annotations

import copy
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from chaosbench_py.cli import main as cli_main
from chaosbench_py.errors import OutputExistsError
from chaosbench_py.training import ConfigError, Trainer, config_from_dict, get_task, read_metrics
from emulators.errors import CheckpointError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def lorenz_npy(tmp_path_factory) -> Path:
    """A Lorenz-63 series (600, 3), dt = 0.02, after a transient (explicit Euler substeps, no solver)."""
    s, out = np.array([1.0, 1.0, 20.0]), []
    for _ in range(800):
        for _ in range(20):
            x, y, z = s
            s = s + 0.001 * np.array([10 * (y - x), x * (28 - z) - y, x * y - 8 / 3 * z])
        out.append(s)
    path = tmp_path_factory.mktemp("traj") / "lorenz.npy"
    np.save(path, np.array(out[200:]))
    return path


def _config(path: Path | str, **train) -> dict:
    return {
        "model": {"name": "shplrnn", "config": {"latent_dim": 6, "hidden_dim": 12}},
        "data": {"kind": "trajectories", "path": str(path), "train_fraction": 0.8, "standardize": True},
        "task": {"kind": "gtf", "gtf": {"sequence_length": 10, "alpha_update_interval": 2}},
        "optimizer": {"name": "radam", "lr": 1e-3},
        "schedule": {"name": "constant"},
        "train": {"steps": 6, "batch_size": 4, "checkpoint_every": 3, "log_every": 1, "progress": False,
                  "device": "cpu", **train},
    }  # fmt: skip


def _write(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path


def _cli(argv: list[str], capsys) -> tuple[int, str]:
    """Run the CLI in-process; returns ``(exit status, the error line)`` and checks it is one line."""
    capsys.readouterr()
    rc = cli_main(argv)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith(f"chaosbench {argv[0]}: error:")]
    assert "Traceback" not in err, err
    if rc == 2:
        assert len(lines) == 1, err
    return rc, lines[0] if lines else ""


@pytest.fixture(scope="module")
def finished_run(lorenz_npy, tmp_path_factory) -> Path:
    """A completed 6-step GTF run (checkpoints/last.pt, model.pt, config.yaml, metrics.csv)."""
    out = tmp_path_factory.mktemp("runs") / "run"
    Trainer(_config(lorenz_npy), out).fit()
    return out


def _copy(run: Path, dest: Path) -> Path:
    shutil.copytree(run, dest)
    return dest


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


# ---------------------------------------------------------------------------- not-a-checkpoint files
def _yaml_file(path: Path, real: Path) -> None:
    path.write_text("model:\n  name: shplrnn\ntrain: {steps: 3}\n")


def _random_bytes(path: Path, real: Path) -> None:
    path.write_bytes(np.random.default_rng(0).bytes(4096))


def _text_file(path: Path, real: Path) -> None:
    path.write_text("this is not a checkpoint\n" * 20)


def _empty_file(path: Path, real: Path) -> None:
    path.write_bytes(b"")


def _truncated(path: Path, real: Path) -> None:
    data = real.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _model_file(path: Path, real: Path) -> None:  # a model.pt: weights, no training state
    shutil.copy(real.parent.parent / "model.pt", path)


BAD_FILES = {
    "yaml": (_yaml_file, "not a torch checkpoint"),
    "random_bytes": (_random_bytes, "not a torch checkpoint"),
    "text": (_text_file, "not a torch checkpoint"),
    "empty": (_empty_file, "empty file"),
    "truncated": (_truncated, "truncated or damaged"),
    "model_without_training_state": (_model_file, "without training state"),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_resume_from_a_file_that_is_not_a_training_checkpoint(
    kind, finished_run, lorenz_npy, tmp_path, capsys
):
    run = _copy(finished_run, tmp_path / "run")
    last = run / "checkpoints" / "last.pt"
    make, reason = BAD_FILES[kind]
    make(last, finished_run / "checkpoints" / "last.pt")
    cfg = _write(tmp_path / "run.yaml", _config(lorenz_npy, steps=9))
    rc, line = _cli(["train", str(cfg), "--out", str(run), "--resume"], capsys)
    assert rc == 2 and str(last) in line and reason in line, line
    # the API raises the checkpoint error class, naming the file
    with pytest.raises(CheckpointError, match="last.pt"):
        Trainer(_config(lorenz_npy, steps=9), run, resume=True)


@pytest.mark.parametrize("kind", ["yaml", "random_bytes", "truncated"])
def test_evaluate_a_model_file_that_is_not_a_checkpoint(kind, finished_run, tmp_path, capsys):
    run = _copy(finished_run, tmp_path / "run")
    make, reason = BAD_FILES[kind]
    make(run / "model.pt", finished_run / "checkpoints" / "last.pt")
    rc, line = _cli(["evaluate", str(run), "--out", str(tmp_path / "ev")], capsys)
    assert rc == 2 and "model.pt" in line and reason in line, line


def test_resume_after_changing_the_model_shape(finished_run, lorenz_npy, tmp_path, capsys):
    run = _copy(finished_run, tmp_path / "run")
    cfg = _write(tmp_path / "run.yaml", _config(lorenz_npy, steps=9))
    rc, line = _cli(
        ["train", str(cfg), "--out", str(run), "--resume", "--set", "model.config.hidden_dim=16"], capsys
    )
    assert rc == 2 and str(run / "checkpoints" / "last.pt") in line
    assert "of another shape" in line and "W1" in line and "checkpoint (6, 12) vs model (6, 16)" in line, line
    assert _digest(run) == _digest(finished_run)  # nothing was written


# ---------------------------------------------------------------------------- --set and config typos
@pytest.mark.parametrize(
    "sets, message",
    [
        (["train.steps=abc"], "train.steps: expected int, got 'abc'"),
        (["trainsteps"], "--set 'trainsteps': expected KEY=VALUE"),
        (["train.steps.every=1"], "train.steps.every: 'steps' is not a section"),
        (["optimizer.lr=-1"], "optimizer.lr: must be > 0"),
        (["model.config.hiden_dim=3"], "model.config.hiden_dim: unknown key for model 'shplrnn' (did you mean 'hidden_dim'?)"),
        (["task.kind=gft"], "task.kind: unknown task kind 'gft' (did you mean 'gtf'?)"),
        (["train.device=gpu0"], "train.device: 'gpu0' is not a device"),
    ],
)  # fmt: skip
def test_bad_set_values(sets, message, tmp_path, capsys):
    cfg = _write(tmp_path / "run.yaml", _config(tmp_path / "no_such_data.npy"))
    argv = ["train", str(cfg), "--out", str(tmp_path / "out")]
    for item in sets:
        argv += ["--set", item]
    rc, line = _cli(argv, capsys)
    assert rc == 2 and message in line, line
    assert not (tmp_path / "out").exists()


def _set(cfg: dict, dotted: str, value) -> dict:
    cfg = copy.deepcopy(cfg)
    *parents, last = dotted.split(".")
    node = cfg
    for p in parents:
        node = node.setdefault(p, {})
    if value is _DELETE:
        node.pop(last)
    else:
        node[last] = value
    return cfg


_DELETE = object()

# one typo or wrong value per section; the data path does not exist, so each must be found before data is read
SECTION_ERRORS = [
    ("model.nmae", "shplrnn", "model.nmae: unknown key (did you mean 'name'?)"),
    ("model.name", "shplrn", "model.name: unknown model 'shplrn'"),
    ("model.config.hiden_dim", 12, "model.config.hiden_dim: unknown key for model 'shplrnn' (did you mean 'hidden_dim'?)"),
    ("model.config.latent_dim", "six", "model.config.latent_dim: expected int, got 'six'"),
    ("model.config.latent_dim", _DELETE, "model.config.latent_dim: required by model 'shplrnn'"),
    ("data.pth", "x.npy", "data.pth: unknown key (did you mean 'path'?)"),
    ("data.kind", "trajectory", "data.kind: 'trajectory' is not one of"),
    ("data.train", ["yesterday", "today"], "data.train: 'yesterday' is not a date/time"),
    ("task.sequence_length", 10, "task.sequence_length: unknown key"),
    ("task.gtf.alpha_methd", "constant", "task.gtf.alpha_methd: unknown key"),
    ("task.gtf.alpha", 2.0, "task.gtf.alpha must lie in [0, 1]"),
    ("task.phyxmamba", {"stage1_steps": 2}, "task.phyxmamba: only read by task.kind 'phyxmamba'"),
    ("task.kind", "next_step", "task.kind: 'next_step' trains on data.kind 'gridded'; data.kind is 'trajectories'"),
    ("optimizer.learning_rate", 1e-3, "optimizer.learning_rate: unknown key"),
    ("optimizer.name", "adamax", "optimizer.name: 'adamax' is not one of"),
    ("schedule.warmup", 5, "schedule.warmup: unknown key (did you mean 'warmup_steps'?)"),
    ("train.batchsize", 4, "train.batchsize: unknown key (did you mean 'batch_size'?)"),
    ("train.ema_decay", 1.5, "train.ema_decay: must lie in (0, 1)"),
]  # fmt: skip


@pytest.mark.parametrize("dotted, value, message", SECTION_ERRORS, ids=[e[0] for e in SECTION_ERRORS])
def test_config_errors_in_every_section_before_the_data(dotted, value, message, tmp_path, capsys):
    cfg = _set(_config(tmp_path / "no_such_data.npy"), dotted, value)
    with pytest.raises(ConfigError) as info:
        config_from_dict(cfg)
    assert message in str(info.value)
    rc, line = _cli(
        ["train", str(_write(tmp_path / "run.yaml", cfg)), "--out", str(tmp_path / "out")], capsys
    )
    assert rc == 2 and message in line and "no_such_data" not in line, line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\xc1\x00\xff binary", "not a text (YAML) file"),
        (b"model: [unclosed\ntrain: {steps: 3}\n", "not valid YAML"),
        (b"- just\n- a list\n", "expected a mapping of sections"),
        (None, "is a folder, not a run configuration"),
    ],
    ids=["binary", "yaml_syntax", "not_a_mapping", "folder"],
)
def test_run_files_that_are_not_run_files(content, message, tmp_path, capsys):
    path = tmp_path / "run.yaml"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    rc, line = _cli(["train", str(path), "--out", str(tmp_path / "out")], capsys)
    assert rc == 2 and str(path) in line and message in line, line


def test_a_model_config_typo_is_reported_without_opening_the_data(lorenz_npy, tmp_path, monkeypatch):
    import chaosbench_py.training.tasks.sequence as sequence

    def opened(path):  # pragma: no cover - must not run
        raise AssertionError(f"the data was opened: {path}")

    monkeypatch.setattr(sequence, "open_trajectory_source", opened)
    cfg = _set(_config(lorenz_npy), "model.config.hidden_dimm", 12)
    with pytest.raises(ConfigError, match="model.config.hidden_dimm"):
        Trainer(cfg, tmp_path / "out")
    with pytest.raises(AssertionError, match="the data was opened"):  # the probe works
        Trainer(_config(lorenz_npy), tmp_path / "out2")


def test_unknown_task_kind_lists_close_matches():
    with pytest.raises(KeyError) as info:
        get_task("multistep")
    assert "unknown task kind 'multistep' (did you mean 'multi_step'?)" in str(info.value)
    assert "registered: ['gtf', 'multi_step', 'next_step', 'phyxmamba']" in str(info.value)


# ---------------------------------------------------------------------------- run folders
def test_an_existing_run_folder_is_refused_and_left_alone(finished_run, lorenz_npy, tmp_path, capsys):
    run = _copy(finished_run, tmp_path / "run")
    cfg = _write(tmp_path / "run.yaml", _config(lorenz_npy))
    rc, line = _cli(["train", str(cfg), "--out", str(run)], capsys)
    assert rc == 2 and str(run) in line and "--resume" in line and "--overwrite" in line, line
    assert _digest(run) == _digest(finished_run)
    with pytest.raises(OutputExistsError, match="overwrite"):
        Trainer(_config(lorenz_npy), run)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputExistsError, match="not a folder"):
        Trainer(_config(lorenz_npy), tmp_path / "file", overwrite=True)
    rc, line = _cli(["train", str(cfg), "--out", str(tmp_path / "nothing"), "--resume"], capsys)
    assert rc == 2 and "no checkpoint at" in line and "nothing" in line
    with pytest.raises(SystemExit) as info:  # argparse: the two options exclude each other
        cli_main(["train", str(cfg), "--out", str(run), "--resume", "--overwrite"])
    assert info.value.code == 2


def test_overwrite_replaces_the_run_only_once_the_new_one_has_a_checkpoint(
    finished_run, lorenz_npy, tmp_path
):
    run = _copy(finished_run, tmp_path / "run")
    before = _digest(run)
    # a replacement that fails before its first checkpoint: the old run is untouched and nothing is in view
    trainer = Trainer(_config(lorenz_npy, steps=8, checkpoint_every=4), run, overwrite=True)

    def failing(model, batch, step):
        if step == 2:
            raise RuntimeError("simulated crash")
        return real(model, batch, step)

    real, trainer.task.compute_loss = trainer.task.compute_loss, failing
    with pytest.raises(RuntimeError, match="simulated crash"):
        trainer.fit()
    assert _digest(run) == before
    assert {p.name for p in tmp_path.iterdir() if not p.name.startswith(".")} == {"run"}
    assert not (tmp_path / ".run.replaced").exists()
    # the replacement that completes: only the new run's files, no leftovers beside it
    Trainer(_config(lorenz_npy, steps=8, checkpoint_every=4), run, overwrite=True).fit()
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["steps"] == 8
    assert [r["step"] for r in read_metrics(run / "metrics.csv")] == list(range(1, 9))
    assert {p.name for p in tmp_path.iterdir()} == {"run"}


def test_a_new_run_is_not_in_view_before_its_first_checkpoint(lorenz_npy, tmp_path):
    out = tmp_path / "run"
    trainer = Trainer(_config(lorenz_npy, steps=6, checkpoint_every=4), out)
    trainer.fit(stop_after=2)  # fit always ends with a checkpoint: the run is in place now
    assert (out / "checkpoints" / "last.pt").exists() and not (tmp_path / ".run.incomplete").exists()
    fresh = Trainer(_config(lorenz_npy, steps=6, checkpoint_every=4), tmp_path / "other")
    assert not (tmp_path / "other").exists() and (tmp_path / ".other.incomplete" / "config.yaml").exists()
    fresh.fit()
    assert (tmp_path / "other" / "model.pt").exists() and not (tmp_path / ".other.incomplete").exists()


# ---------------------------------------------------------------------------- bugs keep their traceback
def test_a_bug_inside_the_trainer_shows_its_traceback(lorenz_npy, tmp_path, monkeypatch):
    def broken(self, *args, **kwargs):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'NoneType'")

    monkeypatch.setattr(Trainer, "train_step", broken)
    cfg = _write(tmp_path / "run.yaml", _config(lorenz_npy))
    with pytest.raises(TypeError, match="unsupported operand"):
        cli_main(["train", str(cfg), "--out", str(tmp_path / "out")])


def test_verbose_logs_the_traceback_of_a_user_error(tmp_path, caplog):
    cfg = _write(tmp_path / "run.yaml", _set(_config(tmp_path / "x.npy"), "train.batchsize", 4))
    with caplog.at_level("ERROR"):
        assert cli_main(["-v", "train", str(cfg), "--out", str(tmp_path / "out")]) == 2
    assert any(r.exc_info and isinstance(r.exc_info[1], ConfigError) for r in caplog.records)
