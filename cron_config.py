"""The periodic jobs, for ``rq cron cron_config --url $REDIS_URL`` (run exactly one)."""

from rq import cron

from app.jobs import register_schedule

register_schedule(cron.register)
