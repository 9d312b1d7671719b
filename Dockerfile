FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY helpdesk ./helpdesk
COPY tickets ./tickets
COPY channels_in ./channels_in
COPY kb ./kb
COPY reports ./reports
RUN pip install --no-cache-dir .
COPY . .
RUN SECRET_KEY=build-only DATABASE_URL=postgres://build@localhost/build REDIS_URL=redis://localhost:6379/0 \
    python manage.py collectstatic --noinput -v 0
RUN useradd --system --uid 1000 helpdesk && mkdir -p /app/var/media && chown -R helpdesk /app/var
USER helpdesk
EXPOSE 8000 2525
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "helpdesk.asgi:application"]
