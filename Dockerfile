# One image for every abrecon service: the sandbox now, the worker and beat later.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY connectors ./connectors
COPY worker ./worker
RUN pip install --no-cache-dir . && useradd --create-home abrecon
USER abrecon
ENV ABRECON_DATA_DIR=/home/abrecon/data
EXPOSE 8000
CMD ["abrecon", "sandbox", "serve", "--host", "0.0.0.0", "--port", "8000"]
