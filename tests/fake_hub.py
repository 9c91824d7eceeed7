"""A Hugging Face Hub on loopback, for tests: the endpoints huggingface_hub calls, nothing more.

It serves model folders the tests build, answering as the Hub does (huggingface_hub's
``model_info``, ``auth_check``, ``list_repo_tree``, and ``hf_hub_download``'s HEAD then GET
of ``/{repo}/resolve/{revision}/{file}``), with the Hub's error codes for a gated, private
or missing repository and a missing revision. Every request is logged, so a test can
say what was (not) downloaded. Point ``HF_ENDPOINT`` at ``FakeHub.url``.

    with FakeHub() as hub:
        hub.add("acme/tiny", folder, card={"license": "mit"})
        ...
        assert not hub.downloads("acme/tiny")
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

LFS_SUFFIXES = (".safetensors", ".bin")


@dataclass
class Repo:
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)  # sha -> path -> bytes
    refs: dict[str, str] = field(default_factory=dict)  # branch or tag -> sha
    info: dict[str, Any] = field(default_factory=dict)  # extra model_info fields
    gated: bool = False
    private: bool = False


def read_folder(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def safetensors_params(files: dict[str, bytes]) -> int:
    """Parameters in the safetensors files, read from their JSON headers as the Hub does."""
    total = 0
    for name, data in files.items():
        if name.endswith(".safetensors"):
            length = int.from_bytes(data[:8], "little")
            header = json.loads(data[8 : 8 + length])
            for key, tensor in header.items():
                if key != "__metadata__":
                    count = 1
                    for size in tensor["shape"]:
                        count *= size
                    total += count
    return total


class FakeHub:
    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeHub:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add(
        self,
        repo_id: str,
        folder: Path,
        *,
        refs: tuple[str, ...] = ("main",),
        card: dict[str, Any] | None = None,
        extra_files: dict[str, bytes] | None = None,
        gated: bool = False,
        private: bool = False,
    ) -> str:
        """Serve ``folder`` as one commit of ``repo_id`` under ``refs``; returns its sha."""
        files = {**read_folder(folder), **(extra_files or {})}
        if card is not None:
            files["README.md"] = f"---\n{yaml.safe_dump(card)}---\n# {repo_id}\n".encode()
        sha = hashlib.sha1(b"".join(k.encode() + v for k, v in files.items())).hexdigest()
        repo = self.repos.setdefault(repo_id, Repo())
        repo.commits[sha] = files
        repo.refs.update({ref: sha for ref in refs})
        front = re.match(rb"---\n(.*?)\n---", files.get("README.md", b""), re.DOTALL)
        card_data = yaml.safe_load(front[1]) if front else {}
        tags = [f"license:{card_data['license']}"] if "license" in card_data else []
        repo.info = {"cardData": card_data, "tags": tags}
        repo.gated, repo.private = gated, private
        return sha

    def downloads(self, repo_id: str) -> list[str]:
        """Files of ``repo_id`` fetched with GET (a HEAD only asks for metadata)."""
        prefix = f"/{repo_id}/resolve/"
        return [
            path.split("/", 4 + repo_id.count("/"))[-1]
            for method, path in self.requests
            if method == "GET" and path.startswith(prefix)
        ]

    # -- answers ---------------------------------------------------------------------------------
    def answer(self, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
        self.requests.append((method, path))
        api = re.fullmatch(
            r"/api/models/([^/]+/[^/]+)(?:/(revision|tree)/([^/]+))?(/auth-check)?", path
        )
        resolve = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        match = api or resolve
        if match is None or match[1] not in self.repos:
            return _error(404, "RepoNotFound", "Repository not found")
        repo = self.repos[match[1]]
        if repo.private:
            return _error(401, "RepoNotFound", "Invalid username or password.")
        if api and api[4]:
            return _error(403, "GatedRepo", "Access restricted") if repo.gated else _json({})
        revision = unquote((api[3] if api else resolve[2]) or "main")
        sha = repo.refs.get(revision, revision if revision in repo.commits else None)
        if sha is None:
            return _error(404, "RevisionNotFound", "Invalid rev id")
        files = repo.commits[sha]
        if api and api[2] == "tree":
            return _json([_tree_entry(name, data) for name, data in files.items()])
        if api:
            return _json(self._model_info(match[1], repo, sha, files))
        if repo.gated:
            return _error(403, "GatedRepo", "Access to this model is restricted")
        name = unquote(resolve[3])
        if name not in files:
            return _error(404, "EntryNotFound", "Entry not found")
        data = files[name]
        headers = {"X-Repo-Commit": sha, "ETag": f'"{_etag(name, data)}"'}
        if name.endswith(LFS_SUFFIXES):
            headers.update(
                {"X-Linked-Etag": f'"{_etag(name, data)}"', "X-Linked-Size": str(len(data))}
            )
        return 200, headers, data

    def _model_info(self, repo_id: str, repo: Repo, sha: str, files: dict[str, bytes]) -> dict:
        config = json.loads(files.get("config.json", b"{}"))
        params = safetensors_params(files)
        return {
            "id": repo_id,
            "author": repo_id.split("/")[0],
            "sha": sha,
            "private": repo.private,
            "gated": "manual" if repo.gated else False,
            "library_name": "transformers",
            "config": {
                k: config[k] for k in ("architectures", "model_type", "auto_map") if k in config
            },
            "siblings": [_sibling(name, data) for name, data in files.items()],
            "safetensors": {"parameters": {"F32": params}, "total": params} if params else None,
            **repo.info,
        }


def _etag(name: str, data: bytes) -> str:
    if name.endswith(LFS_SUFFIXES):
        return hashlib.sha256(data).hexdigest()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # git's blob id


def _lfs(name: str, data: bytes) -> dict[str, Any] | None:
    if not name.endswith(LFS_SUFFIXES):
        return None
    return {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}


def _sibling(name: str, data: bytes) -> dict[str, Any]:
    lfs = _lfs(name, data)
    sibling = {"rfilename": name, "size": len(data), "blobId": _etag(name, data)}
    if lfs:
        sibling["lfs"] = {"sha256": lfs["oid"], "size": lfs["size"], "pointerSize": 134}
    return sibling


def _tree_entry(name: str, data: bytes) -> dict[str, Any]:
    entry = {"type": "file", "path": name, "size": len(data), "oid": _etag(name, data)}
    if lfs := _lfs(name, data):
        entry["lfs"] = lfs
    return entry


def _json(value: Any) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "application/json"}, json.dumps(value).encode()


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"error": message}).encode()
    headers = {"Content-Type": "application/json", "X-Error-Code": code, "X-Error-Message": message}
    return status, headers, body


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            self._reply(send_body=True)

        def do_HEAD(self) -> None:  # noqa: N802
            self._reply(send_body=False)

        def _reply(self, send_body: bool) -> None:
            status, headers, body = hub.answer(self.command, urlsplit(self.path).path)
            self.send_response(status)
            for key, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(key, value)
            self.end_headers()
            if send_body:
                self.wfile.write(body)

        def log_message(self, *_: Any) -> None:  # the test reads hub.requests instead
            pass

    return Handler
