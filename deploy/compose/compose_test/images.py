"""The images built here: a Debian base, Python on it, and the stand-ins for the three servers."""

# ruff: noqa: S603, S607
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from types import ModuleType

from .shell import CACHE, ENV, IMAGES, ROOT, Failed, sh, step

BASE_IMAGE = "localhost/supply-store/debian:bookworm"
PYTHON_IMAGE = "localhost/supply-store/python:3.11"
STANDINS = {
    "mysql": "localhost/supply-store/mysql-standin:latest",
    "kafka": "localhost/supply-store/kafka-standin:latest",
    "mongo": "localhost/supply-store/mongo-standin:latest",
}
APT_PACKAGES = {"podman": "podman", "runc": "runc", "debootstrap": "debootstrap", "docker-compose": "docker-compose"}


def install_packages() -> None:
    """Debian's podman, runc, debootstrap and docker-compose, when a command is missing."""
    missing = [
        package
        for command, package in APT_PACKAGES.items()
        if not shutil.which(command, path=f"{ENV['PATH']}:/usr/sbin:/sbin")
    ]
    if not missing:
        return
    with step(f"installing {' '.join(missing)} (apt)"):
        sh(["apt-get", "update", "-qq"], quiet=True)
        sh(["apt-get", "install", "-y", "-qq", *missing], quiet=True)


def apt_mirror() -> str:
    """The Debian mirror of apt's own sources (deb822 or one-line format)."""
    sources = [*sorted(Path("/etc/apt/sources.list.d").glob("*.sources")), Path("/etc/apt/sources.list")]
    for path in sources:
        with contextlib.suppress(OSError):
            text = path.read_text()
            for stanza in re.split(r"\n\s*\n", text):
                uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
                suites = re.search(r"^Suites:\s*(.*)$", stanza, re.M)
                if uris and suites and "bookworm" in suites.group(1).split():
                    return uris.group(1)
            line = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+bookworm\s", text, re.M)
            if line:
                return line.group(1)
    raise Failed("no Debian bookworm mirror in apt's sources")


def image_exists(name: str) -> bool:
    return subprocess.run(["podman", "image", "exists", name], env=ENV, check=False).returncode == 0


def build(tag: str, context: Path, **args: str) -> None:
    cmd = ["podman", "build", "--quiet", "-t", tag, *(f"--build-arg={k}={v}" for k, v in args.items()), str(context)]
    with step(f"image {tag}"):
        sh(cmd, quiet=True)


def base_image() -> None:
    """Debian bookworm minbase, imported once; `podman rmi` it to make it again."""
    if image_exists(BASE_IMAGE):
        return
    with step(f"image {BASE_IMAGE} (debootstrap)"):
        CACHE.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=CACHE) as scratch:
            rootfs = Path(scratch) / "rootfs"
            sh(["debootstrap", "--variant=minbase", "bookworm", str(rootfs), apt_mirror()], quiet=True)
            tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
            sh_result = subprocess.run(
                ["podman", "import", "-", BASE_IMAGE],
                stdin=tar.stdout,
                env=ENV,
                capture_output=True,
                text=True,
                check=False,
            )
            if tar.wait() != 0 or sh_result.returncode != 0:
                raise Failed(f"podman import failed: {sh_result.stderr}")


def kafka_libs() -> Path:
    """The stand-in's jars (the local broker's and the tools), fetched once per pom change."""
    libs = CACHE / "kafka-libs"
    poms = [IMAGES / "kafka" / "pom.xml", ROOT / "deploy" / "local" / "kafka" / "pom.xml"]
    digest = hashlib.sha256(b"".join(pom.read_bytes() for pom in poms)).hexdigest()
    marker = libs / ".complete"
    if marker.exists() and marker.read_text().strip() == digest:
        return libs
    if not shutil.which("mvn"):
        sh(["apt-get", "install", "-y", "-qq", "maven", "openjdk-17-jre-headless"], quiet=True)
    shutil.rmtree(libs, ignore_errors=True)
    with step("kafka jars (maven)"):
        sh(
            [
                "mvn",
                "-q",
                "-B",
                "-f",
                str(poms[0]),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={libs}",
                "-DincludeScope=runtime",
            ],
            quiet=True,
        )
    marker.write_text(digest + "\n")
    return libs


def load_stack() -> ModuleType:
    """deploy/local/stack, the package: its FerretDB build (version, patches) is the one used here."""
    # This script runs on the system's Python, outside the workspace: the loader is read from its source.
    common = str(ROOT / "libs" / "common" / "src")
    if common not in sys.path:
        sys.path.insert(0, common)
    from supply_common.testing.stack import import_stack

    return import_stack(ROOT)


def ferretdb_binary() -> Path:
    """The FerretDB that deploy/local/stack builds (built there now if it is not yet)."""
    stack = load_stack()
    ferretdb = stack.FerretDB(stack.Stack())
    try:
        ferretdb.install()
    except stack.StackError as error:
        raise Failed(str(error)) from None
    return Path(ferretdb.binary)


def context_with(name: str, extra: dict[str, Path]) -> Path:
    """A build context under the cache: the image's folder plus files made elsewhere (hard links)."""
    context = CACHE / "contexts" / name
    shutil.rmtree(context, ignore_errors=True)
    shutil.copytree(IMAGES / name, context)
    for target, source in extra.items():
        if source.is_dir():
            shutil.copytree(source, context / target, copy_function=os.link, ignore=shutil.ignore_patterns(".*"))
        else:
            shutil.copy2(source, context / target)
    return context


def host_certificates() -> Path:
    """The certificate authorities this machine trusts (its package index may sit behind one of its own)."""
    bundle = Path(os.environ.get("SSL_CERT_FILE") or "/etc/ssl/certs/ca-certificates.crt")
    if not bundle.is_file():
        raise Failed(f"no CA bundle at {bundle}; install ca-certificates or set SSL_CERT_FILE")
    return bundle


def locked_version(package: str) -> str:
    """The version of `package` that uv.lock pins."""
    with (ROOT / "uv.lock").open("rb") as lock:
        for entry in tomllib.load(lock)["package"]:
            if entry["name"] == package:
                return str(entry["version"])
    raise Failed(f"{package} is not in uv.lock")


def images() -> None:
    base_image()
    build(PYTHON_IMAGE, context_with("python", {"ca-certificates.crt": host_certificates()}), BASE_IMAGE=BASE_IMAGE)
    build(STANDINS["mysql"], IMAGES / "mysql", BASE_IMAGE=BASE_IMAGE)
    build(STANDINS["kafka"], context_with("kafka", {"libs": kafka_libs()}), BASE_IMAGE=BASE_IMAGE)
    build(
        STANDINS["mongo"],
        context_with("mongo", {"ferretdb": ferretdb_binary()}),
        BASE_IMAGE=PYTHON_IMAGE,
        PYMONGO_VERSION=locked_version("pymongo"),
    )
