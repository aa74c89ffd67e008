#!/usr/bin/env python3
"""A real Postfix presents what transportcertd selects, and picks up a takeover (issue 7).

The test wires a throw-away Postfix instance to transportcertd exactly as docs/mail-servers.md
tells an administrator to:

    smtpd_tls_chain_files = <publish.dir>/internal-transport.pem
    tls_server_sni_maps   = hash:<publish.dir>/sni-map
    reload_command        = postmap -F hash:<publish.dir>/sni-map && postfix reload

and then looks at what Postfix presents with `openssl s_client -starttls smtp`:

1. without SNI (and for an unknown name) the internal transport certificate, whose thumbprint
   is the one transportcertd reports over D-Bus (InternalTransportCertificate);
2. for the FQDN, what SelectCertificate(fqdn, SMTP) answers;
3. for a published name whose only certificate is issued by a throw-away CA made here, that
   certificate and its chain, which is what SelectCertificate answers for the name;
4. after RenewInternalTransportCertificate, reload_command runs (once) and a new connection
   presents the new certificate, with nothing done by hand; the DANE TLSA records read before
   the renewal authenticate Postfix before and after it (`openssl s_client -dane_tlsa_rrdata`);
5. (PostfixAcmeTest, its own ctest entry because pebble and certbot double the run time) for a
   name whose certificate comes from a real ACME CA (pebble) through certbot and the deploy
   hook, that certificate and its chain, and after `certbot renew` the renewed one, with
   nothing done by hand;
6. (PostfixVerifyTest) `transportcertctl verify` says `match` for every name after a renewal
   was reloaded, and `differs` (exit status 1) once reload_command is `true`, with what it saw
   served confirmed by `openssl s_client` and the transportcertd_served_match metrics written.

Postfix is installed from Debian when it is missing (this needs root and a package mirror).
A private instance is started with `postfix -c DIR`, which Postfix only allows for a DIR listed
in alternate_config_directories of /etc/postfix/main.cf; see authorize_config_directory for how
that file is treated. Everything else lives in a fresh temporary directory; the instance
listens on a loopback port chosen at run time, and is stopped at the end even when a check
fails. The daemon runs on a private dbus-daemon with --bus session.

Nothing sleeps to make an assertion true: every wait polls for a condition up to a deadline.
Exit status 77 means skipped (the reason is printed): not root, or no daemon binary.

    TRANSPORTCERTD_BIN=build/daemon/transportcertd tests/postfix/postfix_test.py -v [Class]
"""

import base64
import fcntl
import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "acme"))
import acme_support  # noqa: E402  pylint: disable=wrong-import-position

BIN = os.environ.get("TRANSPORTCERTD_BIN", "")
CTL = os.environ.get("TRANSPORTCERTCTL_BIN", "")
DEPLOY_HOOK = os.environ.get(
    "TRANSPORTCERTD_DEPLOY_HOOK",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "packaging",
                 "certbot-deploy-hook"))
KEEP = os.environ.get("TRANSPORTCERTD_KEEP_TEST_DIR", "") not in ("", "0")

FQDN = "mail.example.test"
CA_NAME = "smtp.example.test"  # published; its only certificate is issued by the test CA
UNKNOWN_NAME = "other.example.test"  # not published: Postfix falls back to the default
ACME_NAME = "mx.example.test"  # published; its certificate comes from pebble through certbot

# The instance's configuration directory. Postfix wants it named in the default main.cf, so
# it is one fixed path under /etc, where only root can create it (a directory named there
# lets Postfix's set-gid programs read a configuration from it). The test creates it afresh
# and removes it at the end.
CONFIG_DIR = "/etc/postfix-transportcertd-test"
DEFAULT_MAIN_CF = "/etc/postfix/main.cf"
# A default main.cf that this test had to create, recognised by its first line.
CREATED_MAIN_CF_HEADER = "# Created by the transportcertd Postfix test; removed when it ends.\n"
# Held while the test runs: one instance at a time (CONFIG_DIR is shared).
LOCK_FILE = "/run/lock/transportcertd-postfix-test.lock"

STARTUP_TIMEOUT = 20.0  # bus name owned, first certificate generated and published
PRESENT_TIMEOUT = 20.0  # a change reaches what a new SMTP connection is presented
STOP_TIMEOUT = 15.0
# "Exactly once": a count is watched for this long after it was reached.
SETTLE = 1.0

BUS_NAME = "org.transportcertd1"
BUS_PATH = "/org/transportcertd1"
BUS_INTERFACE = "org.transportcertd1.Manager"
PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----\r?\n(.*?)-----END CERTIFICATE-----", re.S)


def log(message):
    print(f"postfix test: {message}", file=sys.stderr, flush=True)


def run(args, check=True, timeout=60, **kwargs):
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False,
                            **kwargs)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed with status {result.returncode}:\n"
                           f"{result.stdout}{result.stderr}")
    return result


