"""The Kafka 4.1 runtime (broker, StorageTool, tools, MirrorMaker 2) from the official jars.

Jars are resolved from Maven Central with ``mvn dependency:copy-dependencies`` on the pom shipped
in ``streamdr/runtime/pom.xml`` into ``~/.cache/streamdr/kafka-<version>/libs`` and reused.
Without Maven, the official Apache binary tarball is downloaded and its SHA-512 checked against
the checksum Apache publishes. The directory is filled under a temporary name and renamed, so a
half-finished download is never mistaken for a runtime.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from streamdr.errors import UnreachableError
from streamdr.fsutil import atomic_write_text

KAFKA_VERSION = "4.1.2"
SCALA_VERSION = "2.13"
JAVA_MIN_MAJOR = 17
BROKER_MAIN = "kafka.Kafka"
STORAGE_TOOL_MAIN = "kafka.tools.StorageTool"
MIRROR_MAKER_MAIN = "org.apache.kafka.connect.mirror.MirrorMaker"
QUORUM_TOOL_MAIN = "org.apache.kafka.tools.MetadataQuorumCommand"
TARBALL_URLS = (
    "https://downloads.apache.org/kafka/{v}/kafka_{s}-{v}.tgz",
    "https://archive.apache.org/dist/kafka/{v}/kafka_{s}-{v}.tgz",
)
COMPLETE_MARKER = ".complete"
CLASS_ARCHIVE_DIR = "class-archives"
# The jars a usable runtime must contain; checked after resolution.
REQUIRED_JARS = (
    f"kafka_{SCALA_VERSION}-{KAFKA_VERSION}.jar",
    f"kafka-tools-{KAFKA_VERSION}.jar",
    f"connect-mirror-{KAFKA_VERSION}.jar",
    f"kafka-clients-{KAFKA_VERSION}.jar",
)


def cache_root() -> Path:
    """Return ``$STREAMDR_CACHE_DIR``, ``$XDG_CACHE_HOME/streamdr`` or ``~/.cache/streamdr``."""
    if os.environ.get("STREAMDR_CACHE_DIR"):
        return Path(os.environ["STREAMDR_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "streamdr"


@dataclass(frozen=True)
class KafkaRuntime:
    """An installed runtime: a directory of jars and the java binary that runs them.

    ``record`` pairs (main class, file) make JVMs of that main class write the classes they
    loaded to the file when they exit — the training run of a class archive (``class_archive``).
    """

    version: str
    home: Path
    java: str
    record: tuple[tuple[str, Path], ...] = ()
    map_archives: bool = True  # False: load every class from the jars (the bench's baseline)

    @property
    def libs(self) -> Path:
        """Return the directory holding the jars."""
        return self.home / "libs"

    @property
    def log4j_config(self) -> Path:
        """Return the log4j2 configuration file lab JVMs use."""
        return self.home / "log4j2.properties"

    def class_archive(self, main_class: str) -> Path:
        """Return where the class archive (AppCDS) of ``main_class`` lives; it may not exist.

        A JVM maps the archived classes instead of loading and verifying them from the jars:
        a broker starts in about half the CPU time, which is what a lab restarting brokers on
        2 vCPUs waits for. The name carries the JVM's fingerprint: an archive is only valid for
        the JVM that wrote it.
        """
        name = f"{main_class}-{java_fingerprint(self.java)}.jsa"
        return self.home / CLASS_ARCHIVE_DIR / name

    def command(
        self,
        main_class: str,
        args: list[str],
        *,
        heap_mb: int = 256,
        log_dir: Path | None = None,
        marker: str | None = None,
    ) -> list[str]:
        """Return the ``java`` command line that runs ``main_class`` with small-heap flags."""
        cmd = [
            self.java,
            f"-Xms{min(heap_mb, 256)}m",
            f"-Xmx{heap_mb}m",
            "-server",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:InitiatingHeapOccupancyPercent=35",
            "-XX:+ExplicitGCInvokesConcurrent",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.log4j_config}",
        ]
        if log_dir is not None:
            cmd.append(f"-Dkafka.logs.dir={log_dir}")
        if marker is not None:
            # Lets `lab down` find our JVMs even when their PID files are gone.
            cmd.append(f"-Dstreamdr.lab={marker}")
        if (recording := dict(self.record).get(main_class)) is not None:
            cmd.append(f"-XX:ArchiveClassesAtExit={recording}")
        elif self.map_archives and (archive := self.class_archive(main_class)).is_file():
            # Only ever a complete, checked archive is renamed here (a truncated one crashes
            # the JVM); any other mismatch makes the JVM warn and load from the jars.
            cmd.append(f"-XX:SharedArchiveFile={archive}")
        cmd += ["-cp", f"{self.libs}/*", main_class, *args]
        return cmd


def java_fingerprint(java: str) -> str:
    """Return a short digest naming the JVM behind ``java`` (its binary and libjvm, by stat).

    A JDK update changes the digest, so an archive written by the old JVM is simply not used.
    """
    binary = Path(java).resolve()
    parts = [str(binary)]
    for path in (binary, binary.parent.parent / "lib" / "server" / "libjvm.so"):
        with contextlib.suppress(OSError):
            st = path.stat()
            parts.append(f"{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]


def find_java() -> str:
    """Return the path of a Java >= 17 binary; raises UnreachableError with a hint otherwise."""
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java or not Path(java).exists():
        raise UnreachableError(
            "Java is not installed (no `java` on PATH and no JAVA_HOME)",
            hint=f"Install Java >= {JAVA_MIN_MAJOR}: apt-get install openjdk-17-jre-headless.",
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    major = parse_java_major(out.stderr + out.stdout)
    if major is None or major < JAVA_MIN_MAJOR:
        raise UnreachableError(
            f"Java {major or 'of unknown version'} at {java} is too old; "
            f"Kafka 4 needs >= {JAVA_MIN_MAJOR}",
            hint="Install Java 17 or newer and put it first on PATH or set JAVA_HOME.",
        )
    return java


def parse_java_major(version_output: str) -> int | None:
    """Return the major version in ``java -version`` output ("1.8.0" → 8, "17.0.2" → 17)."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def runtime_home(version: str = KAFKA_VERSION) -> Path:
    """Return where the runtime of ``version`` lives in the cache."""
    return cache_root() / f"kafka-{version}"


