"""Which STIRER each stage builds: the combinations (profile x stage x --set model.* x --init) that the README, the
notebooks and their exercises use. A stage that starts from trained weights builds the model stored with them; a
model setting that cannot apply to them is refused with one line, before anything is built."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stirer_lib.course import reference
from stirer_lib.course.build import settled, stage_config
from stirer_lib.course.profiles import OWN_STAGE1, get_profile, reference_start, reference_step
from stirer_lib.errors import SettingError
from stirer_lib.models import build_stirer, save_checkpoint

# the stage 1 the cpu course fine-tunes (its finetune.init, reference:P or reference:P@STEP)
_INIT = get_profile("cpu").finetune.init
CPU_STAGE1 = reference.reference_dir(reference_start(_INIT)) / reference.stage1_name(reference_step(_INIT))
needs_cpu_stage1 = pytest.mark.skipif(not CPU_STAGE1.exists(), reason=f"{CPU_STAGE1.name} not shipped")


def _prof(name: str, tmp_path: Path, sets: dict | None = None):
    prof = get_profile(name, sets)
    prof.run_dir = str(tmp_path / "run")
    return prof


def _fields(cfg) -> tuple:
    return cfg.embed_dim, cfg.use_bigru


@pytest.fixture
def cpu_stage1(tmp_path) -> Path:
    """A stage-1 checkpoint of the cpu profile's own model (notebook 04's), config stored."""
    path = tmp_path / "cpu_pretrain.pt"
    save_checkpoint(build_stirer(get_profile("cpu").model.stirer_config()), path, step=1)
    return path


@pytest.mark.parametrize(
    "sets, fields",
    [
        ({}, (32, False)),  # notebook 04
        ({"model.use_bigru": "false"}, (32, False)),  # README
        ({"model.use_bigru": "true"}, (32, True)),
        ({"model.t5_init": "release", "pretrain.lr_str": None}, (32, False)),  # solutions 04, exercise 1
        ({"model.embed_dim": "48"}, (48, False)),  # README
    ],
)
def test_cpu_pretraining_builds_the_profile_model_with_the_users_settings(tmp_path, sets, fields):
    assert _fields(stage_config(_prof("cpu", tmp_path, sets), "pretrain")) == fields


@needs_cpu_stage1
@pytest.mark.parametrize(
    "sets",
    [
        {},  # notebook 05
        {"model.sr_residual": True},  # README's notebook example: the weights' own value
        {"model.use_bigru": "true"},  # the weights' own value
    ],
)
def test_cpu_finetuning_builds_the_reference_stage1_model(tmp_path, sets):
    cfg = stage_config(_prof("cpu", tmp_path, sets), "finetune")
    assert cfg == get_profile("cpu-open").model.stirer_config() and _fields(cfg) == (48, True)


@needs_cpu_stage1
def test_settings_that_can_apply_to_trained_weights_apply(tmp_path):
    cfg = stage_config(_prof("cpu", tmp_path, {"model.t5_dropout": "0.1", "model.drop_path_rate": "0.05"}), "finetune")
    assert (cfg.t5_dropout, cfg.drop_path_rate, cfg.embed_dim) == (0.1, 0.05, 48)


@needs_cpu_stage1
@pytest.mark.parametrize(
    "key, value", [("model.use_bigru", "false"), ("model.embed_dim", "32"), ("model.config", "release")]
)
def test_a_model_setting_that_cannot_apply_is_refused(tmp_path, key, value):
    with pytest.raises(SettingError) as err:
        stage_config(_prof("cpu", tmp_path, {key: value}), "finetune")
    msg = str(err.value)
    assert key in msg and "stage finetune" in msg and str(CPU_STAGE1) in msg and "\n" not in msg


@pytest.mark.parametrize(
    "sets",
    [
        {"finetune.init": "none", "finetune.freeze": "none"},  # notebook 05, exercise 1 (from scratch)
        OWN_STAGE1,  # notebook 05, own_stage1 = True, before notebook 04 has run
        {**OWN_STAGE1, "model.use_bigru": "true"},
    ],
)
def test_finetuning_from_fresh_weights_or_an_unrun_stage1_builds_the_profile_model(tmp_path, sets):
    prof = _prof("cpu", tmp_path, sets)
    assert stage_config(prof, "finetune") == prof.model.stirer_config()


def test_init_on_the_command_line_builds_the_model_of_its_weights(tmp_path, cpu_stage1):
    """The issue's case: the cpu profile fine-tuning from a cpu stage 1 given as --init builds the cpu model."""
    prof = _prof("cpu", tmp_path)
    assert _fields(stage_config(prof, "finetune", cpu_stage1)) == (32, False)
    with pytest.raises(SettingError, match="model.use_bigru='true' cannot apply to stage finetune"):
        stage_config(_prof("cpu", tmp_path, {"model.use_bigru": "true"}), "finetune", cpu_stage1)


