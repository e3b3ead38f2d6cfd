"""Static checks of the Dockerfile, .dockerignore, compose files and db/init (no Docker needed).

There is no Docker engine on the development machines or in CI, so what a build or a
`docker compose up` would reveal is checked here by parsing the files instead.
"""

import hashlib
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from api.core.config import Settings

ROOT = Path(__file__).resolve().parents[2]

# Variables the images and the libraries read that are not MnemoLite settings.
NON_SETTING_ENV = re.compile(
    r"^(HF_\w+|TRANSFORMERS_\w+|PYTHON\w*|PIP_\w+|PATH|VIRTUAL_ENV|POSTGRES_\w+)$"
)


# Build args pinning the models (and the repositories their remote code comes from) to commits,
# and the settings the runtime reads them from.
MODEL_PINS = {
    "TEXT_MODEL_REVISION": "EMBEDDING_MODEL_REVISION",
    "TEXT_MODEL_CODE_REVISION": "EMBEDDING_MODEL_CODE_REVISION",
    "CODE_MODEL_REVISION": "CODE_EMBEDDING_MODEL_REVISION",
    "CODE_MODEL_CODE_REVISION": "CODE_EMBEDDING_MODEL_CODE_REVISION",
}
COMMIT = re.compile(r"[0-9a-f]{40}")


# --- Dockerfile ---------------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    args: str
    heredocs: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join([self.args, *self.heredocs])


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[Instruction]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


@dataclass
class Dockerfile:
    global_args: dict[str, str]
    stages: list[Stage]
    first_line: str

    def stage(self, name: str) -> Stage | None:
        return next((s for s in self.stages if s.name == name), None)

    def chain(self, stage: Stage) -> list[Stage]:
        """The stage and the stages it is built FROM, root first."""
        parent = self.stage(stage.base)
        return [*self.chain(parent), stage] if parent else [stage]

    def root_image(self, stage: Stage) -> str:
        return self.chain(stage)[0].base

    def env(self, stage: Stage, upto: Instruction | None = None) -> dict[str, str]:
        """ENV in effect in `stage` (inherited from parent stages), before `upto` if given."""
        env: dict[str, str] = {}
        for current in self.chain(stage):
            for instruction in current.instructions:
                if instruction is upto:
                    return env
                if instruction.keyword == "ENV":
                    env.update(_key_values(instruction.args))
        return env

    def user(self, stage: Stage) -> str | None:
        users = [i.args.strip() for s in self.chain(stage) for i in s.all("USER")]
        return users[-1] if users else None


def _key_values(args: str) -> dict[str, str]:
    return dict(token.split("=", 1) for token in shlex.split(args) if "=" in token)


def _arg_names(stage: Stage) -> set[str]:
    return {word.split("=", 1)[0] for i in stage.all("ARG") for word in shlex.split(i.args)}


def parse_dockerfile(path: Path) -> Dockerfile:
    lines = path.read_text().splitlines()
    instructions: list[Instruction] = []
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        index += 1
        if not line or line.startswith("#"):
            continue
        parts = [line]
        while parts[-1].endswith("\\") and index < len(lines):
            parts[-1] = parts[-1][:-1]
            following = lines[index].strip()
            index += 1
            if not following.startswith("#"):
                parts.append(following)
        joined = " ".join(part.strip() for part in parts)
        keyword, _, args = joined.partition(" ")
        instruction = Instruction(keyword.upper(), args.strip())
        for match in re.finditer(r"<<-?\s*([\"']?)([A-Za-z_]\w*)\1", instruction.args):
            body: list[str] = []
            while index < len(lines) and lines[index].strip() != match.group(2):
                body.append(lines[index])
                index += 1
            index += 1
            instruction.heredocs.append("\n".join(body))
        instructions.append(instruction)

    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            words = [w for w in instruction.args.split() if not w.startswith("--")]
            named = len(words) == 3 and words[1].upper() == "AS"
            base = re.sub(
                r"\$\{?(\w+)\}?", lambda m: global_args.get(m.group(1), m.group(0)), words[0]
            )
            stages.append(Stage(words[2] if named else str(len(stages)), base, []))
        elif not stages and instruction.keyword == "ARG":
            global_args.update(_key_values(instruction.args))
        elif stages:
            stages[-1].instructions.append(instruction)
    return Dockerfile(global_args, stages, lines[0] if lines else "")


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return parse_dockerfile(ROOT / "Dockerfile")


