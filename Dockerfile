# syntax=docker/dockerfile:1.7
#
# MnemoLite image: CPU-only torch, the embedding models baked in at build time, non-root runtime.
#
#   docker build -t mnemolite .                               # nomic (text) + jina (code), 768-d
#   docker build -t mnemolite:minilm \
#     --build-arg TEXT_MODEL=sentence-transformers/all-MiniLM-L6-v2 \
#     --build-arg CODE_MODEL=sentence-transformers/all-MiniLM-L6-v2 \
#     --build-arg EMBEDDING_DIMENSION=384 .                   # small profile
#
# Both default models run code from the model hub (trust_remote_code), and that code lives in two
# more repositories (nomic-ai/nomic-bert-2048, jinaai/jina-bert-v2-qk-post-norm). Every one of the
# four is pinned to a commit below; the service's loader refuses remote code without a pin, so a
# build with an empty *_REVISION for such a model fails. A push to any of those repositories can
# then not change what the image runs. To move a pin, read the commit on the model page (Files and
# versions > History) or with
#   python -c "from huggingface_hub import HfApi; print(HfApi().model_info('REPO').sha)"
# then review the diff of the *.py files and pass --build-arg TEXT_MODEL_REVISION=... (etc.).
# Other models: pass their own revisions (empty ones are fine for a model without remote code).
#
# Stages: `base` (Python + env) -> `builder` (virtualenv with every wheel) -> `models` (downloads
# the models into HF_HOME and checks they load offline) -> `runtime` (slim, copies the venv, the
# model cache and the code). The runtime stage never reaches a model hub: HF_HUB_OFFLINE=1.

ARG PYTHON_IMAGE=python:3.12-slim
ARG TEXT_MODEL=nomic-ai/nomic-embed-text-v1.5
ARG CODE_MODEL=jinaai/jina-embeddings-v2-base-code
ARG EMBEDDING_DIMENSION=768
# nomic-embed-text-v1.5 and the nomic-bert-2048 commit its auto_map code is read from.
ARG TEXT_MODEL_REVISION=e9b6763023c676ca8431644204f50c2b100d9aab
ARG TEXT_MODEL_CODE_REVISION=7710840340a098cfb869c4f65e87cf2b1b70caca
# jina-embeddings-v2-base-code and the jina-bert-v2-qk-post-norm commit of its code.
ARG CODE_MODEL_REVISION=516f4baf13dec4ddddda8631e019b5737c8bc250
ARG CODE_MODEL_CODE_REVISION=3baf9e3ac750e76e8edd3019170176884695fb94

FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    HF_HOME=/opt/hf-cache


FROM base AS builder
# torch goes first and from the CPU index: the PyPI wheel (or an unpinned torch pulled in by
# sentence-transformers) drags in several GB of CUDA libraries. The pin is read from
# requirements.txt so there is one source of truth; the later `-r requirements.txt` then finds
# torch already satisfied (2.13.0+cpu matches ==2.13.0) and leaves it alone.
RUN python -m venv "$VIRTUAL_ENV"
RUN --mount=type=cache,target=/root/.cache/pip \
    --mount=type=bind,source=requirements.txt,target=/tmp/requirements.txt \
    pip install --upgrade pip \
 && pip install --index-url https://download.pytorch.org/whl/cpu \
        "$(grep -oE '^torch==[^[:space:]#]+' /tmp/requirements.txt)"
RUN --mount=type=cache,target=/root/.cache/pip \
    --mount=type=bind,source=requirements.txt,target=/tmp/requirements.txt \
    --mount=type=bind,source=constraints.txt,target=/tmp/constraints.txt \
    pip install -r /tmp/requirements.txt -c /tmp/constraints.txt \
 && python -c "import torch, sys; sys.exit(0 if not torch.version.cuda else 'CUDA torch was installed')"
# The nomic model's remote code imports einops; it is not a dependency of the service itself.
ARG MODEL_EXTRA_PACKAGES="einops==0.8.2"
RUN --mount=type=cache,target=/root/.cache/pip \
    if [ -n "$MODEL_EXTRA_PACKAGES" ]; then pip install $MODEL_EXTRA_PACKAGES; fi


FROM builder AS models
ARG TEXT_MODEL
ARG CODE_MODEL
ARG EMBEDDING_DIMENSION
ARG TEXT_MODEL_REVISION
ARG TEXT_MODEL_CODE_REVISION
ARG CODE_MODEL_REVISION
ARG CODE_MODEL_CODE_REVISION
# Download through the service's own loader (api/embeddings, mounted for this step only), so the
# image caches exactly the commits the runtime asks for, with the same refusal of unpinned remote
# code. A real load (not a bare snapshot) also caches the code modules of the other repositories;
# encoding once imports everything that code needs. The packaged MiniLM needs no download and
# switches the hub off for the rest of its process, so it goes last.
RUN --mount=type=bind,source=api/__init__.py,target=/tmp/loader/api/__init__.py \
    --mount=type=bind,source=api/embeddings,target=/tmp/loader/api/embeddings \
    PYTHONPATH=/tmp/loader python - <<'PY'
import os

from api.embeddings.profiles import MINILM
from api.embeddings.transformer import SentenceTransformerEncoder

expected = int(os.environ["EMBEDDING_DIMENSION"])
models = {}
for setting in ("TEXT_MODEL", "CODE_MODEL"):
    models.setdefault(os.environ[setting], setting)