def test_the_runs_own_stage1_is_read_too(tmp_path, cpu_stage1):
    prof = _prof("cpu", tmp_path, OWN_STAGE1)
    (Path(prof.run_dir) / "pretrain").mkdir(parents=True)
    cpu_stage1.rename(Path(prof.run_dir) / "pretrain" / "last.pt")
    assert _fields(stage_config(prof, "finetune")) == (32, False)
    changed = _prof("cpu", tmp_path, {**OWN_STAGE1, "model.embed_dim": "48"})
    with pytest.raises(SettingError, match="finetune.init=run for your own stage 1"):
        stage_config(changed, "finetune")


def test_a_state_dict_without_config_builds_the_profile_model(tmp_path):
    """The release's file holds weights only: the profile says which model (the strict load checks it)."""
    import torch

    path = tmp_path / "weights_only.pth"
    torch.save(build_stirer(get_profile("cpu").model.stirer_config()).state_dict(), path)
    prof = _prof("cpu", tmp_path)
    assert stage_config(prof, "finetune", path) == prof.model.stirer_config()


@needs_cpu_stage1
def test_print_config_shows_every_stage_as_the_run_uses_it(tmp_path, capsys):
    from stirer_lib.course.__main__ import main as course_main
    from stirer_lib.train import main as train_main

    assert course_main(["--profile", "cpu", "--run-dir", str(tmp_path / "r"), "--print-config"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["name"] == "cpu" and out["data"]["style"] == "lesson" and out["data"]["sizes"]["pretrain"] == 20000
    pre, fine = out["stages"]["pretrain"], out["stages"]["finetune"]
    assert pre["start"] == "fresh weights" and (pre["model"]["embed_dim"], pre["model"]["use_bigru"]) == (32, False)
    assert fine["start"] == str(CPU_STAGE1) and (
        fine["model"]["embed_dim"],
        fine["model"]["use_bigru"],
    ) == (48, True)
    assert fine["settings"]["freeze"] == "encoder" and fine["settings"]["max_steps"] == 1800
    assert not (tmp_path / "r").exists()  # nothing built, nothing written
    args = ["--stage", "finetune", "--profile", "cpu", "--run-dir", str(tmp_path / "r" / "finetune"), "--print-config"]
    assert train_main([*args, "--set", "model.t5_dropout=0.1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out["stages"]) == ["finetune"] and out["stages"]["finetune"]["model"]["t5_dropout"] == 0.1
    assert out["overrides"] == {"model.t5_dropout": "0.1"}
    for main, argv in [(train_main, args), (course_main, ["--profile", "cpu", "--print-config"])]:
        assert main([*argv, "--set", "model.use_bigru=false"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "model.use_bigru='false' cannot apply to stage finetune" in err[0]


def test_settled_names_the_start_of_each_stage(tmp_path):
    out = settled(_prof("smoke", tmp_path))
    assert out["stages"]["pretrain"]["start"] == "fresh weights"
    assert "own stage 1" in out["stages"]["finetune"]["start"]
    assert out["stages"]["pretrain"]["model"] == get_profile("smoke").model.stirer_config().to_dict()
