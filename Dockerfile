# The bot in long-polling mode; `docker run … python -m bot webhook` for webhook mode.
# Not built on the development machines (no Docker engine there): tests/test_docker.py starts
# the bot from exactly the files copied below, but the image itself is unverified.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    DATABASE_PATH=/data/bot.sqlite3

WORKDIR /app
# The dependencies alone first (read from pyproject.toml), so a code change reuses the layer.
# The code runs from /app (PYTHONPATH), where locales/ sits beside bot/.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
    && pip install --no-cache-dir -r requirements.txt \
    && useradd --create-home --uid 10001 bot \
    && mkdir /data \
    && chown bot /data
COPY bot ./bot
COPY storage ./storage
COPY locales ./locales

USER bot
# The SQLite file (and its WAL) must outlive the container: mount a volume here.
VOLUME ["/data"]
# Webhook mode listens on PORT (8443 unless set).
EXPOSE 8443
# The bot stops cleanly on SIGTERM (docker stop): pending pushes stay in the outbox.
CMD ["python", "-m", "bot"]
