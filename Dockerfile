# syntax=docker/dockerfile:1
# propwatch: one image for every service (gateway, maintenance, api, simulate, db upgrade).
#   docker build -t propwatch:0.1.0 .
#   docker run --rm -v "$PWD/examples/hexie-garden:/etc/propwatch/site:ro" propwatch:0.1.0 \
#     check-config --site /etc/propwatch/site/site.yaml
# The service is the command: `gateway|maintenance|api --site FILE`; settings are PROPWATCH_* env.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: a virtualenv with propwatch and its dependencies, compiled nowhere else -------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
WORKDIR /src
# Dependencies first, so a code change does not re-download them.
COPY pyproject.toml README.md ./
RUN /opt/venv/bin/pip install --upgrade pip setuptools wheel \
 && /opt/venv/bin/python -c "import tomllib; d = tomllib.load(open('pyproject.toml', 'rb'))['project']; open('/tmp/requirements.txt', 'w').write('\n'.join(d['dependencies'] + d['optional-dependencies']['postgres']))" \
 && /opt/venv/bin/pip install -r /tmp/requirements.txt
COPY propwatch ./propwatch
COPY gateway ./gateway
COPY maintenance ./maintenance
COPY api ./api
COPY simulators ./simulators
RUN /opt/venv/bin/pip install --no-deps . \
 && /opt/venv/bin/propwatch --help >/dev/null

# --- runtime: no compilers, no sources, an unprivileged user -------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="propwatch" \
      org.opencontainers.image.description="IoT facility monitoring and preventive maintenance for property management" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 propwatch \
 && useradd --system --uid 10001 --gid propwatch --home-dir /var/lib/propwatch \
      --shell /usr/sbin/nologin propwatch \
 && install -d -o propwatch -g propwatch -m 0750 /var/lib/propwatch \
 && install -d -m 0755 /etc/propwatch/site
COPY --from=build /opt/venv /opt/venv
COPY deploy/healthcheck.py /opt/propwatch/healthcheck.py
COPY examples/hexie-garden /etc/propwatch/site
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PROPWATCH_VAR_DIR=/var/lib/propwatch \
    PROPWATCH_API_HOST=0.0.0.0 \
    PROPWATCH_API_PORT=8000
USER 10001:10001
WORKDIR /var/lib/propwatch
VOLUME ["/var/lib/propwatch"]
EXPOSE 8000
# api: GET /healthz; gateway and maintenance: an established MQTT session (see the script).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "/opt/propwatch/healthcheck.py"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["propwatch"]
CMD ["api", "--site", "/etc/propwatch/site/site.yaml"]
