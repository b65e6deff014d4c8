"""The yaml-language-server (the YAML support of VS Code, Neovim and Helix) from npm, driven over LSP on stdio
as an editor drives it: open a document, ask for completion or hover, read the diagnostics it publishes.

    with Server() as server:
        diagnostics, items = server.open(path, ("completion", line, column))

Installed once into the tests' cache (cached_env.root()), beside its final name and renamed into place;
the test skips, saying why, where node/npm or the npm registry cannot be had.
"""

import json
import os
import shutil
import subprocess
import tempfile

import cached_env
import pytest

VERSION = "1.19.2"


def installed():
    """The server's script, installed from npm once."""
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("node and npm are needed for the yaml-language-server (apt-get install nodejs npm)")
    target = os.path.join(cached_env.root(), f"npm-yaml-language-server-{VERSION}")
    script = os.path.join(target, "node_modules", "yaml-language-server", "bin", "yaml-language-server")
    if not os.path.exists(script):
        os.makedirs(cached_env.root(), exist_ok=True)
        scratch = tempfile.mkdtemp(dir=cached_env.root(), prefix=".npm-")
        done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", scratch,
                               f"yaml-language-server@{VERSION}"], capture_output=True, text=True, timeout=600)
        if done.returncode:
            shutil.rmtree(scratch, ignore_errors=True)
            pytest.skip(f"npm could not install yaml-language-server@{VERSION}: {done.stderr.strip()[-300:]}")
        try:
            os.rename(scratch, target)
        except OSError:  # another run put it in place first
            shutil.rmtree(scratch, ignore_errors=True)
    return script


class Server:
    def __init__(self):
        self.process = subprocess.Popen(["node", installed(), "--stdio"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.next_id, self.published = 0, []
        self.request("initialize", {"processId": os.getpid(), "rootUri": None,
                                    "capabilities": {"workspace": {"configuration": True}}})
        self.notify("initialized", {})
        self.notify("workspace/didChangeConfiguration", {"settings": {"yaml": self.SETTINGS}})

    SETTINGS = {"validate": True, "completion": True, "hover": True, "schemaStore": {"enable": False}}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.process.kill()
        self.process.wait()

    def send(self, message):
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def notify(self, method, params):
        self.send({"method": method, "params": params})

    def request(self, method, params):
        self.next_id += 1
        self.send({"id": self.next_id, "method": method, "params": params})
        return self.wait(lambda message: message.get("id") == self.next_id and "method" not in message)["result"]

    def receive(self):
        length = None
        while True:
            line = self.process.stdout.readline()
            assert line, "the yaml-language-server exited"
            if line == b"\r\n":
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return json.loads(self.process.stdout.read(length))

    def wait(self, wanted):
        """Messages until one is wanted, answering the server's requests for settings on the way."""
        while True:
            message = self.receive()
            if message.get("method") == "workspace/configuration":
                self.send({"id": message["id"], "result": [self.SETTINGS] * len(message["params"]["items"])})
            elif message.get("method") == "textDocument/publishDiagnostics":
                self.published.append(message["params"])
            if wanted(message):
                return message

    def open(self, path, ask):
        """Open the file as an editor does; (its diagnostics, the answer to ask: (method, line, column))."""
        self.published, uri = [], "file://" + os.path.abspath(path)
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        self.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1,
                                                               "text": text}})
        method, line, column = ask
        answer = self.request(f"textDocument/{method}", {"textDocument": {"uri": uri},
                                                         "position": {"line": line, "character": column}})
        if not any(p["uri"] == uri for p in self.published):
            self.wait(lambda message: (message.get("params") or {}).get("uri") == uri)
        return [d for p in self.published if p["uri"] == uri for d in p["diagnostics"]], answer
