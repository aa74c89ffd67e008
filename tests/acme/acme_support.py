"""A real ACME CA (pebble) and a real ACME client (certbot), both from Debian, on loopback only.

Pebble runs with challenge validation switched off (PEBBLE_VA_ALWAYS_VALID=1), listening on
127.0.0.1 with free ports and a TLS certificate made here; certbot runs `certonly --manual`
with /bin/true as its authentication hook and keeps its configuration, work and log
directories in a temporary directory. Every certificate pebble issues chains to a root it makes
afresh at start-up, served on its management port; `root_pem()` fetches it.

Used by tests/acme/acme_test.py and tests/postfix/postfix_test.py.
"""

import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request

STARTUP_TIMEOUT = 30.0  # pebble generating its root and listening
CERTBOT_TIMEOUT = 120.0


def missing_programs():
    """The programs these tests need that are not installed (scripts/deps installs them)."""
    return [p for p in ("pebble", "certbot", "openssl") if not shutil.which(p)]


def free_loopback_ports(count):
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class Pebble:
    """A pebble instance with its files under `directory` (created here)."""

    def __init__(self, directory):
        self.directory = directory
        os.makedirs(directory, mode=0o700)
        self.tls_cert = os.path.join(directory, "pebble-tls.pem")
        self.tls_key = os.path.join(directory, "pebble-tls.key")
        self.log_path = os.path.join(directory, "pebble.log")
        self.port, self.management_port, http_port, tls_port = free_loopback_ports(4)
        self.directory_url = f"https://127.0.0.1:{self.port}/dir"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", self.tls_key, "-out", self.tls_cert, "-days", "2",
             "-subj", "/CN=pebble test server",
             "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
            capture_output=True, check=True, timeout=30)
        config = os.path.join(directory, "pebble.json")
        with open(config, "w", encoding="utf-8") as f:
            f.write(f"""{{"pebble": {{
  "listenAddress": "127.0.0.1:{self.port}",
  "managementListenAddress": "127.0.0.1:{self.management_port}",
  "certificate": "{self.tls_cert}", "privateKey": "{self.tls_key}",
  "httpPort": {http_port}, "tlsPort": {tls_port},
  "ocspResponderURL": "", "externalAccountBindingRequired": false}}}}
""")
        env = dict(os.environ, PEBBLE_VA_ALWAYS_VALID="1", PEBBLE_VA_NOSLEEP="1",
                   PEBBLE_WFE_NONCEREJECT="0", PEBBLE_AUTHZREUSE="100")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(  # pylint: disable=consider-using-with
                ["pebble", "-config", config], stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, env=env, cwd=directory)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while "Listening on:" not in self.log():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"pebble did not start:\n{self.log()}")
            time.sleep(0.05)

    def log(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def root_pem(self):
        """The root CA every certificate of this instance chains to (PEM)."""
        context = ssl.create_default_context(cafile=self.tls_cert)
        url = f"https://127.0.0.1:{self.management_port}/roots/0"
        with urllib.request.urlopen(url, context=context, timeout=30) as response:
            return response.read().decode("ascii")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Certbot:
    """certbot against `pebble`, with its directories under `directory` (created here)."""

    def __init__(self, pebble, directory):
        self.pebble = pebble
        self.directory = directory
        os.makedirs(directory, mode=0o700)
        self.config_dir = os.path.join(directory, "config")
        self.dirs = ["--config-dir", self.config_dir,
                     "--work-dir", os.path.join(directory, "work"),
                     "--logs-dir", os.path.join(directory, "logs")]

    def deploy_hook_dir(self):
        """Where certbot looks for the deploy hooks it runs after every renewal
        (/etc/letsencrypt/renewal-hooks/deploy on a real system); created here."""
        path = os.path.join(self.config_dir, "renewal-hooks", "deploy")
        os.makedirs(path, exist_ok=True)
        return path

    def lineage(self, name):
        return os.path.join(self.config_dir, "live", name)

    def run(self, args, env=None):
        """Runs certbot with `args`; returns the CompletedProcess (it may have failed)."""
        full_env = dict(env if env is not None else os.environ)
        full_env["REQUESTS_CA_BUNDLE"] = self.pebble.tls_cert
        return subprocess.run(
            ["certbot", *args, *self.dirs, "--non-interactive"], capture_output=True,
            text=True, env=full_env, timeout=CERTBOT_TIMEOUT, stdin=subprocess.DEVNULL,
            check=False)

    def certonly(self, name, deploy_hook, env=None):
        return self.run(["certonly", "--server", self.pebble.directory_url,
                         "--agree-tos", "--register-unsafely-without-email",
                         "--manual", "--manual-auth-hook", "/bin/true",
                         "--preferred-challenges", "http", "-d", name,
                         "--deploy-hook", deploy_hook], env)

    def renew(self, env=None):
        return self.run(["renew", "--force-renewal", "--no-random-sleep-on-renew"], env)
