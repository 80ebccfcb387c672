"""Finding the configuration: single file, directory layouts, @includes with globs."""

import pytest

from bareos.config import ConfigError, load_config, parse_config_text
from bareos.config.schemas import DIRECTOR, FILEDAEMON

DIRECTOR_RESOURCE = "Director {\n  Name = bareos-dir\n  Password = pw\n}\n"


def test_single_file(tmp_path):
    path = tmp_path / "anything.conf"
    path.write_text(DIRECTOR_RESOURCE)
    assert load_config(path, DIRECTOR).only("director").location == (str(path), 1)
    assert load_config(str(path), DIRECTOR).only("director").name == "bareos-dir"


def test_directory_with_daemon_conf_wins_over_tree(tmp_path):
    (tmp_path / "bareos-dir.conf").write_text(DIRECTOR_RESOURCE)
    (tmp_path / "bareos-dir.d" / "director").mkdir(parents=True)
    (tmp_path / "bareos-dir.d" / "director" / "x.conf").write_text("garbage {")
    assert load_config(tmp_path, DIRECTOR).only("director").name == "bareos-dir"


def make_tree(tree):
    (tree / "director").mkdir(parents=True)
    (tree / "director" / "bareos-dir.conf").write_text(DIRECTOR_RESOURCE)
    (tree / "client").mkdir()
    for name in ("zeta", "alpha", "mid"):
        (tree / "client" / f"{name}.conf").write_text(f"Client {{ Name = {name}; Address = h; Password = p }}\n")
    (tree / "client" / "ignored.conf.bak").write_text("not read {")
    (tree / "top-level.conf").write_text("not read {")


def test_tree_under_directory_is_read_in_sorted_order(tmp_path):
    make_tree(tmp_path / "bareos-dir.d")
    cfg = load_config(tmp_path, DIRECTOR)
    assert [client.name for client in cfg.resources("client")] == ["alpha", "mid", "zeta"]
    assert cfg.get("client", "mid").location == (str(tmp_path / "bareos-dir.d" / "client" / "mid.conf"), 1)


def test_the_tree_directory_itself(tmp_path):
    make_tree(tmp_path / "bareos-dir.d")
    assert len(load_config(tmp_path / "bareos-dir.d", DIRECTOR).resources("client")) == 3


def test_tree_name_comes_from_the_schema(tmp_path):
    make_tree(tmp_path / "bareos-dir.d")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, FILEDAEMON)
    assert str(caught.value) == f"{tmp_path}: found neither bareos-fd.conf nor bareos-fd.d/"


def test_missing_path(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope", DIRECTOR)
    assert str(caught.value) == f"{tmp_path / 'nope'}: no such configuration file or directory"


def test_empty_tree(tmp_path):
    (tmp_path / "bareos-dir.d").mkdir()
    with pytest.raises(ConfigError, match="no configuration files"):
        load_config(tmp_path, DIRECTOR)


def test_include_relative_to_including_file_with_glob(tmp_path):
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "b.conf").write_text("Client { Name = b; Address = h; Password = p }\n")
    (tmp_path / "conf.d" / "a.conf").write_text("Client { Name = a; Address = h; Password = p }\n")
    (tmp_path / "bareos-dir.conf").write_text(DIRECTOR_RESOURCE + "@conf.d/*.conf\n")
    cfg = load_config(tmp_path, DIRECTOR)
    assert [client.name for client in cfg.resources("client")] == ["a", "b"]
    assert cfg.get("client", "b").location == (str(tmp_path / "conf.d" / "b.conf"), 1)


def test_include_inside_a_resource_and_nested_relative_includes(tmp_path):
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "password.inc").write_text("Password = fromfile\n@more.inc\n")
    (tmp_path / "secrets" / "more.inc").write_text("Lan Address = 10.1.1.1\n")
    (tmp_path / "bareos-dir.conf").write_text(
        DIRECTOR_RESOURCE + 'Client {\n  Name = c\n  Address = h\n  @"secrets/password.inc"\n}\n')
    client = load_config(tmp_path, DIRECTOR).get("client", "c")
    assert client.password.clear == "fromfile"
    assert client.line_of("lan_address") == (str(tmp_path / "secrets" / "more.inc"), 1)


def test_errors_in_included_files_name_that_file(tmp_path):
    (tmp_path / "bad.inc").write_text("\n\nClient { Name = c; Colour = red }\n")
    (tmp_path / "bareos-dir.conf").write_text(DIRECTOR_RESOURCE + f"@{tmp_path}/bad.inc\n")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, DIRECTOR)
    assert str(caught.value) == f"{tmp_path / 'bad.inc'}:3: unknown directive 'Colour' in Client resource"


def test_include_that_matches_nothing_names_file_and_line(tmp_path):
    (tmp_path / "bareos-dir.conf").write_text(DIRECTOR_RESOURCE + "\n@missing/*.conf\n")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, DIRECTOR)
    assert str(caught.value) == (f"{tmp_path / 'bareos-dir.conf'}:6: include '{tmp_path / 'missing/*.conf'}'"
                                 " matches no file")


def test_recursive_include_is_an_error(tmp_path):
    (tmp_path / "loop.conf").write_text("@loop.conf\n")
    with pytest.raises(ConfigError, match="includes nested deeper than 32 levels"):
        load_config(tmp_path / "loop.conf", DIRECTOR)


def test_undecodable_file(tmp_path):
    (tmp_path / "bareos-dir.conf").write_bytes(b"Director { Name = \xff }")
    with pytest.raises(ConfigError, match="cannot read configuration file"):
        load_config(tmp_path, DIRECTOR)


def test_parse_config_text_resolves_relative_includes_from_cwd(tmp_path, monkeypatch):
    (tmp_path / "d.inc").write_text(DIRECTOR_RESOURCE)
    monkeypatch.chdir(tmp_path)
    assert parse_config_text("@d.inc", DIRECTOR).only("director").name == "bareos-dir"
