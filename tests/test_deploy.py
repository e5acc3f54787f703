"""Running it as a service: the Dockerfile, .dockerignore, compose.yaml and the systemd unit
agree with the code they run (the command, the database, the drain at stop, the health).

The files are read as text (no container tool needed). The image itself is built only
when ARB_TEST_IMAGE=1 and a container daemon answers `docker info`: it takes minutes and
the package registries, so `make test` skips it.
"""

from __future__ import annotations

import configparser
import dataclasses
import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import uuid
from pathlib import Path

import pytest

from arb.settings import Settings
from bot.app import SHUTDOWN_GRACE_S
from bot.cli import build_parser
from bot.heartbeat import heartbeat_path

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
UNIT = ROOT / "deploy" / "arb-bot.service"
DATA_DB = "/data/arb.sqlite3"


def drain_s() -> float:
    """The longest SIGTERM drain with the default settings (bot/app.py, bot/alerts.py): the
    grace for alerts waiting their turn, then a send already made gets its request timeout
    and a second more. A stop timeout under it would kill the bot mid-send."""
    default = {f.name: f.default for f in dataclasses.fields(Settings)}["telegram_timeout_s"]
    return SHUTDOWN_GRACE_S + default + 1.0


def duration_s(text: str) -> float:
    """'60s', '1m30s', '90' (systemd: seconds) -> seconds."""
    units = {"h": 3600, "m": 60, "min": 60, "s": 1, "": 1}
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*(h|min|m|s|)", text.strip())
    assert parts and "".join(n + u for n, u in parts) == text.replace(" ", ""), text
    return sum(float(n) * units[u] for n, u in parts)


# --------------------------------------------------------------------------- Dockerfile


@dataclasses.dataclass(frozen=True)
class Instruction:
    name: str
    args: str

    def exec_form(self) -> list[str]:
        value = json.loads(self.args)
        assert isinstance(value, list), f"{self.name} is not in exec (JSON) form"
        return value


def dockerfile_stages() -> list[list[Instruction]]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped, by stage."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: list[list[Instruction]] = [[]]
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, args = line.partition(" ")
        if name.upper() == "FROM":
            stages.append([])
        stages[-1].append(Instruction(name.upper(), args.strip()))
    return stages[1:]


def final_stage() -> list[Instruction]:
    return dockerfile_stages()[-1]


def last(stage: list[Instruction], name: str) -> Instruction:
    found = [i for i in stage if i.name == name]
    assert found, f"no {name} in the final stage"
    return found[-1]


def test_the_image_runs_as_an_unprivileged_user_that_owns_data():
    stage = final_stage()
    user = last(stage, "USER").args
    assert user.split(":")[0] not in ("root", "0", "")
    names = [i.name for i in stage]
    assert names.index("USER") < names.index("ENTRYPOINT")
    runs = " ".join(i.args for i in stage if i.name == "RUN")
    assert re.search(rf"chown {user}:{user} /data\b", runs), "/data must be the user's"
    assert last(stage, "VOLUME").exec_form() == ["/data"]


def test_the_image_runs_the_bot_on_the_volume():
    stage = final_stage()
    assert last(stage, "ENTRYPOINT").exec_form() == ["arb-bot"]
    assert last(stage, "CMD").exec_form() == ["run"]
    env = " ".join(i.args for i in stage if i.name == "ENV")
    assert f"ARB_DB={DATA_DB}" in env.split()
    assert last(stage, "WORKDIR").args == "/data"  # a relative ARB_DB lands there too
    build_parser().parse_args(["run"])


