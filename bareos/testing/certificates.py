"""Test certificates made at test time: a small CA, certificates it signs, and its CRL.

Never check a private key in: tests call these into a temporary directory.
"""

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

_DAY = datetime.timedelta(days=1)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


@dataclass
class Issued:
    certificate: Path
    key: Path
    serial: int


class TestCA:
    """A CA in ``directory``: ``ca.pem``, and ``issue()`` for the daemons' certificates."""

    __test__ = False        # not a pytest test class

    def __init__(self, directory: Path, name: str = "Bareos Test CA") -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.name = name
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._cert = (
            x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name))
            .public_key(self._key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(_now() - _DAY).not_valid_after(_now() + 30 * _DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False), critical=True)
            .sign(self._key, hashes.SHA256()))
        self.certificate = self.directory / "ca.pem"
        self.certificate.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, common_name: str, dns_names: Sequence[str] = (),
              ip_addresses: Sequence[str] = (), expired: bool = False,
              file_stem: Optional[str] = None) -> Issued:
        """A certificate and key for ``common_name`` (files ``<stem>.pem``/``<stem>-key.pem``)."""
        key = ec.generate_private_key(ec.SECP256R1())
        if expired:
            valid = (_now() - 10 * _DAY, _now() - 2 * _DAY)
        else:
            valid = (_now() - _DAY, _now() + 30 * _DAY)
        serial = x509.random_serial_number()
        builder = (
            x509.CertificateBuilder().subject_name(_name(common_name))
            .issuer_name(self._cert.subject).public_key(key.public_key()).serial_number(serial)
            .not_valid_before(valid[0]).not_valid_after(valid[1])
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
        alt_names = [x509.DNSName(n) for n in dns_names] + [
            x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
        if alt_names:
            builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        stem = file_stem or common_name
        issued = Issued(self.directory / f"{stem}.pem", self.directory / f"{stem}-key.pem", serial)
        issued.certificate.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key, issued.key)
        return issued

    def revocation_list(self, revoked: Sequence[Issued], file_name: str = "crl.pem") -> Path:
        """A CRL revoking ``revoked``, signed by this CA."""
        builder = (x509.CertificateRevocationListBuilder().issuer_name(self._cert.subject)
                   .last_update(_now() - _DAY).next_update(_now() + 30 * _DAY))
        for issued in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(issued.serial)
                .revocation_date(_now() - _DAY).build())
        path = self.directory / file_name
        path.write_bytes(builder.sign(self._key, hashes.SHA256()).public_bytes(
            serialization.Encoding.PEM))
        return path
