# Image for the networked mode (docker-compose.yml). One image, one entry point: every
# process is an `s117` sub-command chosen by the compose service's `command`.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY register register
COPY mappings mappings
COPY fhir_profiles fhir_profiles
COPY adapter adapter
COPY queues queues
COPY bench bench
RUN pip install --no-cache-dir . && useradd --system s117
USER s117
ENTRYPOINT ["s117"]
