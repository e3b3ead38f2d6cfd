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
# Stages: `base` (Python + env) -> `builder` (virtualenv with every wheel) -> `models` (downloads
# the models into HF_HOME and checks they load offline) -> `runtime` (slim, copies the venv, the
# model cache and the code). The runtime stage never reaches a model hub: HF_HUB_OFFLINE=1.

ARG PYTHON_IMAGE=python:3.12-slim
ARG TEXT_MODEL=nomic-ai/nomic-embed-text-v1.5
ARG CODE_MODEL=jinaai/jina-embeddings-v2-base-code
ARG EMBEDDING_DIMENSION=768

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
# Download through sentence-transformers itself (not a bare snapshot): with trust_remote_code the
# model code lives in other repositories (nomic-bert-2048, jina-bert-implementation), and only a
# real load caches those modules too. Encoding once imports everything the remote code needs.
RUN python - <<'PY'
import os

from sentence_transformers import SentenceTransformer

expected = int(os.environ["EMBEDDING_DIMENSION"])
for name in dict.fromkeys((os.environ["TEXT_MODEL"], os.environ["CODE_MODEL"])):
    model = SentenceTransformer(name, device="cpu", trust_remote_code=True)
    dimension = model.encode(["warm-up"]).shape[-1]
    if dimension != expected:
        raise SystemExit(
            f"{name} produces {dimension}-d vectors but EMBEDDING_DIMENSION={expected}: "
            "pass --build-arg EMBEDDING_DIMENSION to match the models"
        )
    print(f"cached {name} ({dimension}-d)")
PY
# Prove the cache is complete: load again with the hub switched off, as the runtime will.
RUN HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 python - <<'PY'
import os

from sentence_transformers import SentenceTransformer

for name in dict.fromkeys((os.environ["TEXT_MODEL"], os.environ["CODE_MODEL"])):
    SentenceTransformer(name, device="cpu", trust_remote_code=True).encode(["offline"])
    print(f"offline load ok: {name}")
PY


FROM base AS runtime
ARG TEXT_MODEL
ARG CODE_MODEL
ARG EMBEDDING_DIMENSION
LABEL org.opencontainers.image.title="MnemoLite" \
      org.opencontainers.image.description="PostgreSQL-native memory service for AI agents"

RUN groupadd --system --gid 10001 mnemolite \
 && useradd --system --uid 10001 --gid mnemolite --create-home --home-dir /home/mnemolite \
        --shell /usr/sbin/nologin mnemolite \
 && mkdir -p /data \
 && chown mnemolite:mnemolite /data

# Defaults for the settings (api/config.py); docker-compose and `docker run -e` override them.
# The model names come from the build args so the image always names the models it contains.
# DATA_DIR only matters without DATABASE_URL (the embedded PostgreSQL of a bare `docker run`).
ENV EMBEDDING_MODE=real \
    EMBEDDING_MODEL=${TEXT_MODEL} \
    CODE_EMBEDDING_MODEL=${CODE_MODEL} \
    EMBEDDING_DIMENSION=${EMBEDDING_DIMENSION} \
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

CMD ["uvicorn", "api.main:app", "--host", "0.0.0.0", "--port", "8001"]
