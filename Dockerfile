# The synthetic monitor: the runner with the journeys and their fixtures.
#   docker build -t synthetic-monitor .
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY runner/ ./runner/
COPY target_service/ ./target_service/
RUN pip install --no-cache-dir .
COPY conftest.py ./
COPY journeys/ ./journeys/
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin monitor
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["synthetic-monitor", "--host", "0.0.0.0", "--port", "8000"]
