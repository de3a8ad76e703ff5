# The production image. web (gunicorn), worker and beat (Celery) all run it;
# see docker-compose.yml for the commands and the environment.
FROM python:3.11-slim-bookworm

# The project runs from /app rather than from site-packages (PYTHONPATH), so
# that settings find templates/, static/ and var/ beside the seatmgr package.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=seatmgr.settings \
    PYTHONPATH=/app

# WeasyPrint's run-time libraries: the same list as WEASYPRINT_DEBS in scripts/lib.sh.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libglib2.0-0 \
        libpango-1.0-0 \
        libpangoft2-1.0-0 \
        libharfbuzz0b \
        libharfbuzz-subset0 \
        libfontconfig1 \
        fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

# A home directory of its own gives Fontconfig somewhere to keep its cache.
RUN groupadd --system app \
    && useradd --system --gid app --create-home --home-dir /home/app \
        --shell /usr/sbin/nologin app

WORKDIR /app
# Dependencies first, from the lock file alone (every package pinned, with the hashes
# of its files: two builds a week apart install the same bytes): this layer is rebuilt
# only when the lock changes, not on every code change. Then the project, without
# resolving anything again.
COPY requirements/base.txt /app/requirements/base.txt
RUN pip install --require-hashes -r /app/requirements/base.txt
COPY . /app
RUN pip install --no-deps /app

# Static files are collected into the image so that every service has the
# manifest (the worker renders emails and PDFs too); the web service collects
# again at start, which is then a no-op. The settings refuse DEBUG=0 without
# their secrets and servers: these values exist only for this step, and nothing
# is contacted (the encryption key is a well-formed all-zero one, used for nothing).
# var/media is the uploads volume.
RUN DEBUG=0 SECRET_KEY=collectstatic-at-build-time FIELD_ENCRYPTION_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
        REDIS_URL=redis://build.invalid:6379/0 EMAIL_HOST=build.invalid \
        python manage.py collectstatic --noinput \
    && mkdir -p /app/var/media \
    && chown -R app:app /app/var

USER app
EXPOSE 8000
CMD ["gunicorn", "seatmgr.wsgi:application", "--bind", "0.0.0.0:8000", \
     "--worker-class", "sync", "--no-control-socket"]