@pytest.fixture(scope="module")
def runtime(dockerfile: Dockerfile) -> Stage:
    return dockerfile.stages[-1]


def _flags(instruction: Instruction) -> dict[str, str]:
    """The leading `--name=value` options of an instruction."""
    flags = {}
    for word in instruction.args.split():
        if not word.startswith("--"):
            break
        name, _, value = word[2:].partition("=")
        flags[name] = value
    return flags


def _copy_sources(instruction: Instruction) -> list[str]:
    words = [w for w in shlex.split(instruction.args) if not w.startswith("--")]
    return words[:-1]


def _download_runs(dockerfile: Dockerfile) -> list[tuple[Stage, Instruction]]:
    return [
        (stage, run)
        for stage in dockerfile.stages
        for run in stage.all("RUN")
        if re.search(r"SentenceTransformer(Encoder\.load)?\(", run.text)
        and "TEXT_MODEL" in run.text
    ]


def test_both_python_stages_use_the_same_slim_312_image(dockerfile: Dockerfile) -> None:
    builder = dockerfile.stage("builder")
    assert builder is not None, "a `builder` stage builds the virtualenv"
    runtime_image = dockerfile.root_image(dockerfile.stages[-1])
    assert runtime_image.startswith("python:3.12-slim"), runtime_image
    # The venv's interpreter symlinks only work in an image with the same Python.
    assert dockerfile.root_image(builder) == runtime_image


def test_buildkit_syntax_and_cache_mounts_for_every_pip_install(dockerfile: Dockerfile) -> None:
    assert dockerfile.first_line.startswith("# syntax=docker/dockerfile:1")
    pip_runs = [r for s in dockerfile.stages for r in s.all("RUN") if "pip install" in r.text]
    assert pip_runs
    for run in pip_runs:
        assert "--mount=type=cache" in run.args, run.args


def test_torch_is_installed_first_from_the_cpu_index(dockerfile: Dockerfile) -> None:
    requirements = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert re.fullmatch(r"torch==[\d.]+", requirements[0]), requirements[0]
    builder = dockerfile.stage("builder")
    assert builder is not None
    runs = builder.all("RUN")
    torch_runs = [i for i, r in enumerate(runs) if "download.pytorch.org/whl/cpu" in r.args]
    requirement_runs = [i for i, r in enumerate(runs) if re.search(r"-r \S*requirements", r.args)]
    assert torch_runs and requirement_runs
    assert max(torch_runs) < min(requirement_runs), "torch must be in place before the rest"
    torch_run = runs[torch_runs[0]].args
    assert "--index-url https://download.pytorch.org/whl/cpu" in torch_run
    assert "--extra-index-url" not in torch_run
    assert "torch==" in torch_run, "the torch install is pinned (here read from requirements.txt)"


def test_models_are_downloaded_at_build_time(dockerfile: Dockerfile) -> None:
    assert dockerfile.global_args["TEXT_MODEL"] == "nomic-ai/nomic-embed-text-v1.5"
    assert dockerfile.global_args["CODE_MODEL"] == "jinaai/jina-embeddings-v2-base-code"
    assert dockerfile.global_args["EMBEDDING_DIMENSION"] == "768"
    downloads = [
        (stage, run)
        for stage, run in _download_runs(dockerfile)
        if dockerfile.env(stage, upto=run).get("HF_HUB_OFFLINE") != "1"
        and "HF_HUB_OFFLINE=1" not in run.args
    ]
    assert downloads, "a build step must fetch the models with the hub reachable"
    for stage, run in downloads:
        assert stage is not dockerfile.stages[-1], "download in a build stage, not the runtime"
        declared = _arg_names(stage)
        # A global ARG is invisible inside a stage unless declared there again.
        assert {"TEXT_MODEL", "CODE_MODEL", "EMBEDDING_DIMENSION", *MODEL_PINS} <= declared, (
            declared
        )
        assert "trust_remote_code_setting=True" in run.text


