"""The config repository: a thin wrapper over the git CLI.

Reads go through plumbing on commit ids (``ls-tree``, ``cat-file``), so deploy, drift and
recovery never depend on a work tree. Commits streamdr makes (rollbacks) are built with a private
index and ``commit-tree``, and the branch moves with a compare-and-swap ``update-ref``: a push that
lands in between makes the move fail instead of being overwritten. git failures become
StreamdrError with the command and git's own message.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from streamdr.errors import InputError, StateError, StreamdrError, UnreachableError

WORKFLOWS_DIR = "workflows"
GIT_TIMEOUT_S = 120
EMPTY_OLD = ""  # update-ref: the ref must not exist yet


class GitError(StreamdrError):
    """A git command failed."""


@dataclass(frozen=True)
class TreeEntry:
    """One file of a commit's tree."""

    path: str
    mode: str
    blob: str


@dataclass(frozen=True)
class ReflogEntry:
    """One reflog line: the commit the ref pointed at and why it moved there."""

    sha: str
    selector: str
    message: str


@dataclass(frozen=True)
class CommitInfo:
    """One commit of the history."""

    sha: str
    author: str
    committed_at: datetime
    subject: str


def identity_env(actor: str) -> dict[str, str]:
    """Return git author/committer variables for commits made on behalf of ``actor``."""
    email = actor if "@" in actor else f"{actor}@localhost"
    return {
        "GIT_AUTHOR_NAME": actor,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": actor,
        "GIT_COMMITTER_EMAIL": email,
    }


