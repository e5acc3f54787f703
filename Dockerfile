# arb-bot as a container image: `make image`, then `docker compose up -d` (compose.yaml).
#
# Nothing secret is in the image: the configuration comes from the environment at run
# time (compose's env_file: .env, or `docker run --env-file .env`). The bot runs as the
# unprivileged user `arb`; its one writable place is the volume /data (the database and
# its heartbeat). Every dependency installs from a wheel: no compiler in either stage.

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: a virtualenv with the dependencies pyproject.toml declares, then the app
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python -m venv /opt/venv
WORKDIR /src
# The dependencies alone first, so a change to the code rebuilds only the last layers.
COPY pyproject.toml ./
RUN python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" > requirements.txt \
    && /opt/venv/bin/pip install --only-binary=:all: -r requirements.txt
COPY README.md ./
COPY arb ./arb
COPY storage ./storage
COPY bot ./bot
# The app without its dependencies (installed above), then the installer itself goes:
# the running image never installs anything.
RUN /opt/venv/bin/pip install --no-deps . \
    && /opt/venv/bin/pip uninstall --yes pip setuptools

# --- run
FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ARB_DB=/data/arb.sqlite3
RUN useradd --system --user-group --uid 10001 --create-home --home-dir /home/arb \
        --shell /usr/sbin/nologin arb \
    && mkdir /data \
    && chown arb:arb /data
COPY --from=build /opt/venv /opt/venv
USER arb
# A relative ARB_DB from an env file (.env.example's arb.sqlite3) lands on the volume too.
WORKDIR /data
# matplotlib's font cache, built once here rather than at the first /chart.
RUN python -c "import matplotlib.font_manager"
VOLUME ["/data"]
# Healthy while the bot is connected and taking updates, its event loop turning: it
# touches /data/arb.sqlite3.heartbeat every 10 s (`arb-bot health`, bot/heartbeat.py).
# The start period covers the connection to Telegram (it retries while unreachable).
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["arb-bot", "health"]
ENTRYPOINT ["arb-bot"]
CMD ["run"]