def test_remote_model_code_is_pinned_to_commits(dockerfile: Dockerfile) -> None:
    for build_arg in MODEL_PINS:
        assert COMMIT.fullmatch(dockerfile.global_args.get(build_arg, "")), build_arg
    runs = [r for s in dockerfile.stages for r in s.all("RUN") if "SentenceTransformer" in r.text]
    assert len(runs) >= 2, "a download step and an offline check"
    for run in runs:
        # Through the service's own loader, which refuses remote code without a commit.
        assert "SentenceTransformerEncoder.load(" in run.text, run.text
        assert not re.search(r"SentenceTransformer\(", run.text), "a bare load skips the pin"
        assert re.search(r"revision=os\.environ\.get\(f\"\{setting\}_REVISION\"\)", run.text)
        assert re.search(
            r"code_revision=os\.environ\.get\(f\"\{setting\}_CODE_REVISION\"\)", run.text
        )
        mounts = set(re.findall(r"--mount=type=bind,source=([^,\s]+)", run.args))
        assert {"api/__init__.py", "api/embeddings"} <= mounts, mounts


def test_env_example_shows_the_images_pins(dockerfile: Dockerfile) -> None:
    example = (ROOT / ".env.example").read_text()
    for build_arg, setting in MODEL_PINS.items():
        assert f"# {setting}={dockerfile.global_args[build_arg]}" in example, setting


def test_runtime_uses_the_baked_cache_offline(dockerfile: Dockerfile, runtime: Stage) -> None:
    env = dockerfile.env(runtime)
    assert env.get("HF_HUB_OFFLINE") == "1"
    download_stage, download_run = _download_runs(dockerfile)[0]
    cache = dockerfile.env(download_stage, upto=download_run).get("HF_HOME")
    assert cache and env.get("HF_HOME") == cache, (cache, env.get("HF_HOME"))
    copies = [
        c
        for c in runtime.all("COPY")
        if _flags(c).get("from") in {s.name for s in dockerfile.stages if s is not runtime}
        and cache in _copy_sources(c)
    ]
    assert copies, f"the runtime stage copies {cache} from the stage that filled it"
    source = dockerfile.stage(_flags(copies[0])["from"])
    assert source is not None and download_stage in dockerfile.chain(source)
    assert env.get("EMBEDDING_MODEL") == "${TEXT_MODEL}"
    assert env.get("CODE_EMBEDDING_MODEL") == "${CODE_MODEL}"
    assert env.get("EMBEDDING_DIMENSION") == "${EMBEDDING_DIMENSION}"
    declared = _arg_names(runtime)
    assert {"TEXT_MODEL", "CODE_MODEL", "EMBEDDING_DIMENSION", *MODEL_PINS} <= declared
    for build_arg, setting in MODEL_PINS.items():
        assert env.get(setting) == f"${{{build_arg}}}", (setting, env.get(setting))


def test_runtime_env_names_real_settings(dockerfile: Dockerfile, runtime: Stage) -> None:
    settings = {name.upper() for name in Settings.model_fields}
    env = dockerfile.env(runtime)
    unknown = {k for k in env if k not in settings and not NON_SETTING_ENV.match(k)}
    assert not unknown, f"not settings in api/core/config.py: {sorted(unknown)}"
    for name in ("EMBEDDING_MODE", "EMBEDDING_DEVICE", "HNSW_M", "HNSW_EF_SEARCH", "LOG_FORMAT"):
        assert name in env


def test_runtime_runs_as_a_non_root_user(dockerfile: Dockerfile, runtime: Stage) -> None:
    user = dockerfile.user(runtime)
    assert user, "no USER: the container would run as root"
    name = user.split(":")[0]
    assert name not in {"root", "0"}
    assert any(re.search(rf"useradd\b.*\b{name}\b", r.args) for r in runtime.all("RUN"))
    assert runtime.instructions.index(runtime.all("USER")[-1]) > max(
        runtime.instructions.index(i) for i in runtime.all("RUN")
    ), "USER comes after the last RUN that needs root"