class ConfigRepo:
    """One git repository and the branch streamdr deploys from."""

    def __init__(self, path: Path, branch: str = "main") -> None:
        self.path = path
        self.branch = branch

    @property
    def ref(self) -> str:
        """Return the full ref of the deployed branch."""
        return f"refs/heads/{self.branch}"

    # ----- running git ---------------------------------------------------------------------
    def _run(
        self,
        args: Sequence[str],
        *,
        data: bytes | None = None,
        env: Mapping[str, str] | None = None,
        ok: tuple[int, ...] = (0,),
    ) -> subprocess.CompletedProcess[bytes]:
        cmd = ["git", "-C", str(self.path), *args]
        full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", **(env or {})}
        try:
            done = subprocess.run(
                cmd,
                input=data,
                capture_output=True,
                env=full_env,
                timeout=GIT_TIMEOUT_S,
                check=False,
            )
        except FileNotFoundError as exc:
            raise UnreachableError(
                "the git command is not installed", hint="Install git (apt-get install git)."
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise GitError(
                f"git {' '.join(args[:3])} timed out after {GIT_TIMEOUT_S}s in {self.path}",
                hint="Check the repository (git fsck) and disk.",
            ) from exc
        if done.returncode not in ok:
            message = done.stderr.decode(errors="replace").strip().splitlines()
            raise GitError(
                f"git {' '.join(args[:3])} failed in {self.path}: "
                f"{message[-1] if message else f'exit {done.returncode}'}",
                hint="Run the command by hand in the repository to see details; "
                "`git fsck` checks its integrity.",
            )
        return done

    def git(
        self, *args: str, data: bytes | None = None, env: Mapping[str, str] | None = None
    ) -> str:
        """Return git's stdout (stripped) for ``args``; raises GitError on failure."""
        return self._run(args, data=data, env=env).stdout.decode().strip()

    # ----- repository ----------------------------------------------------------------------
    @classmethod
    def init(cls, path: Path, branch: str = "main", *, bare: bool = False) -> ConfigRepo:
        """Create an empty repository at ``path`` with reflogs on; return it."""
        path.mkdir(parents=True, exist_ok=True)
        repo = cls(path, branch)
        repo.git("init", "-q", *(["--bare"] if bare else []), f"--initial-branch={branch}")
        repo.ensure_reflog()
        return repo

    def require(self) -> None:
        """Raise InputError unless ``path`` is a git repository."""
        if not self.path.is_dir():
            raise InputError(
                f"config repository {self.path} does not exist",
                hint="Check config_repo.path, or rebuild it with `streamdr config restore-bundle`.",
            )
        done = self._run(["rev-parse", "--git-dir"], ok=(0, 128))
        if done.returncode != 0:
            raise InputError(
                f"{self.path} is not a git repository",
                hint="Check config_repo.path, or rebuild it with `streamdr config restore-bundle`.",
            )

    def is_bare(self) -> bool:
        """Return True for a repository without a work tree."""
        return self.git("rev-parse", "--is-bare-repository") == "true"

    def ensure_reflog(self) -> None:
        """Turn on reflogs for every ref (bare repositories have them off by default).

        Scenario 3 recovery reads the reflog, so streamdr keeps it enabled.
        """
        self.git("config", "core.logAllRefUpdates", "always")

    # ----- commits -------------------------------------------------------------------------
    def resolve(self, rev: str) -> str:
        """Return the commit id ``rev`` names; raises InputError when there is none."""
        if not rev or rev.startswith("-"):
            raise InputError(f"{rev!r} is not a revision", hint="Pass a commit id, branch or tag.")
        done = self._run(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], ok=(0, 1, 128))
        if done.returncode != 0:
            raise InputError(
                f"revision {rev!r} does not exist in the config repository {self.path}",
                hint="`streamdr config history` lists deployed commits; `git log` lists others.",
            )
        return done.stdout.decode().strip()

    def head(self) -> str | None:
        """Return the commit the branch points at, or None when the branch does not exist."""
        done = self._run(["rev-parse", "--verify", "--quiet", self.ref], ok=(0, 1, 128))
        return done.stdout.decode().strip() if done.returncode == 0 else None

    def has_commit(self, sha: str) -> bool:
        """Return True when the commit object ``sha`` is present."""
        return self._run(["cat-file", "-e", f"{sha}^{{commit}}"], ok=(0, 1, 128)).returncode == 0

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """Return True when ``ancestor`` is ``descendant`` or one of its ancestors."""
        done = self._run(["merge-base", "--is-ancestor", ancestor, descendant], ok=(0, 1))
        return done.returncode == 0

    def count_commits(self, exclude: str, include: str) -> int:
        """Return how many commits ``include`` has that ``exclude`` does not."""
        return int(self.git("rev-list", "--count", f"{exclude}..{include}"))

    def log(self, rev: str, limit: int = 20) -> list[CommitInfo]:
        """Return up to ``limit`` commits reachable from ``rev``, newest first."""
        text = self.git("log", f"-{limit}", "--format=%H%x00%an%x00%cI%x00%s", rev)
        rows = [line.split("\0") for line in text.splitlines() if line]
        return [CommitInfo(r[0], r[1], datetime.fromisoformat(r[2]), r[3]) for r in rows]

    def reflog(self, ref: str | None = None) -> list[ReflogEntry]:
        """Return the reflog of ``ref`` (default the branch), newest first; [] when none."""
        done = self._run(
            ["log", "-g", "--format=%H%x00%gd%x00%gs", ref or self.ref, "--"], ok=(0, 128)
        )
        if done.returncode != 0:
            return []
        rows = [line.split("\0") for line in done.stdout.decode().splitlines() if line]
        return [ReflogEntry(r[0], r[1], r[2]) for r in rows if len(r) == 3]

    # ----- trees ---------------------------------------------------------------------------
    def tree(self, rev: str, prefix: str | None = None) -> dict[str, TreeEntry]:
        """Return ``{path: entry}`` of every file in ``rev`` (below ``prefix`` if given)."""
        args = ["ls-tree", "-r", "-z", "--full-tree", rev]
        if prefix:
            args += ["--", prefix]
        out = self._run(args).stdout.decode()
        entries = {}
        for record in filter(None, out.split("\0")):
            meta, path = record.split("\t", 1)
            mode, kind, blob = meta.split()
            if kind == "blob":
                entries[path] = TreeEntry(path, mode, blob)
        return entries

    def read_blobs(self, blobs: Sequence[str]) -> dict[str, bytes]:
        """Return ``{blob id: content}`` using one ``cat-file --batch``."""
        if not blobs:
            return {}
        out = self._run(["cat-file", "--batch"], data="".join(f"{b}\n" for b in blobs).encode())
        data, pos, result = out.stdout, 0, {}
        for blob in blobs:
            header_end = data.index(b"\n", pos)
            sha, _kind, size = data[pos:header_end].decode().split()
            start = header_end + 1
            result[blob] = data[start : start + int(size)]
            pos = start + int(size) + 1
            if sha != blob:
                raise GitError(f"git cat-file returned {sha} for {blob}", hint="Run git fsck.")
        return result

    def read_files(self, rev: str, prefix: str = WORKFLOWS_DIR) -> dict[str, bytes]:
        """Return ``{path: bytes}`` of the files below ``prefix`` in ``rev``."""
        entries = self.tree(rev, prefix)
        blobs = self.read_blobs(sorted({e.blob for e in entries.values()}))
        return {path: blobs[e.blob] for path, e in sorted(entries.items())}

    # ----- writing -------------------------------------------------------------------------
    def commit_files(
        self, parent: str | None, changes: Mapping[str, bytes | None], message: str, actor: str
    ) -> str:
        """Return a new commit: ``parent``'s tree with ``changes`` (None deletes a path).

        The branch does not move; see :meth:`move_branch`.
        """
        with tempfile.TemporaryDirectory(prefix="streamdr-index-") as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            if parent:
                self.git("read-tree", parent, env=env)
            for path, content in sorted(changes.items()):
                if content is None:
                    self.git("update-index", "--force-remove", "--", path, env=env)
                    continue
                blob = self.git("hash-object", "-w", "--stdin", data=content)
                self.git("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
            tree = self.git("write-tree", env=env)
        return self.commit_tree(tree, parent, message, actor)

    def commit_tree(self, tree: str, parent: str | None, message: str, actor: str) -> str:
        """Return a new commit with ``tree`` on top of ``parent`` (the branch does not move)."""
        args = ["commit-tree", tree, *(["-p", parent] if parent else []), "-F", "-"]
        return self.git(*args, data=message.encode(), env=identity_env(actor))

    def move_branch(self, new: str, expected_old: str | None, reason: str) -> None:
        """Point the branch at ``new`` if it still points at ``expected_old`` (compare and swap).

        A checked-out work tree is updated too; raises StateError when it has uncommitted
        changes, or when the branch moved meanwhile.
        """
        checked_out = self.worktree_state()
        if checked_out == "dirty":
            raise StateError(
                f"the config repository {self.path} has uncommitted changes on {self.branch}",
                hint="Commit or stash them first; streamdr never overwrites local edits.",
            )
        done = self._run(
            ["update-ref", "-m", f"streamdr: {reason}", self.ref, new, expected_old or EMPTY_OLD],
            ok=(0, 1, 128),
        )
        if done.returncode != 0:
            raise StateError(
                f"branch {self.branch} moved while streamdr was updating it "
                f"({done.stderr.decode(errors='replace').strip()[-200:]})",
                hint="Someone pushed meanwhile; run the command again to plan on the new head.",
            )
        if checked_out == "clean":
            self.git("reset", "--hard", "-q")

    def worktree_state(self) -> str:
        """Return ``dirty``, ``clean`` (branch checked out in a work tree) or ``no``."""
        if self.is_bare():
            return "no"
        current = self._run(["symbolic-ref", "-q", "HEAD"], ok=(0, 1)).stdout.decode().strip()
        if current != self.ref:
            return "no"
        return "dirty" if self.git("status", "--porcelain", "--untracked-files=no") else "clean"

    def bundle_create(self, dest: Path) -> None:
        """Write a bundle of every ref to ``dest``; raises GitError (e.g. no commits)."""
        self.git("bundle", "create", "-q", str(dest), "--all")

    def refs(self) -> dict[str, str]:
        """Return ``{ref: commit}`` of every branch and tag."""
        out = self.git(
            "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads", "refs/tags"
        )
        return dict(line.split(" ", 1) for line in out.splitlines() if line)
