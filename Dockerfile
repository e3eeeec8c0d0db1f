# One image for every abrecon service: the sandbox, the schema migration, the workers, beat and
# Flower (see docker-compose.yml). Flower is a monitoring tool, not a dependency of abrecon, so it
# is installed here rather than in pyproject.toml; so is psycopg's binary build, for PostgreSQL.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY connectors ./connectors
COPY worker ./worker
RUN pip install --no-cache-dir . "flower>=2.0,<3" "psycopg[binary]>=3.1,<4" \
 && useradd --create-home abrecon \
 && mkdir -p /home/abrecon/data \
 && chown abrecon:abrecon /home/abrecon/data
USER abrecon
# PDFs, exports and beat's schedule file; mount a volume here (docker-compose.yml does).
ENV ABRECON_DATA_DIR=/home/abrecon/data
EXPOSE 8000 5555
CMD ["abrecon", "sandbox", "serve", "--host", "0.0.0.0", "--port", "8000"]
