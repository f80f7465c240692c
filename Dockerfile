# The Retainful service as an image: the wheel installed into a virtualenv, run as a non-root user.
# compose.yaml runs it as the web (the default command), the workers (`retainful worker`) and the migrations
# (`retainful db upgrade`, a one-off before either starts). README, "Production".

# Build: the wheel, installed into /opt/retainful by the same script tests/test_package.py runs in CI.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY . .
RUN deploy/install.sh /src /opt/retainful python3 && rm -rf /opt/retainful/wheels

# Run: the virtualenv alone (no compiler, no source tree, no pip cache).
FROM python:3.11-slim
ENV PATH=/opt/retainful/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RETAINFUL_ENV=production \
    RETAINFUL_INSTANCE_PATH=/var/lib/retainful \
    GUNICORN_BIND=0.0.0.0:8000
RUN groupadd --system --gid 10001 retainful \
 && useradd --system --uid 10001 --gid retainful --home-dir /var/lib/retainful --create-home \
      --shell /usr/sbin/nologin retainful
COPY --from=build /opt/retainful /opt/retainful
USER retainful:retainful
WORKDIR /var/lib/retainful
EXPOSE 8000
# gunicorn stops gracefully on SIGTERM (docker stop), within GUNICORN_TIMEOUT.
STOPSIGNAL SIGTERM
CMD ["gunicorn", "-c", "python:retainful.gunicorn_conf", "retainful.wsgi:app"]
