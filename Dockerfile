# jeeves serve in a container: the API, the inbox page and the webhook dispatcher.
#   docker build -t jeeves-control-tower .
#   docker run -p 8080:8080 -v jeeves-data:/data jeeves-control-tower      # SQLite in /data
#   docker run -p 8080:8080 -e JEEVES_DATABASE_URL=postgresql://... jeeves-control-tower
# The first start on an empty database prints an admin token once (docker logs).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m venv /opt/jeeves && /opt/jeeves/bin/pip install --no-cache-dir .

FROM python:3.11-slim
COPY --from=build /opt/jeeves /opt/jeeves
RUN useradd --system --create-home --home-dir /data --uid 10001 jeeves
USER jeeves
WORKDIR /data
VOLUME /data
ENV PATH=/opt/jeeves/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    JEEVES_HOST=0.0.0.0 \
    JEEVES_PORT=8080 \
    JEEVES_DATABASE_URL=/data/jeeves.db
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('JEEVES_PORT', '8080'), timeout=2)"]
# SIGTERM (docker stop) closes event streams and long polls at once, then exits.
STOPSIGNAL SIGTERM
CMD ["jeeves", "serve"]
