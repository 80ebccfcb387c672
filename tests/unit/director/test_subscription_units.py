"""How ``status subscription`` names a FileSet's plugin and counts units (Bareos' rules)."""

import pytest

from bareos.catalog.api import SubscriptionBackup
from bareos.director.console.subscription import plugin_of, summary, units_by_client_and_plugin


@pytest.mark.parametrize("fileset_text, plugin", [
    ("I\nF /etc\nN\n", None),
    ("I\nP python3:module_name=bareos-fd-mariabackup:mycnf=/x\nN\n", "mariabackup"),
    ("I\nP python:module_path=/p:module_name=bareos-vmware\nN\n", "vmware"),
    ("I\nP python3:module_name=MyOwn\nN\n", "myown"),
    ("I\nP python3:module_path=/usr/lib\nN\n", "other python plugin"),
    ("I\nP grpc:bareos-grpc-fd-plugin-bridge:python3:module_name=bareos-fd-ldap\nN\n", "ldap"),
    ("I\nP grpc:hello-plugin:x=1\nN\n", "hello-plugin"),
    ('I\nP "bpipe:file=/x:reader=cat"\nN\n', "bpipe"),
])
def test_the_plugin_a_fileset_names(fileset_text, plugin):
    assert plugin_of(fileset_text) == plugin


def backup(client_id, fileset, text, size):
    return SubscriptionBackup(client_id, f"fd{client_id}", fileset, text, 0, size)


def test_file_data_filesets_of_a_client_are_one_unit_plugin_filesets_one_each():
    units = units_by_client_and_plugin([
        backup(1, "Etc", "F /etc", 10**9), backup(1, "Home", "F /home", 10**9),
        backup(1, "Db1", "P bpipe:a", 0), backup(1, "Db2", "P bpipe:b", 0),
        backup(2, "Etc", "F /etc", 0)])
    assert units == {(1, "fd1", None): [1, 2.0], (1, "fd1", "bpipe"): [2, 0.0],
                     (2, "fd2", None): [1, 0.0]}
    assert summary(units, 3) == {
        "accounting_mode": "count-based (1 volume-based < 4 count-based)",
        "used": 4, "configured": 3, "remaining": -1}


def test_each_started_terabyte_is_a_unit_when_that_counts_more():
    units = units_by_client_and_plugin([backup(1, "Etc", "F /etc", 2 * 10**12 + 1)])
    assert summary(units, 0)["accounting_mode"] == \
        "volume-based (3 volume-based units >= 1 count-based units)"
    assert summary({}, 5) == {
        "accounting_mode": "volume-based (0 volume-based units >= 0 count-based units)",
        "used": 0, "configured": 5, "remaining": 5}
