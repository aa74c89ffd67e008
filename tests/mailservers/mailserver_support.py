"""What the mail-server tests share: loopback ports, and Debian packages unpacked, not installed.

A server that is not installed runs from its packages, `apt-get download` + `dpkg -x` into a
directory that is kept for the next run, laid over /usr in a mount namespace of the command's
own (unshare, overlayfs): nothing on the machine changes, and dpkg is not involved.
"""

import base64
import glob
import hashlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import unittest


def free_loopback_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_root(why):
    if os.geteuid() != 0:
        raise unittest.SkipTest(f"needs root ({why})")


def unpacked(root, packages, marker):
    """`packages` unpacked into `root` (once: `marker`, a path inside, says it is done).
    Raises unittest.SkipTest when they cannot be downloaded."""
    if not root:
        raise unittest.SkipTest(f"{' '.join(packages)}: not installed, and no directory to "
                                "unpack them into was given")
    if os.path.exists(os.path.join(root, marker.lstrip("/"))):
        return root
    os.makedirs(root, exist_ok=True)
    download = tempfile.mkdtemp(prefix="mailserver-debs-")
    try:
        got = subprocess.run(["apt-get", "download", *packages], cwd=download,
                             capture_output=True, text=True, timeout=300, check=False)
        if got.returncode != 0:
            raise unittest.SkipTest(f"apt-get download {' '.join(packages)}: "
                                    f"{got.stderr.strip()}")
        for deb in glob.glob(os.path.join(download, "*.deb")):
            subprocess.run(["dpkg", "-x", deb, root], check=True, timeout=120)
    finally:
        shutil.rmtree(download, ignore_errors=True)
    return root


# `sh -c` script: $0 is the unpacked tree, laid over /usr; then the command.
OVER_USR = 'mount -t overlay overlay -o lowerdir="$0/usr:/usr" /usr && exec "$@"'


def over_usr_prefix(root):
    return ["unshare", "-m", "sh", "-c", OVER_USR, root]


PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----\r?\n(.*?)-----END CERTIFICATE-----", re.S)


def presented(port, starttls, name=None):
    """SHA-1 thumbprint (upper-case hex, as transportcertd writes them) of the leaf a new
    connection to 127.0.0.1:`port` is presented after STARTTLS (`starttls`: smtp, imap), with
    SNI `name` (None: no SNI); None when there is no TLS."""
    sni = ["-servername", name] if name else ["-noservername"]
    result = subprocess.run(
        ["openssl", "s_client", "-starttls", starttls, "-connect", f"127.0.0.1:{port}", *sni],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20, check=False)
    found = PEM_CERT.search(result.stdout)
    if not found:
        return None
    return hashlib.sha1(base64.b64decode("".join(found.group(1).split()))).hexdigest().upper()


def snippet_transportcertd_conf(snippet):
    """{section: {key: value}} of the transportcertd.conf lines that a snippet of
    packaging/examples gives in its comments, after "transportcertd.conf, to go with it"."""
    sections, section, inside = {}, None, False
    with open(snippet, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for line in lines:
        if line.startswith("# transportcertd.conf, to go with it"):
            inside = True
            continue
        if not inside:
            continue
        body = line[1:].strip() if line.startswith("#") else ""
        if not body:
            if sections:
                break
            continue
        if body.startswith("[") and body.endswith("]"):
            section = sections.setdefault(body[1:-1], {})
        else:
            key, value = (part.strip() for part in body.split("=", 1))
            section[key] = value
    return sections
