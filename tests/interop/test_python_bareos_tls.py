"""python-bareos (TLS-PSK or cleartext only) against a director whose listener also has a
certificate: it gets TLS-PSK, as from Bareos, where the PSK wins when both sides have it."""

import pytest

from bareos.testing.certificates import TestCA
from bareos.testing.daemons import TLS_REQUIRED
from bareos.testing.pybareos import director_console

pytestmark = pytest.mark.usefixtures("pybareos_venv")


def test_python_bareos_gets_tls_psk_from_a_director_with_a_certificate(suite, tmp_path):
    ca = TestCA(tmp_path / "pki")
    issued = ca.issue(suite.director_name, ip_addresses=[suite.host])
    spec = suite.add_console("admin", tls=TLS_REQUIRED)
    suite.start_director(director_extra=[
        f'TLS Certificate = "{issued.certificate}"', f'TLS Key = "{issued.key}"',
        f'TLS CA Certificate File = "{ca.certificate}"'])

    answer = director_console(suite.dir_port, spec.password, name="admin", tls_psk_enable=True,
                              tls_psk_require=True, calls=["status director"])

    assert answer["ok"], answer
    assert "PSK" in answer["tls"][0], answer
    assert suite.director_name in answer["results"][0]
