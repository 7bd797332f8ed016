# syntax=docker/dockerfile:1
# Karmo Admin: gunicorn web processes or a task worker (same image, different command).
# Stages: front-end packages (npm), Python packages + collected static files (uv), runtime.

FROM node:20-bookworm-slim AS assets
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM python:3.12-slim-bookworm AS build
ENV UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/venv
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
COPY pyproject.toml uv.lock .python-version ./
# Runtime packages only: no test or lint tools in the image.
RUN uv sync --frozen --no-dev --no-install-project
COPY . .
COPY --from=assets /src/node_modules/htmx.org/dist node_modules/htmx.org/dist
# Hashed, compressed static files are part of the image; whitenoise serves them.
RUN DJANGO_SECRET_KEY=build-only KARMO_STATIC_MANIFEST=true KARMO_DATA_DIR=/tmp \
    /opt/venv/bin/python manage.py collectstatic --noinput --verbosity 0 \
 && rm -rf node_modules

FROM python:3.12-slim-bookworm AS runtime
RUN groupadd --system --gid 10001 karmo \
 && useradd --system --uid 10001 --gid karmo --home-dir /app --shell /usr/sbin/nologin karmo \
 && install -d -o karmo -g karmo /var/lib/karmo
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
# glibc's heap: two arenas, not one per thread (a sync runs a dozen reader threads), and a
# fixed mmap threshold so each page's megabyte buffers go back to the system when freed;
# otherwise a worker's resident memory grows with the size of the dataset it syncs.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    KARMO_STATIC_MANIFEST=true \
    KARMO_DATA_DIR=/var/lib/karmo \
    KARMO_BIND=0.0.0.0:8000 \
    KARMO_LOG_FORMAT=json \
    PROMETHEUS_MULTIPROC_DIR=/tmp/karmo-metrics \
    MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=131072
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["gunicorn", "-c", "python:karmo_admin.gunicorn_conf", "karmo_admin.wsgi"]
