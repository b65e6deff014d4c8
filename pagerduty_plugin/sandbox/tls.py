"""HTTPS for the sandbox: a throwaway CA made at start, its certificate in a file any client can trust.

trustme (an optional dependency: the `sandbox` extra) is imported only when TLS is asked for.
"""
import ipaddress
import os
import shutil
import ssl
import tempfile

MISSING = ("--tls needs the trustme package (it makes the throwaway certificate authority): install it beside "
           "the plugin, `pip install 'trustme>=1.1,<2'` (from this repository: `pip install '.[sandbox]'`)")


class TlsUnavailable(RuntimeError):
    """TLS was asked for but cannot be set up (the library is missing)."""


class Certificates:
    """A CA and a server certificate for `names` (loopback names by default), valid only for this run.
    `ca_file` is the CA's PEM: point REQUESTS_CA_BUNDLE, SSL_CERT_FILE or NODE_EXTRA_CA_CERTS at it."""

    def __init__(self, names=()):
        try:
            import trustme
        except ImportError:
            raise TlsUnavailable(MISSING) from None
        wanted = ["127.0.0.1", "::1", "localhost", *names]
        identities = list(dict.fromkeys(name for name in wanted if name))
        ca = trustme.CA(organization_name="pagerduty-plugin sandbox (throwaway)")
        self._leaf = ca.issue_cert(*identities)
        self._folder = tempfile.mkdtemp(prefix="pagerduty-sandbox-tls-")
        self.ca_file = os.path.join(self._folder, "ca.pem")
        ca.cert_pem.write_to_path(self.ca_file)
        os.chmod(self.ca_file, 0o644)   # the certificate is public; its key never leaves memory

    def server_context(self):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(["http/1.1"])
        self._leaf.configure_cert(context)
        return context

    def remove(self):
        shutil.rmtree(self._folder, ignore_errors=True)


def host_names(host, public_url_host=None):
    """The names a certificate must carry for this bind address and public host."""
    names = []
    for name in (host, public_url_host):
        if not name or name in ("0.0.0.0", "::"):
            continue
        try:
            names.append(str(ipaddress.ip_address(name.strip("[]"))))
        except ValueError:
            names.append(name)
    return names
