from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.errors import ConfigurationError
from core.settings import PROJECT_ROOT, SAMPLE_STORE, Settings


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bot.toml"
    path.write_text(text)
    return path


def test_defaults():
    s = Settings.load(environ={})
    assert s == Settings()
    assert s.host == "127.0.0.1" and s.port == 8080
    assert s.data_dir == PROJECT_ROOT / "data"
    assert s.documents == (SAMPLE_STORE,)
    assert s.dense_weight == 0.5 and s.retrieval_top_k == 5
    assert s.database_path == PROJECT_ROOT / "data" / "conversations.sqlite3"
    assert s.index_dir == PROJECT_ROOT / "data" / "index"


def test_toml_file_with_bot_table(tmp_path):
    path = write_toml(
        tmp_path,
        '[bot]\nport = 9000\ndense_weight = 0.7\ndata_dir = "/srv/bot"\ndocuments = ["/a", "/b"]\nlog_level = "DEBUG"\n',
    )
    s = Settings.load(path, environ={})
    assert s.port == 9000
    assert s.dense_weight == 0.7
    assert s.data_dir == Path("/srv/bot")
    assert s.documents == (Path("/a"), Path("/b"))
    assert s.log_level == "DEBUG"
    assert s.host == "127.0.0.1"  # untouched settings keep their defaults
    assert s.index_dir == Path("/srv/bot/index")
    assert s.database_path == Path("/srv/bot/conversations.sqlite3")


def test_toml_file_with_top_level_keys(tmp_path):
    s = Settings.load(write_toml(tmp_path, 'host = "0.0.0.0"\ndatabase = "/tmp/c.db"\n'), environ={})
    assert s.host == "0.0.0.0"
    assert s.database_path == Path("/tmp/c.db")


def test_environment_overrides_the_file(tmp_path):
    path = write_toml(tmp_path, "[bot]\nport = 9000\nretrieval_top_k = 3\n")
    s = Settings.load(path, environ={"BOT_PORT": "9100", "BOT_DENSE_WEIGHT": "0.25", "BOT_DOCUMENTS": os.pathsep.join(["/x", "/y"])})
    assert s.port == 9100
    assert s.dense_weight == 0.25
    assert s.retrieval_top_k == 3  # from the file, not overridden
    assert s.documents == (Path("/x"), Path("/y"))


def test_config_file_from_environment(tmp_path):
    path = write_toml(tmp_path, "[bot]\nport = 9300\n")
    assert Settings.load(environ={"BOT_CONFIG": str(path)}).port == 9300


def test_unrelated_environment_variables_are_ignored():
    s = Settings.load(environ={"BOT_NOT_A_SETTING": "x", "PORT": "1", "HOME": "/root"})
    assert s == Settings()


@pytest.mark.parametrize(
    "environ, setting",
    [({"BOT_PORT": "eighty"}, "port"), ({"BOT_DENSE_WEIGHT": "half"}, "dense_weight"), ({"BOT_MAX_MESSAGE_CHARS": "2k"}, "max_message_chars")],
)
def test_bad_type_in_environment_names_the_setting(environ, setting):
    with pytest.raises(ConfigurationError) as info:
        Settings.load(environ=environ)
    assert info.value.details["setting"] == setting
    assert repr(setting) in info.value.message


def test_bad_type_in_file_names_the_setting(tmp_path):
    with pytest.raises(ConfigurationError) as info:
        Settings.load(write_toml(tmp_path, '[bot]\nretrieval_top_k = "many"\n'), environ={})
    assert info.value.details["setting"] == "retrieval_top_k"


def test_unknown_key_in_file(tmp_path):
    with pytest.raises(ConfigurationError) as info:
        Settings.load(write_toml(tmp_path, "[bot]\nport = 9000\nprot = 9001\n"), environ={})
    assert "prot" in info.value.message
    assert info.value.details["unknown"] == ["prot"]


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigurationError) as info:
        Settings.load(tmp_path / "missing.toml", environ={})
    assert "not found" in info.value.message


def test_invalid_toml(tmp_path):
    with pytest.raises(ConfigurationError) as info:
        Settings.load(write_toml(tmp_path, "[bot\nport = \n"), environ={})
    assert "not valid TOML" in info.value.message


def test_replace_coerces_and_skips_none():
    s = Settings().replace(port="1234", host=None)
    assert s.port == 1234 and s.host == "127.0.0.1"


def test_a_misspelt_runtime_is_refused_by_name():
    with pytest.raises(ConfigurationError, match="reader_runtime.*onnx-int8, onnx, torch"):
        Settings.load(environ={"BOT_READER_RUNTIME": "onnx_int8"})
    assert Settings.load(environ={"BOT_EMBEDDER_RUNTIME": "onnx"}).embedder_runtime == "onnx"