def test_runtime_copies_set_ownership(runtime: Stage) -> None:
    copies = runtime.all("COPY")
    assert copies
    local = [c for c in copies if "from" not in _flags(c)]
    assert local and all("chown" in _flags(c) for c in local), [c.args for c in local]
    assert any(_flags(c).get("chown", "").startswith("mnemolite") for c in copies)


def test_healthcheck_asks_readiness_with_python(runtime: Stage) -> None:
    checks = runtime.all("HEALTHCHECK")
    assert checks and "NONE" not in checks[-1].args.upper()
    assert "/readiness" in checks[-1].args
    assert "python" in checks[-1].args
    assert not re.search(r"\b(curl|wget)\b", checks[-1].args), "python:3.12-slim has no curl"


def test_cmd_serves_the_app_with_uvicorn(runtime: Stage) -> None:
    cmd = json.loads(runtime.all("CMD")[-1].args)
    assert cmd[:2] == ["uvicorn", "api.main:app"]
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0"
    assert cmd[cmd.index("--port") + 1] == "8001"


# --- .dockerignore ------------------------------------------------------------------------------


def _ignore_patterns(text: str) -> list[tuple[bool, re.Pattern[str]]]:
    patterns = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex, i = "", 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            elif pattern[i] == "[" and "]" in pattern[i:]:
                end = pattern.index("]", i)
                regex, i = regex + "[" + pattern[i + 1 : end].replace("!", "^", 1) + "]", end + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        patterns.append((negate, re.compile(regex + r"\Z")))
    return patterns


