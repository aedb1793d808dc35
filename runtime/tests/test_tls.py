"""Server TLS and mTLS, with certificates made by the openssl CLI."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import grpc
import httpx
import pytest
from rapport.config import ServiceSettings
from rapport.grpcclients import open_channel
from rapport.grpctesting import serve_in_process

from ._echo import SERVICE, make_build
from ._http_app import make_http_app

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _leaf(name: str, cwd: Path) -> None:
    _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
             "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=cwd)  # fmt: skip
    (cwd / f"{name}.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "1", "-out", f"{name}.pem",
             "-extfile", f"{name}.ext", cwd=cwd)  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
             "-out", "ca.pem", "-days", "1", "-subj", "/CN=test-ca", cwd=root)  # fmt: skip
    _leaf("server", root)
    _leaf("client", root)
    return root


async def test_mtls(pki: Path) -> None:
    server_settings = ServiceSettings(
        tls_cert_file=pki / "server.pem",
        tls_key_file=pki / "server.key",
        tls_client_ca_file=pki / "ca.pem",
    )
    client = ServiceSettings(
        outbound_tls_ca_file=pki / "ca.pem",
        tls_cert_file=pki / "client.pem",
        tls_key_file=pki / "client.key",
    )
    no_client_cert = ServiceSettings(outbound_tls_ca_file=pki / "ca.pem")
    async with serve_in_process(make_build(), server_settings) as server:
        async with open_channel(server.address, client) as channel:
            assert await channel.unary_unary(f"/{SERVICE}/Echo")(b"hi") == b"hi"
        async with open_channel(server.address, no_client_cert) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await channel.unary_unary(f"/{SERVICE}/Echo")(b"hi", timeout=2)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_http_uses_the_server_certificate(pki: Path) -> None:
    settings = ServiceSettings(
        tls_cert_file=pki / "server.pem",
        tls_key_file=pki / "server.key",
        tls_client_ca_file=pki / "ca.pem",
    )
    trusting = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    async with serve_in_process(make_build(http_app=make_http_app()), settings) as server:
        # No client certificate: HTTP callers are providers, SDKs and probes.
        async with httpx.AsyncClient(verify=trusting, timeout=5) as client:
            reply = await client.get(f"https://{server.http_address}/v1/items/1")
        assert reply.status_code == 200
        async with httpx.AsyncClient(timeout=5) as plain:
            with pytest.raises(httpx.HTTPError):
                await plain.get(f"http://{server.http_address}/healthz")