for name, setting in sorted(models.items(), key=lambda item: item[0] == MINILM):
    encoder = SentenceTransformerEncoder.load(
        name,
        device="cpu",
        trust_remote_code_setting=True,
        revision=os.environ.get(f"{setting}_REVISION") or None,
        code_revision=os.environ.get(f"{setting}_CODE_REVISION") or None,
        setting=setting,
    )
    dimension = encoder.encode(["warm-up"], kind="document").shape[-1]
    if dimension != expected:
        raise SystemExit(
            f"{name} produces {dimension}-d vectors but EMBEDDING_DIMENSION={expected}: "
            "pass --build-arg EMBEDDING_DIMENSION to match the models"
        )
    print(f"cached {name} ({dimension}-d)")
PY
# Prove the cache is complete: load again with the hub switched off, as the runtime will.
RUN --mount=type=bind,source=api/__init__.py,target=/tmp/loader/api/__init__.py \
    --mount=type=bind,source=api/embeddings,target=/tmp/loader/api/embeddings \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONPATH=/tmp/loader python - <<'PY'
import os

from api.embeddings.transformer import SentenceTransformerEncoder

for setting in dict.fromkeys(("TEXT_MODEL", "CODE_MODEL")):
    name = os.environ[setting]
    SentenceTransformerEncoder.load(
        name,
        device="cpu",
        trust_remote_code_setting=True,
        revision=os.environ.get(f"{setting}_REVISION") or None,
        code_revision=os.environ.get(f"{setting}_CODE_REVISION") or None,
        setting=setting,
    ).encode(["offline"], kind="document")
    print(f"offline load ok: {name}")
PY


FROM base AS runtime
ARG TEXT_MODEL
ARG CODE_MODEL
ARG EMBEDDING_DIMENSION
ARG TEXT_MODEL_REVISION
ARG TEXT_MODEL_CODE_REVISION
ARG CODE_MODEL_REVISION
ARG CODE_MODEL_CODE_REVISION
LABEL org.opencontainers.image.title="MnemoLite" \
      org.opencontainers.image.description="PostgreSQL-native memory service for AI agents"

RUN groupadd --system --gid 10001 mnemolite \
 && useradd --system --uid 10001 --gid mnemolite --create-home --home-dir /home/mnemolite \
        --shell /usr/sbin/nologin mnemolite \
 && mkdir -p /data \
 && chown mnemolite:mnemolite /data

# Defaults for the settings (api/core/config.py); docker-compose and `docker run -e` override them.
# The model names and commits come from the build args so the image always names the models it
# contains (offline, a pinned load finds exactly the snapshot cached at build time).
# DATA_DIR only matters without DATABASE_URL (the embedded PostgreSQL of a bare `docker run`).
ENV EMBEDDING_MODE=real \
    EMBEDDING_MODEL=${TEXT_MODEL} \
    CODE_EMBEDDING_MODEL=${CODE_MODEL} \
    EMBEDDING_DIMENSION=${EMBEDDING_DIMENSION} \
    EMBEDDING_MODEL_REVISION=${TEXT_MODEL_REVISION} \
    EMBEDDING_MODEL_CODE_REVISION=${TEXT_MODEL_CODE_REVISION} \
    CODE_EMBEDDING_MODEL_REVISION=${CODE_MODEL_REVISION} \
    CODE_EMBEDDING_MODEL_CODE_REVISION=${CODE_MODEL_CODE_REVISION} \
    EMBEDDING_DEVICE=cpu \
    EMBEDDING_BATCH_SIZE=32 \
    EMBEDDING_TRUST_REMOTE_CODE=true \
    HOST=0.0.0.0 \
    PORT=8001 \
    LOG_LEVEL=info \
    LOG_FORMAT=json \
    HNSW_M=16 \
    HNSW_EF_CONSTRUCTION=64 \
    HNSW_EF_SEARCH=100 \
    DATA_DIR=/data \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_HUB_DISABLE_TELEMETRY=1 \
    PYTHONPATH=/app

COPY --from=builder /opt/venv /opt/venv
# The model cache is owned by the service user: transformers may (re)write the remote-code
# modules under HF_HOME/modules when it imports them, even offline.
COPY --from=models --chown=mnemolite:mnemolite /opt/hf-cache /opt/hf-cache

WORKDIR /app
# Application code stays root-owned (read-only to the service user): a compromised process
# cannot rewrite the code it runs.
COPY --chown=root:root alembic.ini ./
COPY --chown=root:root alembic/ ./alembic/
COPY --chown=root:root api/ ./api/
COPY --chown=root:root workers/ ./workers/
# The operations commands (backup, restore, export, import, model switch): docker compose exec.
COPY --chown=root:root scripts/ ./scripts/
COPY --chown=root:root templates/ ./templates/
COPY --chown=root:root static/ ./static/

USER mnemolite
EXPOSE 8001

# slim has no curl: ask /readiness with the standard library. urlopen raises on a 503, so the
# exit status is 1 until the pool, the models and the schema check are all ready.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8001/readiness', timeout=4).status == 200 else 1)"]

# --no-proxy-headers: the app believes X-Forwarded-* from TRUSTED_PROXIES itself, not uvicorn.
CMD ["uvicorn", "api.main:app", "--host", "0.0.0.0", "--port", "8001", "--no-proxy-headers"]