def _dockerignored(path: str, patterns: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Docker's rule: the last matching pattern wins; a match on a parent directory counts."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    excluded = False
    for negate, regex in patterns:
        if any(regex.match(prefix) for prefix in prefixes):
            excluded = not negate
    return excluded


@pytest.fixture(scope="module")
def ignore() -> list[tuple[bool, re.Pattern[str]]]:
    return _ignore_patterns((ROOT / ".dockerignore").read_text())


def test_dockerignore_matcher_follows_docker_rules() -> None:
    patterns = _ignore_patterns("*.log\n!keep.log\n**/__pycache__\n.data\n")
    assert _dockerignored("debug.log", patterns)
    assert not _dockerignored("keep.log", patterns)
    assert not _dockerignored("logs/debug.log", patterns)
    assert _dockerignored("api/x/__pycache__/m.pyc", patterns)
    assert _dockerignored(".data/pg/PG_VERSION", patterns)
    assert not _dockerignored("api/data.py", patterns)


@pytest.mark.parametrize(
    "path",
    [
        ".git/HEAD",
        ".data/postgres/PG_VERSION",
        ".env",
        ".venv/bin/python",
        "api/memory/events/__pycache__",
        ".pytest_cache/README.md",
        ".mypy_cache/3.11/api.json",
        ".ruff_cache/CACHEDIR.TAG",
        "logs/api.log",
        "test-output/junit.xml",
    ],
)
def test_dockerignore_excludes(path: str, ignore: list[tuple[bool, re.Pattern[str]]]) -> None:
    assert _dockerignored(path, ignore)


def test_build_inputs_exist_and_reach_the_context(
    dockerfile: Dockerfile, ignore: list[tuple[bool, re.Pattern[str]]]
) -> None:
    sources = {
        source.rstrip("/")
        for stage in dockerfile.stages
        for copy in stage.all("COPY")
        if "from" not in _flags(copy)
        for source in _copy_sources(copy)
    }
    sources |= {
        m.group(1)
        for stage in dockerfile.stages
        for run in stage.all("RUN")
        for m in re.finditer(r"--mount=type=bind,source=([^,\s]+)", run.args)
    }
    assert {"api", "alembic", "alembic.ini", "requirements.txt"} <= sources
    problems = []
    for source in sorted(sources):
        path = ROOT / source
        if _dockerignored(source, ignore):
            problems.append(f"{source}: excluded by .dockerignore")
        elif not path.exists() or (path.is_dir() and not any(p.is_file() for p in path.rglob("*"))):
            problems.append(f"{source}: missing or holds no file (COPY would fail)")
    assert not problems, problems


# --- docker compose -----------------------------------------------------------------------------


@dataclass
class Reset:
    """Compose's `!reset` tag: drop what the files before this one set."""

    value: Any


class ComposeLoader(yaml.SafeLoader):
    pass


def _construct_tagged(loader: yaml.SafeLoader, node: yaml.Node) -> Reset:
    if isinstance(node, yaml.SequenceNode):
        return Reset(loader.construct_sequence(node, deep=True))
    if isinstance(node, yaml.MappingNode):
        return Reset(loader.construct_mapping(node, deep=True))
    return Reset(loader.construct_scalar(node))


ComposeLoader.add_constructor("!reset", _construct_tagged)


def _load(name: str) -> dict[str, Any]:
    return yaml.load((ROOT / name).read_text(), Loader=ComposeLoader)


def _defaults(value: str) -> str:
    """Interpolate as Compose would with none of the variables set."""
    return re.sub(r"\$\{\w+(?::?[-?]([^}]*))?\}", lambda m: m.group(1) or "", str(value))


def _command(service: dict[str, Any]) -> str:
    command = service["command"]
    return command if isinstance(command, str) else " ".join(map(str, command))


def _networks(service: dict[str, Any]) -> set[str]:
    return set(service.get("networks", {"default": None}))


def _volume_sources(service: dict[str, Any]) -> list[str]:
    volumes = service.get("volumes", [])
    volumes = volumes.value if isinstance(volumes, Reset) else volumes
    return [v["source"] if isinstance(v, dict) else str(v).split(":")[0] for v in volumes]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _load("docker-compose.yml")


@pytest.fixture(scope="module")
def prod() -> dict[str, Any]:
    return _load("docker-compose.prod.yml")


def test_compose_has_the_three_services(compose: dict[str, Any]) -> None:
    assert {"db", "api", "worker"} <= set(compose["services"])
    assert compose["services"]["db"]["build"]["context"] == "./db"
    assert _command(compose["services"]["worker"]) == "python -m workers"


# Each database server mounts a data volume of its own, and nothing else mounts one.
DATA_VOLUMES = {"db": "pgdata", "db-standby": "pgdata-standby"}


def test_only_db_mounts_the_database_volume(compose: dict[str, Any]) -> None:
    named = set(compose.get("volumes") or {})
    for name, volume in DATA_VOLUMES.items():
        service = compose["services"][name]
        # PostgreSQL 18 images keep their data there.
        assert _volume_sources(service).count(volume) == 1, name
        assert f"{volume}:/var/lib/postgresql" in service["volumes"], name
        assert not named & set(_volume_sources(service)) - {volume}, name
    for name, service in compose["services"].items():
        if name in DATA_VOLUMES:
            continue
        assert "volumes_from" not in service
        assert not named & set(_volume_sources(service)), f"{name} mounts a named volume"
        for volume in service.get("volumes", []):
            assert str(volume).endswith(":ro"), f"{name}: bind mounts are read-only: {volume}"


def test_backend_network_is_internal(compose: dict[str, Any]) -> None:
    assert compose["networks"]["backend"]["internal"] is True
    assert not (compose["networks"].get("frontend") or {}).get("internal")


def test_db_and_worker_live_on_the_backend_only(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert _networks(services["db"]) == {"backend"}
    assert _networks(services["worker"]) == {"backend"}
    assert _networks(services["api"]) == {"backend", "frontend"}
    for name in ("db", "worker"):
        assert "ports" not in services[name] and "network_mode" not in services[name]


def test_api_port_is_bound_to_loopback(compose: dict[str, Any]) -> None:
    ports = compose["services"]["api"]["ports"]
    assert ports
    for port in ports:
        if isinstance(port, dict):
            assert port.get("host_ip") == "127.0.0.1", port
        else:
            assert _defaults(port).startswith("127.0.0.1:"), port
    assert any(_defaults(str(p)).endswith(":8001") for p in ports)


def test_db_has_a_real_healthcheck(compose: dict[str, Any]) -> None:
    check = compose["services"]["db"]["healthcheck"]
    assert not check.get("disable")
    assert "pg_isready" in " ".join(check["test"])


def test_app_services_wait_for_a_healthy_db(compose: dict[str, Any]) -> None:
    for name in ("api", "worker"):
        depends = compose["services"][name]["depends_on"]
        assert isinstance(depends, dict), f"{name}: the list form does not wait for health"
        assert depends["db"]["condition"] == "service_healthy"


def test_api_migrates_before_serving(compose: dict[str, Any]) -> None:
    command = _command(compose["services"]["api"])
    assert re.search(r"alembic upgrade head\s*&&.*uvicorn api\.main:app", command), command
    assert "--port 8001" in command


def test_services_have_resource_limits(compose: dict[str, Any]) -> None:
    for name in ("db", "api", "worker"):
        limits = compose["services"][name]["deploy"]["resources"]["limits"]
        assert limits.get("memory"), name


def test_credentials_come_from_the_environment(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert re.fullmatch(
        r"\$\{POSTGRES_PASSWORD:[-?].*\}", services["db"]["environment"]["POSTGRES_PASSWORD"]
    )
    for name in ("api", "worker"):
        url = services[name]["environment"]["DATABASE_URL"]
        assert "${POSTGRES_PASSWORD" in url and "@db:5432/" in url


def test_app_environment_names_real_settings(compose: dict[str, Any]) -> None:
    settings = {name.upper() for name in Settings.model_fields}
    for name in ("api", "worker"):
        unknown = set(compose["services"][name]["environment"]) - settings
        assert not unknown, f"{name}: not settings in api/core/config.py: {sorted(unknown)}"


def test_security_settings_reach_the_app_containers(
    compose: dict[str, Any], prod: dict[str, Any]
) -> None:
    for name in ("api", "worker"):
        environment = compose["services"][name]["environment"]
        for setting in ("API_KEY", "ALLOWED_HOSTS", "TRUSTED_PROXIES"):
            # Passed through from the shell or .env; empty means the setting's default.
            assert environment.get(setting) == f"${{{setting}:-}}", (name, setting)
        # Production refuses to start without a key.
        assert re.fullmatch(
            r"\$\{API_KEY:\?[^}]+\}", prod["services"][name]["environment"]["API_KEY"]
        )
    # Never a key written into the files themselves: always the operator's variable.
    for service in [*compose["services"].values(), *prod["services"].values()]:
        value = (service.get("environment") or {}).get("API_KEY")
        assert value is None or str(value).startswith("${API_KEY:"), value


def test_db_init_is_mounted_read_only(compose: dict[str, Any]) -> None:
    assert "./db/init:/docker-entrypoint-initdb.d:ro" in compose["services"]["db"]["volumes"]


def test_prod_drops_bind_mounts_and_reload(prod: dict[str, Any]) -> None:
    for name in ("api", "worker"):
        volumes = prod["services"][name].get("volumes")
        assert isinstance(volumes, Reset) and volumes.value == [], f"{name} keeps the dev mounts"
    command = _command(prod["services"]["api"])
    assert "--reload" not in command
    assert re.search(r"alembic upgrade head\s*&&.*uvicorn api\.main:app", command), command
    workers = re.search(r"--workers\s+(\S+)", command)
    assert workers and int(_defaults(workers.group(1))) >= 2, command


def test_prod_restarts_and_logs_json(compose: dict[str, Any], prod: dict[str, Any]) -> None:
    for name in compose["services"]:
        assert prod["services"][name]["restart"] == "unless-stopped", name
    for name in ("api", "worker"):
        assert prod["services"][name]["environment"]["LOG_FORMAT"] == "json"
    assert "POSTGRES_PASSWORD:?" in prod["services"]["db"]["environment"]["POSTGRES_PASSWORD"]


# --- db/Dockerfile: pgvector's image plus pg_textsearch (BM25) -----------------------------------


@pytest.fixture(scope="module")
def db_dockerfile() -> Dockerfile:
    return parse_dockerfile(ROOT / "db" / "Dockerfile")


def test_db_image_is_pgvector_pg18_with_pg_textsearch_built_from_its_tarball(
    db_dockerfile: Dockerfile, compose: dict[str, Any]
) -> None:
    assert db_dockerfile.first_line.startswith("# syntax=docker/dockerfile:1")
    assert db_dockerfile.global_args["POSTGRES_IMAGE"] == "pgvector/pgvector:pg18"
    assert [stage.base for stage in db_dockerfile.stages] == ["pgvector/pgvector:pg18"] * 2
    build, runtime = db_dockerfile.stages
    compile_run = next(run for run in build.all("RUN") if "make -C /src" in run.text)
    # The tarball comes from the named context compose passes, checked against its digest.
    assert "from=pg_textsearch" in compile_run.args and "sha256sum -c" in compile_run.args
    assert re.fullmatch(r"[0-9a-f]{64}", db_dockerfile.global_args["PG_TEXTSEARCH_SHA256"])
    assert "pg_textsearch-${PG_TEXTSEARCH_VERSION}.tar.gz" in compile_run.args
    assert db_dockerfile.global_args["PG_TEXTSEARCH_VERSION"] == "1.4.0"
    assert [_flags(copy).get("from") for copy in runtime.all("COPY")] == ["build"]
    assert any(
        "shared_preload_libraries = 'pg_textsearch'" in run.text for run in runtime.all("RUN")
    )
    contexts = compose["services"]["db"]["build"]["additional_contexts"]
    assert _defaults(contexts["pg_textsearch"]) == "../shared/vendor"
    tarball = ROOT / "../shared/vendor/pg_textsearch-1.4.0.tar.gz"
    if tarball.is_file():  # the copy `make install` builds from is the one the image accepts
        digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
        assert digest == db_dockerfile.global_args["PG_TEXTSEARCH_SHA256"]


def test_db_preloads_pg_textsearch_on_every_start(compose: dict[str, Any]) -> None:
    command = _defaults(_command(compose["services"]["db"]))
    assert "-c shared_preload_libraries=pg_textsearch" in command
    assert "-c pg_textsearch.memory_limit=256MB" in command


# --- db/init ------------------------------------------------------------------------------------


def test_db_init_only_creates_extensions() -> None:
    scripts = sorted((ROOT / "db" / "init").glob("*.sql"))
    assert scripts
    sql = "\n".join(re.sub(r"--[^\n]*", "", s.read_text()) for s in scripts)
    assert not re.search(r"\bCREATE\s+TABLE\b", sql, re.IGNORECASE), "Alembic owns the schema"
    statements = [s.strip() for s in sql.split(";") if s.strip()]
    for statement in statements:
        assert re.fullmatch(r"CREATE EXTENSION IF NOT EXISTS \w+", statement, re.IGNORECASE), (
            statement
        )
    assert {s.split()[-1].lower() for s in statements} == {"vector", "pg_trgm"}


def test_index_jobs_run_in_the_worker_service_only(compose: dict[str, Any]) -> None:
    api = compose["services"]["api"]["environment"]
    assert str(api["INDEX_WORKER_IN_PROCESS"]).lower() == "false"
    assert compose["services"]["worker"]["command"] == ["python", "-m", "workers"]


def test_the_replica_profile_runs_a_hot_standby_of_db(compose: dict[str, Any]) -> None:
    services = compose["services"]
    standby = services["db-standby"]
    assert standby["profiles"] == ["replica"], "started only with --profile replica"
    assert standby["image"] == services["db"]["image"], "the same server, BM25 included"
    assert standby["depends_on"]["db"]["condition"] == "service_healthy"
    assert _networks(standby) == {"backend"} and "ports" not in standby
    script = " ".join(standby["entrypoint"])
    assert re.search(r"pg_basebackup -h db .*-R -X stream", script), "a streaming standby of db"
    assert 'if [ ! -s "$$PGDATA/PG_VERSION" ]' in script, "cloned only into an empty volume"
    assert "hot_standby_feedback=on" in script
    assert "shared_preload_libraries=pg_textsearch" in script
    assert standby["environment"]["PGPASSWORD"].startswith("${POSTGRES_PASSWORD:-")
    assert "pg_isready" in " ".join(standby["healthcheck"]["test"])
    assert standby["deploy"]["resources"]["limits"].get("memory")
    # The api passes READ_DATABASE_URL through; db admits replication from the network.
    assert services["api"]["environment"]["READ_DATABASE_URL"] == "${READ_DATABASE_URL:-}"
    init = (ROOT / "db" / "init" / "02-replication.sh").read_text()
    assert 'echo "host replication all all scram-sha-256" >> "$PGDATA/pg_hba.conf"' in init