def test_the_healthcheck_asks_the_bot_through_a_real_subcommand():
    check = last(final_stage(), "HEALTHCHECK").args
    options, _, command = check.partition("CMD ")
    assert json.loads(command) == ["arb-bot", "health"]
    build_parser().parse_args(["health"])
    assert heartbeat_path(DATA_DB) == Path("/data/arb.sqlite3.heartbeat")  # on the volume
    flags = dict(re.findall(r"--([a-z-]+)=(\S+)", options))
    # Stale beats (60 s) must show within a few intervals, and one check never hangs.
    assert duration_s(flags["interval"]) <= 60
    assert duration_s(flags["timeout"]) <= duration_s(flags["interval"])
    assert int(flags["retries"]) >= 2  # one slow check is not an outage


def test_no_secret_and_no_compiler_is_built_into_the_image():
    for stage in dockerfile_stages():
        for i in stage:
            if i.name in ("ENV", "ARG"):
                assert not re.search(r"TOKEN|SECRET|PASSPHRASE|API_KEY", i.args), i
            if i.name == "COPY":
                assert ".env" not in i.args, i
            if i.name == "RUN":
                assert not re.search(r"apt-get|apk add|gcc|build-essential", i.args), i
                if "pip install" in i.args and "-r requirements.txt" in i.args:
                    assert "--only-binary=:all:" in i.args  # wheels only: nothing compiled