def wait_for(condition, timeout, what, details=lambda: ""):
    """Polls `condition` until it returns a true value, which is returned; fails after
    `timeout` seconds with `what` and whatever `details` says about the last state."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n"
                                 f"{details()}")
        time.sleep(0.1)


def thumbprints_of_pem(text):
    """SHA-1 thumbprints (upper-case hex, as transportcertd writes them) of the certificates
    in `text`, in order."""
    return [hashlib.sha1(base64.b64decode("".join(body.split()))).hexdigest().upper()
            for body in PEM_CERT.findall(text)]


def free_loopback_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- Postfix from Debian ----------------------------------------------------------------------

def ensure_postfix_installed():
    if shutil.which("postfix") and shutil.which("postmap") and shutil.which("postconf"):
        return
    log("installing Postfix from Debian")
    started = time.monotonic()
    run(["debconf-set-selections"],
        input="postfix postfix/main_mailer_type select No configuration\n")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-q", "-o", "DPkg::Lock::Timeout=300", "postfix"]
    if run(install, check=False, timeout=600, env=env).returncode != 0:
        run(["apt-get", "update", "-q", "-o", "DPkg::Lock::Timeout=300"], timeout=600, env=env)
        run(install, timeout=600, env=env)
    log(f"Postfix installed in {time.monotonic() - started:.0f} s")


def postconf_list(value):
    return [item for item in re.split(r"[\s,]+", value) if item]


def authorize_config_directory(cleanups):
    """Names CONFIG_DIR in alternate_config_directories of the default main.cf.

    When the default main.cf exists it is edited in place with `postconf -e`, once: the entry
    stays afterwards. It is harmless (it only names a directory under /etc that exists while
    this test runs), and leaving it means a rerun, or a run killed before it could clean up,
    never leaves main.cf half-restored or edited twice.

    When there is no default main.cf (Debian's "No configuration"), the test creates one with
    that single line and removes it at the end: its mere existence would make postfix.service
    start the default instance at the next boot."""
    line = f"alternate_config_directories = {CONFIG_DIR}\n"
    if os.path.exists(DEFAULT_MAIN_CF):
        with open(DEFAULT_MAIN_CF, encoding="utf-8", errors="replace") as f:
            ours = f.readline() == CREATED_MAIN_CF_HEADER  # left over by a killed run
    else:
        with open(DEFAULT_MAIN_CF, "x", encoding="utf-8") as f:
            f.write(CREATED_MAIN_CF_HEADER + line)
        ours = True
    if ours:
        def remove_created_main_cf():
            with open(DEFAULT_MAIN_CF, encoding="utf-8", errors="replace") as f:
                if f.readline() == CREATED_MAIN_CF_HEADER:
                    os.unlink(DEFAULT_MAIN_CF)
        cleanups.append(("remove the default main.cf this test created", remove_created_main_cf))
        return
    current = run(["postconf", "-c", "/etc/postfix", "-h",
                   "alternate_config_directories"]).stdout.strip()
    if CONFIG_DIR in postconf_list(current):
        return
    wanted = f"{current}, {CONFIG_DIR}" if current else CONFIG_DIR
    log(f"adding {CONFIG_DIR} to alternate_config_directories in {DEFAULT_MAIN_CF}")
    run(["postconf", "-c", "/etc/postfix", "-e", f"alternate_config_directories = {wanted}"])


class PostfixInstance:
    """A private Postfix: configuration in CONFIG_DIR, queue, data and log under `root`."""

    def __init__(self, root, port, publish_dir):
        self.root = root
        self.port = port
        self.queue = os.path.join(root, "postfix-queue")
        self.data = os.path.join(root, "postfix-data")
        self.log_dir = os.path.join(root, "postfix-log")
        self.maillog = os.path.join(self.log_dir, "maillog")
        self.publish_dir = publish_dir

    def postfix(self, *args, check=True):
        return run(["postfix", "-c", CONFIG_DIR, *args], check=check)

    def running(self):
        return self.postfix("status", check=False).returncode == 0

    def configure(self):
        stop_stale_instance()
        shutil.rmtree(CONFIG_DIR, ignore_errors=True)
        os.mkdir(CONFIG_DIR, 0o755)
        for d in (self.queue, self.log_dir):
            os.mkdir(d, 0o755)
        os.mkdir(self.data, 0o700)
        postfix_user = pwd.getpwnam("postfix")
        os.chown(self.data, postfix_user.pw_uid, postfix_user.pw_gid)
        main_cf = f"""\
# Throw-away instance of the transportcertd Postfix test.
compatibility_level = 3.7
myhostname = {FQDN}
mydestination =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
queue_directory = {self.queue}
data_directory = {self.data}
# No syslog here: Postfix logs through postlogd into a file under an allowed prefix.
maillog_file_prefixes = {self.log_dir}
maillog_file = {self.maillog}
smtpd_peername_lookup = no
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
# What transportcertd publishes: the internal transport certificate by default, and the
# selection for each published name by SNI (the map is built by reload_command).
smtpd_tls_chain_files = {self.publish_dir}/internal-transport.pem
tls_server_sni_maps = hash:{self.publish_dir}/sni-map
"""
        with open(os.path.join(CONFIG_DIR, "main.cf"), "w", encoding="utf-8") as f:
            f.write(main_cf)
        with open("/usr/share/postfix/master.cf.dist", encoding="utf-8") as f:
            master_cf = f.read()
        # The SMTP server on our loopback port, not chrooted (the queue has no copy of /etc).
        master_cf, count = re.subn(r"(?m)^smtp\s+inet\s.*$",
                                   f"127.0.0.1:{self.port} inet n - n - - smtpd", master_cf)
        if count != 1:
            raise RuntimeError("master.cf.dist has no single `smtp inet` line to replace")
        with open(os.path.join(CONFIG_DIR, "master.cf"), "w", encoding="utf-8") as f:
            f.write(master_cf)

    def start(self):
        result = self.postfix("start", check=False)
        if result.returncode != 0 or not self.running():
            raise RuntimeError(f"postfix -c {CONFIG_DIR} start failed "
                               f"(status {result.returncode}):\n{result.stdout}{result.stderr}"
                               f"{self.log_tail()}")

    def stop(self):
        if not os.path.isdir(CONFIG_DIR) or not self.running():
            return
        self.postfix("stop", check=False)
        wait_for(lambda: not self.running(), STOP_TIMEOUT, "Postfix to stop", self.log_tail)

    def log_tail(self, lines=40):
        try:
            with open(self.maillog, encoding="utf-8", errors="replace") as f:
                tail = f.readlines()[-lines:]
        except OSError:
            return "(no Postfix log)\n"
        return "--- Postfix log (last lines) ---\n" + "".join(tail)


def stop_stale_instance():
    """A run that was killed may have left its instance running: stop it (its configuration
    directory is the fixed CONFIG_DIR)."""
    if os.path.isdir(CONFIG_DIR):
        if run(["postfix", "-c", CONFIG_DIR, "status"], check=False).returncode == 0:
            log("stopping a Postfix instance left running by an earlier run")
            run(["postfix", "-c", CONFIG_DIR, "stop"], check=False)


# --- The throw-away CA -------------------------------------------------------------------------

def make_ca_issued_certificates(work_dir, store_dir):
    """A root CA, an intermediate CA it issued, and a server certificate for CA_NAME issued
    by the intermediate. The store gets the server certificate, the intermediate and the root
    in one file (as a "full chain" download might), and the server key in another; the CA keys
    stay out. Returns the root's file and the thumbprints of the server certificate and of the
    intermediate, which is what a server should send (trust anchors are not sent)."""
    os.mkdir(work_dir, 0o700)

    def path(name):
        return os.path.join(work_dir, name)

    def new_key_and_request(name, subject):
        run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", path(f"{name}.key"), "-out", path(f"{name}.csr"),
             "-subj", subject])

    def issue(name, issuer, extensions):
        with open(path(f"{name}.ext"), "w", encoding="utf-8") as f:
            f.write(extensions)
        run(["openssl", "x509", "-req", "-in", path(f"{name}.csr"), "-CA", path(f"{issuer}.pem"),
             "-CAkey", path(f"{issuer}.key"), "-CAcreateserial", "-days", "90",
             "-extfile", path(f"{name}.ext"), "-out", path(f"{name}.pem")])

    def read(name):
        with open(path(name), encoding="utf-8") as f:
            return f.read()

    ca = "basicConstraints = critical,CA:TRUE,pathlen:0\nkeyUsage = critical,keyCertSign,cRLSign\n"
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", path("root.key"), "-out", path("root.pem"), "-days", "365",
         "-subj", "/O=transportcertd test/CN=transportcertd test root CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    new_key_and_request("intermediate", "/O=transportcertd test/CN=transportcertd test issuing CA")
    issue("intermediate", "root", ca)
    new_key_and_request("server", f"/CN={CA_NAME}")
    issue("server", "intermediate",
          "basicConstraints = critical,CA:FALSE\n"
          "keyUsage = critical,digitalSignature\n"
          "extendedKeyUsage = serverAuth\n"
          f"subjectAltName = DNS:{CA_NAME}\n")

    full_chain = read("server.pem") + read("intermediate.pem") + read("root.pem")
    for name, text in ((f"{CA_NAME}.crt", full_chain), (f"{CA_NAME}.key", read("server.key"))):
        fd = os.open(os.path.join(store_dir, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
    return path("root.pem"), thumbprints_of_pem(full_chain)[:2]


# --- What a client is presented ----------------------------------------------------------------

class Presented:
    def __init__(self, chain, verify):
        self.chain = chain  # thumbprints, leaf first
        self.verify = verify  # s_client's "Verify return code" line

    @property
    def leaf(self):
        return self.chain[0] if self.chain else None

    def __repr__(self):
        return f"chain {self.chain}, {self.verify}"


def connect(port, servername=None, ca_file=None):
    """One STARTTLS connection with `openssl s_client`: the certificates the server sent, or None
    when there was no TLS handshake. No SNI when `servername` is None."""
    args = ["openssl", "s_client", "-starttls", "smtp", "-connect", f"127.0.0.1:{port}",
            "-name", "client.example.test", "-showcerts"]
    args += ["-servername", servername] if servername else ["-noservername"]
    if ca_file:
        args += ["-CAfile", ca_file]
    try:
        result = subprocess.run(args, input="QUIT\n", capture_output=True, text=True,
                                timeout=15, check=False)
    except subprocess.TimeoutExpired:
        return None
    chain = thumbprints_of_pem(result.stdout)
    if not chain:
        return None
    # The leaf as `openssl x509 -fingerprint -sha1` sees it: the first certificate printed.
    fingerprint = run(["openssl", "x509", "-noout", "-fingerprint", "-sha1"],
                      input=result.stdout).stdout
    leaf = fingerprint.strip().split("=", 1)[1].replace(":", "").upper()
    if leaf != chain[0]:
        raise AssertionError(f"s_client output is ambiguous: {leaf} vs {chain}")
    verify = re.search(r"Verify return code: .*", result.stdout)
    return Presented(chain, verify.group(0) if verify else "")


def leaf_presented(port, servername=None):
    presented = connect(port, servername)
    return presented.leaf if presented else None


class PostfixTest(unittest.TestCase):
    """One Postfix and one transportcertd wired to it, set up once per class; the checks of a
    subclass run in order on that setup, each numbered test building on the previous."""

    cleanups = []  # (what, function), run in reverse order by tearDownClass
    published_names = [CA_NAME]  # [publish] names
    extra_config = ""  # more of the daemon's configuration, appended

    @classmethod
    def setUpClass(cls):
        try:
            cls.set_up()
        except BaseException:
            cls.tear_down()
            raise

    @classmethod
    def set_up(cls):
        cls.cleanups = []  # this class's own
        started = time.monotonic()
        lock = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        cls.cleanups.append(("release the lock", lambda: os.close(lock)))
        fcntl.flock(lock, fcntl.LOCK_EX)  # one instance of this test at a time

        ensure_postfix_installed()
        cls.setup_started = time.monotonic()  # the run time budget excludes the install
        authorize_config_directory(cls.cleanups)

        cls.root = tempfile.mkdtemp(prefix="transportcertd-postfix-")
        os.chmod(cls.root, 0o755)  # the postfix user reaches its queue and data through it
        if KEEP:
            log(f"keeping {cls.root}")
        else:
            cls.cleanups.append(("remove the test directory",
                                 lambda: shutil.rmtree(cls.root, ignore_errors=True)))
        cls.store = os.path.join(cls.root, "store")
        cls.state = os.path.join(cls.root, "state")
        cls.publish_dir = os.path.join(cls.root, "published")  # the daemon creates it
        cls.reload_marker = os.path.join(cls.root, "reload-runs")
        cls.daemon_log = os.path.join(cls.root, "transportcertd.log")
        os.mkdir(cls.store, 0o700)

        cls.ca_file, cls.ca_chain = make_ca_issued_certificates(os.path.join(cls.root, "ca"),
                                                             cls.store)
        cls.ca_issued = cls.ca_chain[0]

        cls.port = free_loopback_port()
        cls.postfix = PostfixInstance(cls.root, cls.port, cls.publish_dir)
        cls.cleanups.append(("remove the Postfix configuration directory",
                             lambda: shutil.rmtree(CONFIG_DIR, ignore_errors=True)))
        cls.cleanups.append(("stop Postfix", cls.postfix.stop))
        cls.postfix.configure()
        # Postfix first, so that every run of reload_command has a Postfix to reload. Nothing
        # connects before the daemon has published: smtpd would find no certificate.
        cls.postfix.start()
        log(f"Postfix listening on 127.0.0.1:{cls.port}")

        cls.start_bus()
        cls.before_daemon()
        cls.start_daemon()
        log(f"set up in {time.monotonic() - started:.1f} s")

    @classmethod
    def before_daemon(cls):
        """What a subclass needs in place before the daemon starts."""

    @classmethod
    def start_bus(cls):
        out = run(["dbus-daemon", "--session", "--fork", "--print-address=1",
                   "--print-pid=1"]).stdout.split()
        cls.bus_address, bus_pid = out[0], int(out[1])

        def stop_bus():
            try:
                os.kill(bus_pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        cls.cleanups.append(("stop the private dbus-daemon", stop_bus))

    @classmethod
    def start_daemon(cls):
        config = os.path.join(cls.root, "transportcertd.conf")
        # reload_command is the one docs/mail-servers.md gives for a machine without systemd
        # (`postmap -F ... && postfix reload`), in a script that also counts its runs:
        # "started", then "finished" when both Postfix commands succeeded. (A script,
        # because an INI line holds at most 198 characters.)
        script = os.path.join(cls.root, "reload-postfix")
        with open(script, "w", encoding="utf-8") as f:
            f.write(f"""\
echo started >> {cls.reload_marker}
postmap -F hash:{cls.publish_dir}/sni-map && postfix -c {CONFIG_DIR} reload || exit 1
echo finished >> {cls.reload_marker}
""")
        reload_command = f"/bin/sh {script}"
        cls.config, cls.reload_command = config, reload_command
        with open(config, "w", encoding="utf-8") as f:
            f.write(f"""\
[daemon]
fqdn = {FQDN}
store = {cls.store}
state = {cls.state}

[selfsigned]
key = ec:P-256

[publish]
dir = {cls.publish_dir}
names = {" ".join(cls.published_names)}
reload_command = {reload_command}
{cls.extra_config}""")
        env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=cls.bus_address)
        log_file = open(cls.daemon_log, "w", encoding="utf-8")  # pylint: disable=consider-using-with
        cls.daemon = subprocess.Popen(  # pylint: disable=consider-using-with
            [BIN, "--config", config, "--bus", "session", "--log-target", "console"],
            stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, env=env)
        log_file.close()

        def stop_daemon():
            if cls.daemon.poll() is None:
                cls.daemon.send_signal(signal.SIGTERM)
                try:
                    cls.daemon.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    cls.daemon.kill()
                    cls.daemon.wait()
        cls.cleanups.append(("stop transportcertd", stop_daemon))

        def designated():
            if cls.daemon.poll() is not None:
                raise AssertionError(f"transportcertd exited with status "
                                     f"{cls.daemon.returncode}\n{cls.daemon_log_text()}")
            return cls.internal_transport()
        wait_for(designated, STARTUP_TIMEOUT,
                 "transportcertd to own its bus name and designate an internal transport "
                 "certificate", cls.daemon_log_text)

    @classmethod
    def tearDownClass(cls):
        cls.tear_down()

    @classmethod
    def tear_down(cls):
        while cls.cleanups:
            what, cleanup = cls.cleanups.pop()
            try:
                cleanup()
            except Exception as e:  # pylint: disable=broad-except
                log(f"could not {what}: {e}")

    # --- D-Bus ---

    @classmethod
    def busctl(cls, *args, check=True):
        result = run(["busctl", f"--address={cls.bus_address}", "--json=short", *args],
                     check=False, timeout=30)
        if result.returncode != 0:
            if check:
                raise AssertionError(f"busctl {' '.join(args)} failed: {result.stderr}")
            return None
        return json.loads(result.stdout)["data"]

    @classmethod
    def internal_transport(cls):
        return cls.busctl("get-property", BUS_NAME, BUS_PATH, BUS_INTERFACE,
                          "InternalTransportCertificate", check=False)

    @classmethod
    def tlsa_rrdata(cls, name):
        """The `3 1 1 HEX` data of the DANE-EE records GetTlsaRecords gives for `name`."""
        records = cls.busctl("call", BUS_NAME, BUS_PATH, BUS_INTERFACE, "GetTlsaRecords", "s",
                             name)[0]
        return [r.split(" IN TLSA ", 1)[1] for r in records if " IN TLSA 3 1 1 " in r]

    def assert_dane_authenticates(self, rrdata, name):
        """OpenSSL's DANE verifier accepts what Postfix presents for `name` over STARTTLS,
        given only the TLSA records `rrdata` (no CA)."""
        args = ["openssl", "s_client", "-starttls", "smtp", "-connect", f"127.0.0.1:{self.port}",
                "-name", "client.example.test", "-servername", name, "-dane_tlsa_domain", name]
        for data in rrdata:
            args += ["-dane_tlsa_rrdata", data]
        result = subprocess.run(args, input="QUIT\n", capture_output=True, text=True,
                                timeout=15, check=False)
        self.assertIn("Verification: OK", result.stdout, f"DANE with {rrdata}:\n{result.stdout}")
        self.assertRegex(result.stdout, r"DANE TLSA 3 1 1 .* matched EE certificate")

    @classmethod
    def select_certificate(cls, name):
        thumbprint, reason = cls.busctl("call", BUS_NAME, BUS_PATH, BUS_INTERFACE,
                                        "SelectCertificate", "ss", name, "SMTP")
        return thumbprint.upper(), reason

    # --- helpers ---

    @classmethod
    def daemon_log_text(cls):
        try:
            with open(cls.daemon_log, encoding="utf-8", errors="replace") as f:
                return "--- transportcertd log ---\n" + f.read()
        except OSError:
            return "(no transportcertd log)\n"

    def details(self):
        started, finished = self.reload_runs()
        return (self.daemon_log_text() + f"reload_command runs: {started} started, "
                f"{finished} finished\n" + self.postfix.log_tail())

    def reload_runs(self):
        """(started, finished) runs of reload_command so far."""
        try:
            with open(self.reload_marker, encoding="utf-8") as f:
                lines = f.read().split()
        except FileNotFoundError:
            return (0, 0)
        return (lines.count("started"), lines.count("finished"))

    def wait_for_reloads_to_finish(self):
        """Waits until no reload_command run is in progress and returns the count; fails when
        a run did not get to the end."""
        def settled():
            started, finished = self.reload_runs()
            return (started,) if started == finished else None
        return wait_for(settled, PRESENT_TIMEOUT, "reload_command to finish", self.details)[0]

    def wait_for_presented(self, thumbprint, servername=None, ca_file=None):
        """Polls new connections until Postfix presents `thumbprint`; returns what it sent."""
        last = []

        def presented():
            p = connect(self.port, servername, ca_file)
            last[:] = [p]
            return p if p is not None and p.leaf == thumbprint else None
        what = f"Postfix to present {thumbprint} for {servername or 'a client without SNI'}"
        return wait_for(presented, PRESENT_TIMEOUT, what,
                        lambda: f"last presented: {last[0] if last else None}\n" + self.details())

    def assert_reloads_all_succeeded(self):
        text = self.daemon_log_text()
        self.assertNotRegex(text, r"reload command .*(failed|could not start)", self.details())
        started, finished = self.reload_runs()
        self.assertEqual(started, finished, self.details())
        self.assertEqual(text.count("reload command finished: exit status 0"), finished,
                         self.details())


class PostfixIntegrationTest(PostfixTest):
    """What Postfix presents with and without SNI, and a renewal reaching it (issue 7)."""


    def test_1_default_is_the_internal_transport_certificate(self):
        internal = self.internal_transport().upper()
        self.assertRegex(internal, r"^[0-9A-F]{40}$")
        presented = self.wait_for_presented(internal)
        log(f"no SNI: presented {presented.leaf} = InternalTransportCertificate")
        # A name Postfix has no SNI entry for gets the same default.
        self.assertEqual(leaf_presented(self.port, UNKNOWN_NAME), internal)
        # The FQDN's own entry holds SelectCertificate(fqdn, SMTP): the same certificate here.
        selected, reason = self.select_certificate(FQDN)
        self.assertEqual(selected, internal, reason)
        self.assertEqual(leaf_presented(self.port, FQDN), selected)
        log(f"SNI {FQDN}: presented {selected} ({reason})")
        self.assertGreaterEqual(self.wait_for_reloads_to_finish(), 1)
        self.assert_reloads_all_succeeded()

    def test_2_sni_presents_the_ca_issued_certificate(self):
        selected, reason = self.select_certificate(CA_NAME)
        self.assertEqual(selected, self.ca_issued,
                         f"SelectCertificate({CA_NAME}) chose something else: {reason}")
        presented = self.wait_for_presented(selected, CA_NAME, self.ca_file)
        log(f"SNI {CA_NAME}: presented {presented} ({reason})")
        with open(os.path.join(self.publish_dir, f"{CA_NAME}.pem"), encoding="utf-8") as f:
            published_chain = thumbprints_of_pem(f.read())
        self.assertEqual(presented.chain, published_chain,
                         "Postfix does not send the chain transportcertd published")
        self.assertEqual(presented.chain, self.ca_chain,
                         "not the server certificate then the intermediate CA, without the root")
        self.assertEqual(presented.verify, "Verify return code: 0 (ok)",
                         "the presented chain does not verify against the test CA")
        # `postmap -F` copied the private keys into the map: it must be no more readable
        # than the files they came from.
        source = os.stat(os.path.join(self.publish_dir, "sni-map")).st_mode & 0o777
        built = os.stat(os.path.join(self.publish_dir, "sni-map.db")).st_mode & 0o777
        self.assertEqual(built & ~source, 0, f"sni-map.db is {built:o}, sni-map {source:o}")
        self.assertEqual(built & 0o077, 0, f"sni-map.db is {built:o}")

    def test_3_renewal_reaches_new_connections_without_a_manual_step(self):
        old = self.internal_transport().upper()
        self.wait_for_presented(old)
        # DANE (docs/dane.md): the records published before the renewal, the current key's
        # `3 1 1` and the next key's, must still authenticate Postfix after it.
        wait_for(lambda: len(self.tlsa_rrdata(FQDN)) == 2, PRESENT_TIMEOUT,
                 "the current and the next key's TLSA records", self.details)
        records_before = self.tlsa_rrdata(FQDN)
        self.assert_dane_authenticates(records_before, FQDN)
        runs_before = self.wait_for_reloads_to_finish()
        # Renewed at once: the daemon makes the new certificate's NotBefore newer than any in
        # the store even when the previous one was made in this same second.
        renewed_at = time.monotonic()

        new = self.busctl("call", BUS_NAME, BUS_PATH, BUS_INTERFACE,
                          "RenewInternalTransportCertificate")[0].upper()
        self.assertRegex(new, r"^[0-9A-F]{40}$")
        self.assertNotEqual(new, old)
        wait_for(lambda: (self.internal_transport() or "").upper() == new, PRESENT_TIMEOUT,
                 f"InternalTransportCertificate to become {new}", self.details)

        self.wait_for_presented(new)
        log(f"after renewal: {old} -> {new} presented without SNI "
            f"{time.monotonic() - renewed_at:.1f} s after the call")
        selected, reason = self.select_certificate(FQDN)
        self.assertEqual(selected, new, reason)
        self.wait_for_presented(new, FQDN)  # the SNI map was rebuilt too
        self.assertEqual(self.wait_for_presented(self.ca_issued, CA_NAME).leaf, self.ca_issued)
        self.assert_dane_authenticates(records_before, FQDN)

        # One change, one run of reload_command, which reloaded Postfix successfully.
        after = self.wait_for_reloads_to_finish()
        self.assertEqual(after, runs_before + 1, self.details())
        deadline = time.monotonic() + SETTLE
        while time.monotonic() < deadline:
            self.assertEqual(self.reload_runs(), (after, after),
                             "reload_command ran again although nothing changed\n"
                             + self.details())
            time.sleep(0.1)
        self.assert_reloads_all_succeeded()

    def test_4_run_time(self):
        elapsed = time.monotonic() - self.setup_started
        log(f"{elapsed:.1f} s from Postfix being installed (or found) to the last check")
        self.assertLess(elapsed, 60.0)


class PostfixVerifyTest(PostfixTest):
    """`transportcertctl verify` against the real Postfix: it reports `match` for every name
    after a renewal was reloaded, and `differs` (exit status 1) once the reload command does
    nothing, while Postfix keeps presenting the old certificate. What verify says was served
    is checked against `openssl s_client`."""

    @classmethod
    def setUpClass(cls):
        if not CTL or not os.access(CTL, os.X_OK):
            raise unittest.SkipTest("TRANSPORTCERTCTL_BIN does not name transportcertctl")
        super().setUpClass()

    @classmethod
    def before_daemon(cls):
        cls.metrics_dir = os.path.join(cls.root, "node-exporter")
        os.mkdir(cls.metrics_dir)
        cls.extra_config = f"[metrics]\ntextfile = {cls.metrics_dir}/transportcertd.prom\n"

    def served_match(self):
        """transportcertd_served_match by (port, name) from the last verify run."""
        with open(os.path.join(self.metrics_dir, "transportcertd-verify.prom"),
                  encoding="utf-8") as f:
            found = re.findall(r'^transportcertd_served_match\{port="(\d+)",name="([^"]+)",'
                               r'service="SMTP"\} ([01])$', f.read(), re.M)
        return {(int(port), name): int(value) for port, name, value in found}

    def verify(self, *args):
        """verify --json on the Postfix port and on a port where nothing listens; returns the
        exit status and the rows by (port, name)."""
        env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=self.bus_address)
        closed = free_loopback_port()
        common = [CTL, "--bus", "session", "--no-pager", "verify",
                  "--endpoint", f"{self.port}/smtp", "--endpoint", f"{closed}/smtps", *args]
        table = run(common, check=False, env=env)
        log(f"transportcertctl verify (exit status {table.returncode}):\n{table.stdout}"
            f"{table.stderr}")
        result = run([*common, "--json=short"], check=False, env=env)
        self.assertEqual(result.returncode, table.returncode, result.stderr)
        rows = {(row["port"], row["name"]): row for row in json.loads(result.stdout)}
        closed_rows = [row for (port, _), row in rows.items() if port == closed]
        self.assertTrue(closed_rows, rows)
        for row in closed_rows:
            self.assertEqual(row["verdict"], "not-listening", rows)
        return result.returncode, rows, table.stdout

    def test_1_match_after_a_renewal_was_reloaded(self):
        old = self.internal_transport().upper()
        self.wait_for_presented(old)
        self.wait_for_reloads_to_finish()
        new = self.busctl("call", BUS_NAME, BUS_PATH, BUS_INTERFACE,
                          "RenewInternalTransportCertificate")[0].upper()
        self.wait_for_presented(new, FQDN)
        self.wait_for_reloads_to_finish()
        status, rows, table = self.verify()
        self.assertEqual(status, 0, table)
        fqdn, ca = rows[(self.port, FQDN)], rows[(self.port, CA_NAME)]
        self.assertEqual((fqdn["expected"], fqdn["served"], fqdn["verdict"]),
                         (new, new, "match"), table)
        self.assertEqual((ca["expected"], ca["served"], ca["verdict"]),
                         (self.ca_issued, self.ca_issued, "match"), table)
        self.assertEqual(fqdn["service"], "SMTP")
        self.assertRegex(table, r"(?m)^PORT +NAME +SERVICE +EXPECTED +SERVED +VERDICT$")
        self.assertRegex(table, rf"(?m)^{self.port}/smtp +{re.escape(FQDN)} +SMTP +{new[:12]} "
                                rf"+{new[:12]} +match$")
        self.assertEqual(self.served_match(), {(self.port, FQDN): 1, (self.port, CA_NAME): 1})
        # Names on the command line narrow the check.
        _, only, _ = self.verify(CA_NAME)
        self.assertEqual({name for _, name in only}, {CA_NAME})

    def test_2_differs_when_the_reload_command_does_nothing(self):
        old = self.internal_transport().upper()
        self.wait_for_presented(old, FQDN)
        self.wait_for_reloads_to_finish()
        with open(self.config, encoding="utf-8") as f:
            text = f.read()
        with open(self.config, "w", encoding="utf-8") as f:
            f.write(text.replace(f"reload_command = {self.reload_command}",
                                 "reload_command = true"))
        run(["busctl", f"--address={self.bus_address}", "call", BUS_NAME, BUS_PATH,
             BUS_INTERFACE, "Reload"], timeout=30)
        new = self.busctl("call", BUS_NAME, BUS_PATH, BUS_INTERFACE,
                          "RenewInternalTransportCertificate")[0].upper()
        published = os.path.join(self.publish_dir, "internal-transport.pem")

        def published_new():
            with open(published, encoding="utf-8") as f:
                return new in thumbprints_of_pem(f.read())
        wait_for(published_new, PRESENT_TIMEOUT, f"{new} to be published", self.details)
        status, rows, table = self.verify()
        self.assertEqual(status, 1, table)
        fqdn, ca = rows[(self.port, FQDN)], rows[(self.port, CA_NAME)]
        self.assertEqual((fqdn["expected"], fqdn["served"], fqdn["verdict"]),
                         (new, old, "differs"), table)
        self.assertEqual(leaf_presented(self.port, FQDN), old)  # what s_client sees too
        self.assertEqual(ca["verdict"], "match", table)
        self.assertIn(f"{self.port}/smtp {FQDN}: serves {old}, the daemon selects {new}", table)
        self.assertEqual(self.served_match(), {(self.port, FQDN): 0, (self.port, CA_NAME): 1})


class PostfixAcmeTest(PostfixTest):
    """A certificate from a real ACME CA reaches Postfix with no manual step: pebble issues it,
    certbot runs the deploy hook (enabled as docs/acme.md says), the daemon selects it for
    ACME_NAME with a chain verified against pebble's root (`[selection] trust`), publishes it,
    and Postfix presents it over SNI; then the same for a renewal. Prints how long it took from
    the hook's return to Postfix presenting the new certificate."""

    published_names = [CA_NAME, ACME_NAME]

    @classmethod
    def setUpClass(cls):
        missing = acme_support.missing_programs()
        if missing:
            raise unittest.SkipTest(f"not installed: {' '.join(missing)} (scripts/deps installs "
                                    "them)")
        super().setUpClass()

    @classmethod
    def before_daemon(cls):
        cls.pebble = acme_support.Pebble(os.path.join(cls.root, "pebble"))
        cls.cleanups.append(("stop pebble", cls.pebble.stop))
        cls.pebble_root = os.path.join(cls.root, "pebble-root.pem")
        with open(cls.pebble_root, "w", encoding="ascii") as f:
            f.write(cls.pebble.root_pem())
        cls.extra_config = f"[selection]\ntrust = {cls.pebble_root}\n"
        cls.certbot = acme_support.Certbot(cls.pebble, os.path.join(cls.root, "certbot"))
        # certbot runs this wrapper of the hook, which notes when the hook returned.
        cls.hook_returns = os.path.join(cls.root, "hook-returns")
        wrapper = os.path.join(cls.root, "deploy-hook")
        with open(wrapper, "w", encoding="ascii") as f:
            f.write(f"#!/bin/sh\n'{DEPLOY_HOOK}'\nstatus=$?\n"
                    f"date +%s.%N >>'{cls.hook_returns}'\nexit $status\n")
        os.chmod(wrapper, 0o755)
        cls.enabled_hook = os.path.join(cls.certbot.deploy_hook_dir(), "transportcertd")
        os.symlink(wrapper, cls.enabled_hook)

    def hook_environment(self):
        return dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus_address)

    def hook_returned_at(self):
        with open(self.hook_returns, encoding="ascii") as f:
            return float(f.read().split()[-1])

    def assert_presented_after_the_hook(self, result, what):
        """After certbot `result`: Postfix presents the lineage's certificate and chain for
        ACME_NAME, verified against pebble's root, the certificate SelectCertificate names.
        Returns its thumbprint."""
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr + self.details())
        with open(os.path.join(self.certbot.lineage(ACME_NAME), "fullchain.pem"),
                  encoding="ascii") as f:
            lineage_chain = thumbprints_of_pem(f.read())
        leaf = lineage_chain[0]
        presented = self.wait_for_presented(leaf, ACME_NAME, self.pebble_root)
        seconds = time.time() - self.hook_returned_at()
        log(f"{what}: Postfix presented {leaf} for {ACME_NAME} {seconds:.2f} s after the "
            f"deploy hook returned ({presented.verify})")
        self.assertEqual(presented.chain, lineage_chain[:2],
                         "not the certificate then pebble's intermediate, without the root")
        self.assertEqual(presented.verify, "Verify return code: 0 (ok)")
        selected, reason = self.select_certificate(ACME_NAME)
        self.assertEqual(selected, leaf, reason)
        self.assertIn("CA-issued with a verified chain", reason)
        return leaf

    def assert_one_more_reload(self, before):
        after = self.wait_for_reloads_to_finish()
        self.assertEqual(after, before + 1, self.details())
        self.assert_reloads_all_succeeded()

    def test_1_certbot_certificate_is_presented_for_its_name(self):
        internal = self.internal_transport().upper()
        self.wait_for_presented(internal)
        runs_before = self.wait_for_reloads_to_finish()
        result = self.certbot.certonly(ACME_NAME, self.enabled_hook, self.hook_environment())
        type(self).first = self.assert_presented_after_the_hook(result, "certbot certonly")
        self.assert_one_more_reload(runs_before)
        # The other names keep what they had.
        self.assertEqual(leaf_presented(self.port), internal)
        self.assertEqual(leaf_presented(self.port, CA_NAME), self.ca_issued)

    def test_2_renewed_certificate_takes_over(self):
        runs_before = self.wait_for_reloads_to_finish()
        result = self.certbot.renew(self.hook_environment())
        renewed = self.assert_presented_after_the_hook(result, "certbot renew")
        self.assertNotEqual(renewed, self.first)
        self.assert_one_more_reload(runs_before)
        self.assertEqual(leaf_presented(self.port), self.internal_transport().upper())


def main():
    if os.geteuid() != 0:
        print("SKIP: needs root (installs and starts Postfix)")
        return 77
    if not BIN or not os.access(BIN, os.X_OK):
        print("SKIP: TRANSPORTCERTD_BIN does not name the daemon binary")
        return 77
    for program in ("openssl", "busctl", "dbus-daemon"):
        if not shutil.which(program):
            print(f"SKIP: {program} is not installed (scripts/deps installs it)")
            return 77

    def interrupted(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")  # so that Postfix is stopped
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    try:
        program = unittest.main(argv=[sys.argv[0], *sys.argv[1:]], exit=False, verbosity=2,
                                failfast=True)
    finally:
        for test_class in (PostfixIntegrationTest, PostfixVerifyTest, PostfixAcmeTest):
            test_class.tear_down()  # unittest skips tearDownClass on an interrupt
    return 0 if program.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