def is_installed(home: Path) -> bool:
    """Return True when ``home`` holds a complete runtime."""
    libs = home / "libs"
    return (home / COMPLETE_MARKER).is_file() and all((libs / j).is_file() for j in REQUIRED_JARS)


def ensure_runtime(*, progress: bool = False) -> KafkaRuntime:
    """Return the installed runtime, installing it first when needed.

    Raises UnreachableError when Java is missing or neither Maven Central nor Apache can be reached.
    """
    java = find_java()
    home = runtime_home()
    if not is_installed(home):
        install_runtime(home, progress=progress)
    _write_log4j_config(home)
    return KafkaRuntime(KAFKA_VERSION, home, java)


def _write_log4j_config(home: Path) -> None:
    text = resources.files("streamdr.runtime").joinpath("log4j2.properties").read_text()
    target = home / "log4j2.properties"
    if not target.exists() or target.read_text() != text:
        atomic_write_text(target, text)


def install_runtime(home: Path, *, progress: bool = False) -> None:
    """Fill ``home`` with the runtime jars (Maven first, Apache tarball otherwise)."""
    home.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{home.name}-", dir=home.parent))
    try:
        if shutil.which("mvn"):
            _resolve_with_maven(staging / "libs", quiet=not progress)
        else:
            _download_tarball(staging / "libs")
        missing = [j for j in REQUIRED_JARS if not (staging / "libs" / j).is_file()]
        if missing:
            raise UnreachableError(
                f"the Kafka runtime is incomplete: missing {', '.join(missing)}",
                hint="Delete ~/.cache/streamdr and run `streamdr lab install` again.",
            )
        (staging / COMPLETE_MARKER).write_text(KAFKA_VERSION + "\n")
        if home.exists():
            shutil.rmtree(home)
        staging.rename(home)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _resolve_with_maven(libs: Path, *, quiet: bool) -> None:
    pom = resources.files("streamdr.runtime").joinpath("pom.xml")
    with resources.as_file(pom) as pom_path:
        cmd = [
            "mvn",
            "-B",
            "-f",
            str(pom_path),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={libs}",
            "-DincludeScope=runtime",
            f"-Dkafka.version={KAFKA_VERSION}",
        ]
        if quiet:
            cmd.insert(1, "-q")
        done = subprocess.run(cmd, capture_output=quiet, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout or "").splitlines()[-5:])
        raise UnreachableError(
            f"Maven could not resolve the Kafka {KAFKA_VERSION} jars from Maven Central: {tail}",
            hint="Check network access to repo.maven.apache.org (or your Maven mirror in "
            "~/.m2/settings.xml), then run `streamdr lab install` again.",
        )


def _download_tarball(libs: Path) -> None:
    last_error: Exception | None = None
    for pattern in TARBALL_URLS:
        url = pattern.format(v=KAFKA_VERSION, s=SCALA_VERSION)
        try:
            _fetch_and_unpack(url, libs)
            return
        except (OSError, ValueError) as exc:
            last_error = exc
    raise UnreachableError(
        f"neither Maven nor the Apache download site is available: {last_error}",
        hint="Install Maven (`apt-get install maven`) or allow HTTPS to downloads.apache.org.",
    )


def _fetch_and_unpack(url: str, libs: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "kafka.tgz"
        urllib.request.urlretrieve(url, archive)
        with urllib.request.urlopen(url + ".sha512", timeout=30) as resp:
            expected = parse_sha512_file(resp.read().decode())
        actual = hashlib.sha512(archive.read_bytes()).hexdigest()
        if actual != expected:
            raise ValueError(f"SHA-512 mismatch for {url}: got {actual[:16]}…")
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        src = Path(tmp) / f"kafka_{SCALA_VERSION}-{KAFKA_VERSION}" / "libs"
        shutil.copytree(src, libs)


def parse_sha512_file(text: str) -> str:
    """Return the lower-case hex digest from an Apache ``.sha512`` file (either layout).

    Apache publishes ``name: AAAA BBBB …`` (gpg --print-md, grouped upper-case hex) or
    ``hex  name`` (sha512sum). Raises ValueError when no 128-digit digest is present.
    """
    tokens = [t for t in text.split() if ".tgz" not in t]
    digits = re.sub(r"[^0-9a-fA-F]", "", "".join(tokens))
    if len(digits) != 128:
        raise ValueError("no SHA-512 digest in checksum file")
    return digits.lower()