def test_the_dependencies_installed_are_those_pyproject_declares():
    """The build stage's one-liner, run here on the repo's pyproject.toml."""
    run = next(i.args for i in dockerfile_stages()[0] if i.name == "RUN" and "tomllib" in i.args)
    script = shlex.split(run.split(">")[0])
    assert script[:2] == ["python", "-c"]
    out = subprocess.run(
        [sys.executable, "-c", script[2]], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == declared


# --------------------------------------------------------------------------- .dockerignore


def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [s for s in (line.strip() for line in lines) if s and not s.startswith("#")]


def _matches(path: str, pattern: str) -> bool:
    """Docker's pattern match, as far as these files need: component by component from the
    context's root (a leading **/ from any folder); a matched folder takes its contents."""
    parts, wanted = path.split("/"), pattern.split("/")
    anywhere = wanted[0] == "**"
    wanted = wanted[1:] if anywhere else wanted
    return any(
        len(parts) - start >= len(wanted) and all(map(fnmatch.fnmatchcase, parts[start:], wanted))
        for start in (range(len(parts)) if anywhere else [0])
    )


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether the build context leaves `path` out: the last matching pattern decides."""
    verdict = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if _matches(path, pattern.removeprefix("!")):
            verdict = not negated
    return verdict


@pytest.mark.parametrize(
    "path",
    [".env", ".env.production", "deploy/.env", ".venv/bin/python", ".git/config",
     "arb.sqlite3", "arb.sqlite3-wal", "arb.sqlite3.heartbeat", "data/arb.sqlite3",
     "bot/__pycache__/app.cpython-311.pyc", ".pytest_cache/v/x", ".hypothesis/examples/x",
     "tests/test_deploy.py"],
)  # fmt: skip
def test_the_build_context_leaves_out_secrets_databases_and_caches(path):
    assert ignored(path, dockerignore())


def test_every_file_the_dockerfile_copies_exists_and_is_in_the_context():
    patterns = dockerignore()
    copied = []
    for stage in dockerfile_stages():
        for i in stage:
            if i.name in ("COPY", "ADD") and "--from=" not in i.args:
                *sources, _dest = i.args.split()
                copied += [s for s in sources if not s.startswith("--")]
    assert {"pyproject.toml", "README.md", "arb", "storage", "bot"} <= set(copied)
    for source in copied:
        assert (ROOT / source).exists(), f"COPY {source}: no such file"
        assert not ignored(source, patterns), f"COPY {source}: .dockerignore leaves it out"
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    for pattern in packages["packages"]["find"]["include"]:  # every package is copied
        assert pattern.removesuffix("*") in copied


# --------------------------------------------------------------------------- compose.yaml


def parse_yaml(text: str) -> object:
    """The YAML compose.yaml uses (block mappings and sequences, flow lists of scalars,
    comments, quotes), strictly: anything else fails. PyYAML is no dependency of the app."""
    rows = []
    for n, raw in enumerate(text.splitlines(), 1):
        assert "\t" not in raw, f"line {n}: a tab"
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if line.strip():
            rows.append((n, len(line) - len(line.lstrip(" ")), line.strip()))
    value, end = _yaml_block(rows, 0, rows[0][1])
    assert end == len(rows), f"line {rows[end][0]}: unexpected indentation"
    return value


def _yaml_block(rows, i, indent):
    if rows[i][2].startswith("- "):
        items = []
        while i < len(rows) and rows[i][1] == indent and rows[i][2].startswith("- "):
            items.append(_yaml_scalar(rows[i][2][2:]))
            i += 1
        return items, i
    mapping: dict[str, object] = {}
    while i < len(rows) and rows[i][1] == indent:
        n, _, text = rows[i]
        match = re.fullmatch(r"([A-Za-z0-9_.-]+):(?:\s+(.*))?", text)
        assert match, f"line {n}: not a 'key: value'"
        key, rest = match.groups()
        assert key not in mapping, f"line {n}: {key} twice"
        i += 1
        if rest:
            mapping[key] = _yaml_scalar(rest)
        elif i < len(rows) and rows[i][1] > indent:
            mapping[key], i = _yaml_block(rows, i, rows[i][1])
        else:
            mapping[key] = None
    return mapping, i


def _yaml_scalar(text: str) -> object:
    if text.startswith("["):
        assert text.endswith("]"), text
        return [_yaml_scalar(p.strip()) for p in text[1:-1].split(",") if p.strip()]
    if text[:1] in "\"'":
        assert len(text) > 1 and text[-1] == text[0], text
        return text[1:-1]
    return text


def compose() -> dict:
    parsed = parse_yaml((ROOT / "compose.yaml").read_text())
    assert isinstance(parsed, dict)
    return parsed


def test_the_yaml_reader_refuses_what_it_does_not_understand():
    assert parse_yaml("a:\n  b: [x, 'y']\n  c:\n    - d\n") == {"a": {"b": ["x", "y"], "c": ["d"]}}
    for bad in ("a:\n  b: 1\n c: 2\n", "a: 1\na: 2\n", "a:\n\tb: 1\n", "- a\nb: 1\n"):
        with pytest.raises(AssertionError):
            parse_yaml(bad)


def test_compose_runs_the_image_with_the_env_file_and_the_database_on_a_volume():
    spec = compose()
    bot = spec["services"]["bot"]
    assert bot["build"] == "."
    assert bot["env_file"] == ".env"
    assert bot["restart"] == "unless-stopped"
    assert bot["environment"]["ARB_DB"] == DATA_DB  # over whatever .env says
    volume, _, mount = bot["volumes"][0].partition(":")
    assert mount == "/data"
    assert volume in spec["volumes"]  # a named volume, not a folder of the checkout


def test_compose_checks_health_and_waits_for_the_drain():
    bot = compose()["services"]["bot"]
    assert bot["healthcheck"]["test"] == ["CMD", "arb-bot", "health"]
    assert duration_s(bot["healthcheck"]["interval"]) <= 60
    assert duration_s(bot["stop_grace_period"]) >= drain_s() + 5


def test_make_image_tags_what_compose_runs():
    makefile = (ROOT / "Makefile").read_text()
    tag = re.search(r"^IMAGE\s*\?=\s*(\S+)", makefile, re.M)
    assert tag and tag.group(1) == compose()["services"]["bot"]["image"]
    assert re.search(r"^image:.*\n\t\$\(CONTAINER\) build -t \$\(IMAGE\) \.$", makefile, re.M)


# --------------------------------------------------------------------------- systemd unit


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(
        delimiters=("=",), interpolation=None, strict=True, empty_lines_in_values=False
    )
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string(UNIT.read_text())
    return parser


def test_the_unit_runs_the_checkouts_bot_as_its_own_user():
    service = unit()["Service"]
    executable, command = service["ExecStart"].split()
    checkout = Path(executable).parents[2]
    venv, bin_, script = Path(executable).relative_to(checkout).parts
    assert re.search(rf"^VENV\s*:=\s*{re.escape(venv)}$", (ROOT / "Makefile").read_text(), re.M)
    assert bin_ == "bin"  # the venv `make` installs the bot into
    assert script in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    build_parser().parse_args([command])
    assert service["User"] not in ("root", "0")
    assert service["EnvironmentFile"] == str(checkout / ".env")
    assert service["Restart"] == "on-failure"


def test_the_unit_is_hardened_and_writes_only_its_state_directory():
    service = unit()["Service"]
    for key, value in {
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes",
        "ProtectHome": "yes", "CapabilityBoundingSet": "",
    }.items():  # fmt: skip
        assert service[key] == value, key
    state = f"/var/lib/{service['StateDirectory']}"
    assert service["ReadWritePaths"].split() == [state]
    assert service["WorkingDirectory"] == state  # .env.example's relative ARB_DB lands there
    assert duration_s(service["TimeoutStopSec"]) >= drain_s() + 5
    assert service["KillSignal"] == "SIGTERM"


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze here")
def test_systemd_knows_every_key_of_the_unit(tmp_path):
    """`systemd-analyze verify` on a copy pointed at this checkout (it checks the command
    exists): an unknown or misspelt key is a warning there, a failure here."""
    script = Path(sys.executable).with_name("arb-bot")
    if not script.exists():
        pytest.skip(f"no {script}: the package is not installed in this environment")
    text = UNIT.read_text()
    text = text.replace("/opt/arb-bot/.venv/bin/arb-bot", str(script))
    text = text.replace("/opt/arb-bot/.env", str(ROOT / ".env.example"))
    copy = tmp_path / "arb-bot.service"
    copy.write_text(text)
    done = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0 and str(copy) not in done.stderr, done.stderr


# --------------------------------------------------------------------------- the image


def docker_ready() -> str | None:
    """Why the image cannot be built here, or None."""
    if os.environ.get("ARB_TEST_IMAGE") != "1":
        return "set ARB_TEST_IMAGE=1 to build the image (minutes; needs the package registries)"
    if not shutil.which("docker"):
        return "no docker client"
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "`docker info` did not answer in 20 s"
    if info.returncode != 0:
        return f"no container daemon answers `docker info`: {info.stderr.strip()[-200:]}"
    return None


def docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.timeout(1500)
def test_the_image_builds_and_runs_as_declared():
    reason = docker_ready()
    if reason:
        pytest.skip(reason)
    tag = f"arb-bot:test-{uuid.uuid4().hex[:8]}"
    built = docker("build", "-t", tag, str(ROOT), timeout=1200)
    assert built.returncode == 0, built.stderr[-3000:]
    try:
        uid = docker("run", "--rm", "--entrypoint", "id", tag, "-u")
        assert uid.returncode == 0 and uid.stdout.strip() != "0", uid
        writes = docker("run", "--rm", "--entrypoint", "python", tag, "-c",
                        f"open('{DATA_DB}', 'a').close()")  # fmt: skip
        assert writes.returncode == 0, writes.stderr
        health = docker("run", "--rm", tag, "health")
        assert health.returncode == 1, health
        assert "/data/arb.sqlite3.heartbeat" in health.stdout
        usage = docker("run", "--rm", tag, "--help")
        assert usage.returncode == 0 and "health" in usage.stdout
        config = json.loads(docker("image", "inspect", tag).stdout)[0]
        assert config["Config"]["Healthcheck"]["Test"] == ["CMD", "arb-bot", "health"]
        print(f"image {tag}: {config['Size'] / 1e6:.0f} MB")
    finally:
        docker("image", "rm", tag)
