# The demo service (acceptance_tests/app) served by c2cwsgiutils_run.
#   docker build -t c2cwsgiutils-demo . && docker run -p 8080:8080 c2cwsgiutils-demo
# Uses SQLite in /app/var unless SQLALCHEMY_URL is given (postgresql://user:password@host/db).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    XDG_RUNTIME_DIR=/tmp

WORKDIR /opt/c2cwsgiutils
COPY pyproject.toml setup.py README.md ./
COPY c2cwsgiutils ./c2cwsgiutils
RUN pip install ".[standard]"

COPY acceptance_tests/app /opt/c2cwsgiutils-demo
RUN pip install /opt/c2cwsgiutils-demo

WORKDIR /app
COPY acceptance_tests/app/production.ini /app/production.ini
RUN mkdir -p /app/var && chown nobody:nogroup /app/var
USER nobody

EXPOSE 8080
# /app/production.ini is c2cwsgiutils_run's default ini file (C2CWSGIUTILS_CONFIG changes it).
CMD ["c2cwsgiutils_run", "--bind", "0.0.0.0:8080", "--workers", "2", "--timeout", "90"]
