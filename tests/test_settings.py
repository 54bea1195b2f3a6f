"""Every setting has one typed home: the model's fields are StirerConfig's, typed, merged, checked before a build."""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import typing
from pathlib import Path
from typing import Any

import pytest

from stirer_lib.course import get_profile
from stirer_lib.course.profiles import MODEL_FIELDS, Profile, parse_value
from stirer_lib.errors import SettingError
from stirer_lib.models import StirerConfig

REPO = Path(__file__).resolve().parents[1]


def _settings(prof: Profile) -> dict[str, Any]:
    """Every setting of a profile by its --set key, the model's as the StirerConfig it builds (model.<field>)."""
    flat: dict[str, Any] = {"model.config": prof.model.config}
    flat.update({f"model.{k}": v for k, v in prof.model.stirer_config().to_dict().items() if k != "name"})
    for section, values in prof.as_dict().items():
        if section == "model":
            continue
        items = values.items() if isinstance(values, dict) else [(None, values)]
        for k, v in items:
            entries = v.items() if isinstance(v, dict) else [(None, v)]
            flat.update({".".join(p for p in (section, k, e) if p): x for e, x in entries})
    return flat


def _cell_sources(path: Path) -> list[str]:
    return ["".join(c["source"]) for c in json.loads(path.read_text(encoding="utf-8"))["cells"]]


def _solution_6_overrides() -> dict[str, Any]:
    """The overrides of solution 04's exercise 6, read from its code: short_run("release_init", {...}, ...)."""
    for src in _cell_sources(REPO / "notebooks" / "solutions" / "04_solutions.ipynb"):
        for node in ast.walk(ast.parse(src)) if "release_init" in src else ():
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "short_run"
                and ast.literal_eval(node.args[0]) == "release_init"
            ):
                return ast.literal_eval(node.args[1])
    raise AssertionError("solution 04 has no short_run('release_init', {...}) cell")


def test_exercise_6_and_its_solution_change_exactly_the_two_settings_they_name():
    extra = _solution_6_overrides()
    assert set(extra) == {"model.t5_init", "pretrain.lr_str"}
    cpu, changed = _settings(get_profile("cpu")), _settings(get_profile("cpu", extra))
    assert {k for k in cpu if cpu[k] != changed[k]} == set(extra)
    assert all(changed[k] == v for k, v in extra.items())
    chapter = "\n".join(_cell_sources(REPO / "notebooks" / "04_pretraining.ipynb"))
    shown = re.findall(r"`(\{[^`]*t5_init[^`]*\})`", chapter)
    assert [ast.literal_eval(s) for s in shown] == [extra]  # the exercise shows what the solution runs


def test_typed_model_keys_parse_to_their_field_types():
    prof = get_profile(
        "smoke",
        [
            "model.sr_residual=true",
            "model.use_bigru=off",
            "model.embed_dim=48",
            "model.mlp_ratio=3",
            "model.depths=(1, 2, 3)",
            "model.window_size=16,2",
            "model.t5_init=t5",
            "model.config=release",
        ],
    )
    assert prof.model.changes == {
        "sr_residual": True,
        "use_bigru": False,
        "embed_dim": 48,
        "mlp_ratio": 3.0,
        "depths": (1, 2, 3),
        "window_size": (16, 2),
        "t5_init": "t5",
    }
    assert isinstance(prof.model.changes["mlp_ratio"], float)
    cfg = prof.model.stirer_config()
    assert cfg.name == "release" and cfg.depths == (1, 2, 3) and cfg.sr_residual and not cfg.use_bigru
    given = get_profile("smoke", {"model.depths": [2, 2, 2], "model.drop_path_rate": 0, "model.use_bigru": False})
    assert given.model.changes == {"depths": (2, 2, 2), "drop_path_rate": 0.0, "use_bigru": False}


def test_every_setting_parses_its_own_value():
    """Each field of a profile and each StirerConfig field has a parser that gives its default back."""

    def leaves(node: Any, prefix: str):
        for name, tp in typing.get_type_hints(type(node)).items():
            value = getattr(node, name)
            if dataclasses.is_dataclass(value):
                yield from leaves(value, f"{prefix}{name}.")
            elif name != "changes":
                yield f"{prefix}{name}", tp, value

    for key, tp, value in leaves(get_profile("cpu"), ""):
        assert parse_value(value, tp, key) == value, key
    release = StirerConfig()
    for name, tp in MODEL_FIELDS.items():
        value = getattr(release, name)
        assert parse_value(value, tp, name) == value and parse_value(str(value), tp, name) == value, name


def test_model_settings_merge_never_replace():
    cpu = get_profile("cpu").model.changes
    assert cpu["use_bigru"] is False and cpu["sr_residual"] is True
    for over in (["model.embed_dim=16"], {"model.embed_dim": 16}):
        assert get_profile("cpu", over).model.changes == {**cpu, "embed_dim": 16}
    assert get_profile("cpu", ["model.use_bigru=true"]).model.stirer_config().use_bigru is True
    sizes = get_profile("cpu", {"data.sizes": {"easy": 5}}).data.sizes
    assert sizes == {**get_profile("cpu").data.sizes, "easy": 5}


