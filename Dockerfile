# CareRelay production image: multi-stage, non-root, gunicorn, health-checked.

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements/base.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install -r /tmp/requirements.txt

FROM python:3.11-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_ENV=production \
    CARERELAY_VAR_DIR=/app/var \
    STATIC_ROOT=/app/staticfiles
RUN useradd --system --create-home --uid 10001 carerelay
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=carerelay:carerelay . /app
# collectstatic needs settings to import; throwaway values only for this build step.
RUN SECRET_KEY=build-only-$(python -c "import secrets;print(secrets.token_urlsafe(50))") \
    PHI_MASTER_KEYS=$(python -c "import base64,os;print(base64.urlsafe_b64encode(os.urandom(32)).decode())") \
    ALLOWED_HOSTS=build DATABASE_URL=sqlite:////tmp/build.sqlite3 \
    python manage.py collectstatic --noinput \
    && mkdir -p /app/var && chown carerelay:carerelay /app/var
USER carerelay
EXPOSE 8000
# The probe sends a Host that ALLOWED_HOSTS accepts (config/healthcheck.py): a bare 127.0.0.1
# is answered 400 under a production ALLOWED_HOSTS.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-m", "config.healthcheck"]
# gthread workers and timeouts for slow 200 MB uploads: see config/gunicorn.py and the README.
CMD ["gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application"]
