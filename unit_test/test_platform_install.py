"""The README's install steps for Rundeck and StackStorm, run exactly as written (each line of its code block),
the platforms' own parts done as their source does them (Rundeck and st2 cannot run here):

- Rundeck: the zip the steps put into $RDECK_BASE/libext passes the loader's rules (rundeck_loader);
- StackStorm: `st2 pack install file://DIR` copies a local pack that is not a git repository as it is
  (st2common/st2common/util/pack_management.py download_pack), then builds the pack's virtualenv with
  `pip install -U -r requirements.txt` (util/virtualenvs.py install_requirements, from no particular working
  directory) on st2's Python, 3.8 to 3.11; `st2 run` imports the action module and calls run() (as in
  test_export_stackstorm); the README's pack config passes st2-validate-pack-config (st2_rules).
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile

import pytest
import yaml

import cached_env
import rundeck_loader
import st2_rules
from conftest import ROOT
from export_support import connection_of

README = os.path.join(ROOT, "README.md")


def section(title):
    text = open(README, encoding="utf-8").read()
    start = text.index(f"### {title}")
    end = text.find("\n## ", start)
    following = text.find("\n### ", start + 4)
    return text[start:min(e for e in (end, following) if e > 0)]


def code_blocks(text, language):
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def commands(block):
    """The block's command lines, without their `# …` comments."""
    lines = []
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            lines.append(line.split(" #", 1)[0].strip())
    return lines


def shell(line, cwd, env):
    done = subprocess.run(["bash", "-c", line], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def user_env(**extra):
    """A user's shell: this installation's commands (pip, pagerduty-plugin) first on the PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGERDUTY_", "PIP_REQUIRE"))}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.update(extra)
    return env


def source_copy(tmp_path):
    """The repository's files, as a user's clone has them (the README's `.` is its root)."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True)
    target = tmp_path / "clone"
    for name in filter(None, listed.stdout.split("\0")):
        if os.path.isfile(os.path.join(ROOT, name)):
            os.makedirs(target / os.path.dirname(name), exist_ok=True)
            shutil.copy2(os.path.join(ROOT, name), target / name)
    return target


def test_the_rundeck_steps_put_a_plugin_rundeck_loads_into_libext(tmp_path):
    block = code_blocks(section("In Rundeck"), "sh")[0]
    rdeck_base = tmp_path / "rundeck"
    (rdeck_base / "libext").mkdir(parents=True)
    env = user_env(RDECK_BASE=str(rdeck_base))
    for line in commands(block):
        shell(line, tmp_path, env)
    plugins = list((rdeck_base / "libext").glob("*.zip"))
    assert [p.name for p in plugins] == ["pagerduty-plugin.zip"]
    meta, problems = rundeck_loader.load_meta(str(plugins[0]))
    assert problems == [] and rundeck_loader.validate_plugin_meta(meta, "5.0.0") == ("VALID", [])


def wheel_requires_python(wheel):
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        found = re.search(r"^Requires-Python: *(.+)$", archive.read(metadata).decode(), re.M)
    return found.group(1).strip() if found else ""


def allows(requires, version):
    from packaging.specifiers import SpecifierSet

    return SpecifierSet(requires).contains(version)


ST2_RUN = """
import importlib.util, json, sys, types
base = types.ModuleType("st2common.runners.base_action")
class Action:  # st2's Action base: __init__(config=None, action_service=None) keeps self.config
    def __init__(self, config=None, action_service=None):
        self.config, self.action_service = config or {}, action_service
base.Action = Action
for name in ("st2common", "st2common.runners"):
    sys.modules[name] = types.ModuleType(name)
sys.modules["st2common.runners.base_action"] = base
module_spec = importlib.util.spec_from_file_location("pagerduty_action", sys.argv[1])
module = importlib.util.module_from_spec(module_spec)
module_spec.loader.exec_module(module)
(cls,) = [v for v in vars(module).values() if isinstance(v, type) and v.__module__ == module.__name__]
status, result = cls(config=json.loads(sys.argv[2])).run(**json.loads(sys.argv[3]))
print(json.dumps({"status": status, "result": result}))
"""


@pytest.mark.slow
@pytest.mark.full_answers  # one run is enough: the sandbox answers one get_user_by_email
def test_the_stackstorm_steps_install_the_pack_into_a_python_38_virtualenv(tmp_path, sandbox):
    python38 = cached_env.interpreter("3.8")
    if python38 is None:
        pytest.skip("Python 3.8 is not installed (pyenv install 3.8 makes it available)")
    block = code_blocks(section("In StackStorm"), "sh")[0]
    clone = source_copy(tmp_path)
    env = user_env()
    st2_lines = []
    for line in commands(block):
        if line.startswith("st2 "):
            st2_lines.append(line)
        else:
            shell(line, clone, env)
    install, run = st2_lines
    url = shlex.split(install.replace("$PWD", str(clone)))[-1]
    assert shlex.split(install)[:3] == ["st2", "pack", "install"] and url.startswith("file://")
    packs = tmp_path / "packs"
    pack = packs / "pagerduty_plugin"
    shutil.copytree(url[len("file://"):], pack)  # a local pack that is not a git repository: copied as it is
    wheel = next((pack / "wheels").glob("*.whl"))
    requires = wheel_requires_python(wheel)
    assert allows(requires, "3.8.18"), f"the wheel says Requires-Python {requires}: st2 runs packs on 3.8"
    venv = tmp_path / "virtualenvs" / "pagerduty_plugin"
    subprocess.run([python38, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = [str(venv / "bin" / "pip"), "--disable-pip-version-check", "install"]
    done = subprocess.run(pip + ["-U", "-r", str(pack / "requirements.txt")], cwd=str(tmp_path), capture_output=True,
                          text=True, timeout=900, env=user_env())
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "pagerduty-plugin" in subprocess.run([str(venv / "bin" / "pip"), "list"], capture_output=True,
                                                text=True).stdout
    words = shlex.split(run)
    assert words[:2] == ["st2", "run"] and words[2].startswith("pagerduty_plugin.")
    action = words[2].split(".", 1)[1]
    metadata = yaml.safe_load((pack / "actions" / f"{action}.yaml").read_text())
    parameters = {k: p["default"] for k, p in metadata["parameters"].items() if "default" in p}
    parameters.update(word.split("=", 1) for word in words[3:])
    done = subprocess.run([str(venv / "bin" / "python"), "-c", ST2_RUN, str(pack / "actions" / "pagerduty_action.py"),
                           json.dumps(connection_of(sandbox)), json.dumps(parameters)],
                          capture_output=True, text=True, timeout=120, env=user_env())
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["status"] is True and "found" in answer["result"], answer


def test_the_readme_pack_config_passes_st2_validate_pack_config(tmp_path):
    from export_support import export

    export("stackstorm", tmp_path / "pack")
    schema = yaml.safe_load((tmp_path / "pack" / "config.schema.yaml").read_text())
    config = yaml.safe_load(code_blocks(section("In StackStorm"), "yaml")[0])
    assert st2_rules.config_errors(schema, config) == []
    secret = next(k for k, v in schema.items() if v.get("secret") and k in config)
    decrypted = {**config, secret: "{{ st2kv.system.pagerduty_api_key | decrypt_kv }}"}  # the broken control
    assert st2_rules.config_errors(schema, decrypted)
    assert st2_rules.config_errors(schema, {**config, "timeout": "soon"})  # and the schema itself applies