def test_a_profile_is_one_record_and_the_generator_reads_it(tmp_path, monkeypatch):
    """Description, data style and sizes live in the profile's record; `python -m stirer_lib.data.synth --profile P`
    generates P's sizes and style, and refuses the real-data profile in one line."""
    from stirer_lib.course.profiles import PROFILES
    from stirer_lib.data import synth

    for name, record in PROFILES.items():
        prof = get_profile(name)
        assert prof.description == record["description"] and prof.description
        if "data.sizes" in record:
            assert prof.data.sizes == {k: int(v) for k, v in record["data.sizes"].items()}
    assert get_profile("cpu").data.sizes is not PROFILES["cpu"]["data.sizes"]  # a copy: --set cannot change the table
    seen = {}

    def fake_generate(out, sizes, seed, **kw):
        out.mkdir(parents=True)
        seen.update(sizes=sizes, **kw)

    monkeypatch.setattr(synth, "generate", fake_generate)
    assert synth.main(["--out", str(tmp_path / "a"), "--profile", "cpu-long", "--size", "easy=7"]) == 0
    assert seen["sizes"] == {**get_profile("cpu-long").data.sizes, "easy": 7} and seen["style"] == "lesson"
    assert synth.main(["--out", str(tmp_path / "b"), "--profile", "paper"]) == 2


@pytest.mark.parametrize(
    "over, words",
    [
        (
            ["model.use_bigrus=true"],
            ["unknown setting", "'model.use_bigrus'", "did you mean 'model.use_bigru'", "'config'", "'t5_init'"],
        ),
        (["model.use_bigru.x=1"], ["unknown setting", "model.use_bigru.x"]),
        (["model.use_bigru=maybe"], ["model.use_bigru='maybe'", "true or false (bool)"]),
        ({"model.use_bigru": "maybe"}, ["model.use_bigru='maybe'", "bool"]),
        ({"model.use_bigru": 1}, ["model.use_bigru=1", "bool"]),
        (["model.embed_dim=4.5"], ["model.embed_dim='4.5'", "whole number (int)"]),
        ({"model.embed_dim": True}, ["model.embed_dim=True", "int"]),
        (["model.drop_path_rate=high"], ["model.drop_path_rate='high'", "float"]),
        (["model.depths=(2, x, 2)"], ["model.depths='(2, x, 2)'", "tuple[int, ...]"]),
        (["model.depths=(2, 2.5, 2)"], ["model.depths", "tuple[int, ...]"]),
        ({"model.depths": [2, "a", 2]}, ["model.depths=[2, 'a', 2]", "tuple[int, ...]"]),
        (["model.window_size=(16, 2, 1)"], ["model.window_size", "tuple[int, int]"]),
        (["model.config=huge"], ["model.config='huge'", "release", "small"]),
        (["model.t5_init=xavier"], ["model", "t5_init", "xavier"]),  # StirerConfig's own check, at profile time
        (["model.embed_dim=50"], ["model", "embed_dim", "50"]),
        (["data.sizes={'easy': 'many'}"], ["data.sizes.easy='many'", "int"]),
        (["data.sizes={'nope': 3}"], ["unknown setting", "data.sizes.nope"]),
        (["data.sizes.easy.x=3"], ["unknown setting", "data.sizes.easy is a value"]),
        (["data=1"], ["'data' is a section"]),
    ],
)
def test_a_wrong_key_or_value_is_one_setting_error_line(over, words):
    with pytest.raises(SettingError) as err:
        get_profile("cpu", over)
    text = str(err.value)
    assert "\n" not in text and all(w in text for w in words), text


def test_a_wrong_model_setting_stops_the_command_before_anything_is_built(tmp_path, capsys):
    from stirer_lib.train import main as train_main

    assert train_main(["--stage", "pretrain", "--run-dir", str(tmp_path / "r"), "--set", "model.use_bigru=maybe"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: model.use_bigru='maybe'") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_the_old_model_overrides_form_still_merges_with_a_notice_naming_the_new_keys():
    cpu = get_profile("cpu").model.changes
    with pytest.warns(FutureWarning, match=r"model\.overrides\.t5_init is deprecated.*set model\.t5_init"):
        assert get_profile("cpu", ["model.overrides.t5_init=release"]).model.changes == {**cpu, "t5_init": "release"}
    with pytest.warns(FutureWarning, match=r"set model\.drop_path_rate, model\.use_bigru instead"):
        merged = get_profile("cpu", {"model.overrides": {"drop_path_rate": 0.1, "use_bigru": True}}).model.changes
    assert merged == {**cpu, "drop_path_rate": 0.1, "use_bigru": True}
    with pytest.warns(FutureWarning), pytest.raises(SettingError, match="model.use_bigru='maybe'"):
        get_profile("cpu", ["model.overrides.use_bigru=maybe"])
    with pytest.warns(FutureWarning), pytest.raises(SettingError, match="unknown setting 'model.bigru'"):
        get_profile("cpu", {"model.overrides": {"bigru": False}})
